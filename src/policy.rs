//! Step 4: the static policy. Is this channel offered, may this country be reached on it,
//! may this type of number, and may this client network ask at all?
//!
//! These checks cost nothing and need no state, so they run before any counter is read
//! or any network call is made.

use crate::config::Config;
use crate::decision::Reason;
use crate::phone::Phone;
use crate::request::Channel;

/// What Cloudflare tells us about the client (`request.cf`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientNetwork {
    /// The client's IP address as the edge saw it (`CF-Connecting-IP`).
    pub ip: String,
    /// ISO alpha-2 country of the IP (`T1` for Tor), when known.
    pub country: Option<String>,
    /// Autonomous system number of the IP, when known.
    pub asn: Option<u32>,
}

/// Whether `channel` may be used to reach `phone`.
pub fn check_destination(config: &Config, channel: Channel, phone: &Phone) -> Result<(), Reason> {
    let policy = config.channel(channel);
    if !policy.enabled {
        return Err(Reason::ChannelNotAllowed(format!("the {channel} channel is not offered")));
    }
    if policy.denied_countries.contains(&phone.region) || !policy.allowed_countries.contains(&phone.region) {
        return Err(Reason::CountryNotAllowed { region: phone.region.clone() });
    }
    if !policy.allowed_types.contains(&phone.kind) {
        return Err(Reason::NumberTypeBlocked { kind: phone.kind.as_str() });
    }
    Ok(())
}

/// Whether the client's network may ask for a code.
pub fn check_network(config: &Config, client: &ClientNetwork) -> Result<(), Reason> {
    if let Some(country) = &client.country {
        if config.denied_ip_countries.contains(&country.to_ascii_uppercase()) {
            return Err(Reason::IpBlocked(format!("requests from {country} networks are not accepted")));
        }
    }
    if let Some(asn) = client.asn {
        if config.denied_asns.contains(&asn) {
            return Err(Reason::IpBlocked(format!("requests from AS{asn} are not accepted")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::config_with as config;
    use crate::phone::parse;

    /// One row: policy vars, channel, number, expected code (or "ok").
    fn check(vars: &[(&str, &str)], channel: Channel, number: &str, expected: &str) {
        let phone = parse(number, None).unwrap();
        let got = match check_destination(&config(vars), channel, &phone) {
            Ok(()) => "ok",
            Err(reason) => reason.code(),
        };
        assert_eq!(got, expected, "{vars:?} {channel} {number}");
    }

    #[test]
    fn destination_policy() {
        use Channel::*;
        let gb_mobile = "+447400123456";
        let gb_fixed = "+442079460958";
        let gb_premium = "+449098765432";
        let us = "+12015550123";
        let cg_mobile = "+242061234567";
        check(&[], Sms, gb_mobile, "ok");
        check(&[], Sms, us, "ok");
        check(&[], Sms, gb_fixed, "number_type_blocked");
        check(&[], Call, gb_fixed, "ok");
        check(&[], Sms, gb_premium, "number_type_blocked");
        check(&[], Call, gb_premium, "number_type_blocked");
        check(&[], Whatsapp, gb_mobile, "channel_not_allowed");
        check(&[("CHANNELS", "sms,whatsapp")], Whatsapp, gb_mobile, "ok");
        check(&[("CHANNELS", "sms")], Call, gb_fixed, "channel_not_allowed");
        check(&[("ALLOWED_COUNTRIES_SMS", "GB,FR")], Sms, gb_mobile, "ok");
        check(&[("ALLOWED_COUNTRIES_SMS", "GB,FR")], Sms, us, "country_not_allowed");
        check(&[("ALLOWED_COUNTRIES_SMS", "GB,FR")], Call, us, "ok");
        check(&[("DENIED_COUNTRIES_SMS", "CG")], Sms, cg_mobile, "country_not_allowed");
        check(&[("DENIED_COUNTRIES_SMS", "CG")], Call, cg_mobile, "ok");
        check(
            &[("ALLOWED_COUNTRIES_CALL", "CG"), ("DENIED_COUNTRIES_CALL", "CG")],
            Call,
            cg_mobile,
            "country_not_allowed",
        );
        check(&[("ALLOWED_TYPES_SMS", "mobile,fixed_line")], Sms, gb_fixed, "ok");
        check(&[("ALLOWED_TYPES_SMS", "mobile")], Sms, us, "number_type_blocked");
    }

    #[test]
    fn network_policy() {
        let config = config(&[("DENIED_IP_COUNTRIES", "T1,ru"), ("DENIED_ASNS", "16509")]);
        let client = |country: Option<&str>, asn: Option<u32>| ClientNetwork {
            ip: "203.0.113.7".into(),
            country: country.map(str::to_owned),
            asn,
        };
        assert!(check_network(&config, &client(Some("GB"), Some(2856))).is_ok());
        assert!(check_network(&config, &client(None, None)).is_ok());
        assert_eq!(check_network(&config, &client(Some("T1"), None)).unwrap_err().code(), "ip_blocked");
        assert_eq!(check_network(&config, &client(Some("RU"), None)).unwrap_err().code(), "ip_blocked");
        assert_eq!(check_network(&config, &client(Some("GB"), Some(16509))).unwrap_err().code(), "ip_blocked");
    }
}
