//! Step 8: Twilio Verify. Builds the two requests the guard makes and reads their replies.
//!
//! `POST /v2/Services/{ServiceSid}/Verifications` (`To`, `Channel`, `RiskCheck=enable`,
//! `DeviceIp`, `Locale`) and `POST /v2/Services/{ServiceSid}/VerificationCheck` (`To`,
//! `Code`), form-encoded, with HTTP Basic auth. No I/O happens here: the caller sends
//! the [`Outbound`] through its [`crate::ports::Http`] and hands the [`Inbound`] back.
//!
//! Every failure becomes a contract [`Reason`] in [`map_error`]; the README's Twilio
//! table is this function in prose.

use crate::config::Config;
use crate::decision::{Reason, Scope};
use crate::ports::{HttpFault, Inbound, Outbound};
use crate::request::Channel;
use base64::Engine;
use serde::Deserialize;

/// What the guard needs of a created verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// `VE...`: logged, so an incident timeline can be joined with Twilio's own logs.
    pub sid: String,
}

/// The result of a code check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Twilio's status: `approved`, `pending`, `canceled`...
    pub status: String,
    pub valid: bool,
}

/// The request that asks Twilio to send a code.
pub fn send_request(config: &Config, e164: &str, channel: Channel, device_ip: &str, locale: Option<&str>) -> Outbound {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("To", e164);
    form.append_pair("Channel", channel.as_str());
    form.append_pair("RiskCheck", "enable");
    if !device_ip.is_empty() {
        form.append_pair("DeviceIp", device_ip);
    }
    if let Some(locale) = locale {
        form.append_pair("Locale", locale);
    }
    post(config, "Verifications", form.finish())
}

/// The request that asks Twilio whether `code` is right.
pub fn check_request(config: &Config, e164: &str, code: &str) -> Outbound {
    let body =
        form_urlencoded::Serializer::new(String::new()).append_pair("To", e164).append_pair("Code", code).finish();
    post(config, "VerificationCheck", body)
}

fn post(config: &Config, resource: &str, body: String) -> Outbound {
    let credentials = format!("{}:{}", config.twilio.username, config.twilio.password);
    let auth = base64::engine::general_purpose::STANDARD.encode(credentials);
    Outbound {
        method: "POST",
        url: format!("{}/v2/Services/{}/{resource}", config.twilio_base_url, config.twilio.service_sid),
        headers: vec![
            ("authorization", format!("Basic {auth}")),
            ("content-type", "application/x-www-form-urlencoded".to_owned()),
            ("accept", "application/json".to_owned()),
        ],
        body,
        timeout_ms: config.upstream_timeout_ms,
    }
}

/// Which call a reply belongs to: some codes mean different things on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Send,
    Check,
}

#[derive(Deserialize)]
struct Resource {
    sid: Option<String>,
    status: Option<String>,
    valid: Option<bool>,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
}

/// Reads the reply to [`send_request`].
pub fn read_send(reply: Result<Inbound, HttpFault>) -> Result<Sent, Reason> {
    let reply = reply.map_err(|fault| fault_reason(&fault))?;
    if reply.status != 201 && reply.status != 200 {
        return Err(map_error(Call::Send, &reply));
    }
    match serde_json::from_slice::<Resource>(&reply.body) {
        Ok(Resource { sid: Some(sid), .. }) => Ok(Sent { sid }),
        // A 2xx we cannot read may still have sent a code: report it, never resend.
        _ => Err(Reason::UpstreamError("Twilio answered with an unreadable verification".into())),
    }
}

/// Reads the reply to [`check_request`].
pub fn read_check(reply: Result<Inbound, HttpFault>) -> Result<Checked, Reason> {
    let reply = reply.map_err(|fault| fault_reason(&fault))?;
    if reply.status != 201 && reply.status != 200 {
        return Err(map_error(Call::Check, &reply));
    }
    match serde_json::from_slice::<Resource>(&reply.body) {
        Ok(Resource { status: Some(status), valid, .. }) => {
            Ok(Checked { valid: valid == Some(true) && status == "approved", status })
        }
        _ => Err(Reason::UpstreamError("Twilio answered with an unreadable verification check".into())),
    }
}

fn fault_reason(fault: &HttpFault) -> Reason {
    match fault {
        HttpFault::Timeout => Reason::UpstreamError("Twilio did not answer in time".into()),
        HttpFault::Network(_) => Reason::UpstreamError("Twilio could not be reached".into()),
    }
}

/// Maps a Twilio error reply to the contract. Unknown codes fail closed as
/// `upstream_error`.
pub fn map_error(call: Call, reply: &Inbound) -> Reason {
    let code = serde_json::from_slice::<TwilioError>(&reply.body).ok().and_then(|e| e.code);
    let retry_after_s =
        reply.retry_after.as_deref().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(60).clamp(1, 3600);
    match (call, code, reply.status) {
        (_, Some(60200), _) => Reason::InvalidPhone("Twilio refused the phone number as invalid".into()),
        (_, Some(21211 | 60033 | 21614), _) => {
            Reason::InvalidPhone("Twilio refused the phone number as invalid".into())
        }
        (Call::Check, Some(60202), _) => Reason::RateLimited { scope: Scope::Phone, retry_after_s: 600 },
        (Call::Send, Some(60203), _) => Reason::RateLimited { scope: Scope::Phone, retry_after_s: 600 },
        (_, Some(60202 | 60203 | 60212), _) => Reason::RateLimited { scope: Scope::Phone, retry_after_s: 600 },
        (_, Some(60410), _) => Reason::ProtectionEngaged("Twilio's fraud protection blocked this destination".into()),
        (_, Some(60605), _) => Reason::CountryNotAllowed { region: "this country".into() },
        (_, Some(60205 | 60208), _) => Reason::NumberTypeBlocked { kind: "this" },
        (_, Some(60223), _) => {
            Reason::ChannelNotAllowed("Twilio does not deliver on this channel for this service".into())
        }
        (Call::Check, Some(20404), _) | (Call::Check, None, 404) => {
            Reason::NotFound("no pending verification for this number (expired, already approved or never sent)".into())
        }
        (Call::Send, Some(20404), _) | (Call::Send, None, 404) => Reason::ConfigError {
            key: "TWILIO_VERIFY_SERVICE_SID",
            problem: "Twilio does not know this Verify service".into(),
        },
        (_, Some(20003), _) | (_, None, 401) => {
            Reason::ConfigError { key: "TWILIO_AUTH_TOKEN", problem: "Twilio refused the credentials".into() }
        }
        (_, Some(20429), _) | (_, None, 429) => Reason::RateLimited { scope: Scope::Global, retry_after_s },
        (_, _, 500..=599) => Reason::UpstreamError(format!("Twilio failed ({})", reply.status)),
        (_, Some(code), status) => {
            Reason::UpstreamError(format!("Twilio refused the request (error {code}, HTTP {status})"))
        }
        (_, None, status) => Reason::UpstreamError(format!("Twilio answered HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, code: Option<u32>) -> Inbound {
        let body = match code {
            Some(code) => format!(
                r#"{{"code":{code},"message":"m","more_info":"https://www.twilio.com/docs/errors/{code}","status":{status}}}"#
            ),
            None => "<html>Bad Gateway</html>".to_owned(),
        };
        Inbound { status, retry_after: None, body: body.into_bytes() }
    }

    /// The mapping table the README documents: (call, HTTP status, Twilio code) → (contract code, status).
    #[test]
    fn twilio_errors_map_to_the_contract() {
        use Call::*;
        let table: &[(Call, u16, Option<u32>, &str, u16)] = &[
            (Send, 400, Some(60200), "invalid_phone", 400),
            (Send, 400, Some(21211), "invalid_phone", 400),
            (Check, 429, Some(60202), "rate_limited", 429),
            (Send, 429, Some(60203), "rate_limited", 429),
            (Send, 429, Some(60212), "rate_limited", 429),
            (Send, 403, Some(60410), "protection_engaged", 503),
            (Send, 400, Some(60605), "country_not_allowed", 403),
            (Send, 400, Some(60205), "number_type_blocked", 403),
            (Send, 400, Some(60223), "channel_not_allowed", 403),
            (Check, 404, Some(20404), "not_found", 404),
            (Send, 404, Some(20404), "config_error", 500),
            (Send, 401, Some(20003), "config_error", 500),
            (Send, 429, Some(20429), "rate_limited", 429),
            (Send, 500, Some(20500), "upstream_error", 502),
            (Send, 503, None, "upstream_error", 502),
            (Check, 502, None, "upstream_error", 502),
            (Send, 400, Some(99999), "upstream_error", 502),
            (Send, 418, None, "upstream_error", 502),
        ];
        for (call, status, code, expected, expected_status) in table {
            let reason = map_error(*call, &reply(*status, *code));
            assert_eq!((reason.code(), reason.status()), (*expected, *expected_status), "{call:?} {status} {code:?}");
        }
    }

    #[test]
    fn global_rate_limit_honours_retry_after() {
        let mut r = reply(429, Some(20429));
        r.retry_after = Some("17".into());
        assert_eq!(map_error(Call::Send, &r).retry_after_s(), Some(17));
    }

    #[test]
    fn faults_fail_closed() {
        assert_eq!(read_send(Err(HttpFault::Timeout)).unwrap_err().code(), "upstream_error");
        assert_eq!(read_send(Err(HttpFault::Network("reset".into()))).unwrap_err().code(), "upstream_error");
        let garbled = Inbound { status: 201, retry_after: None, body: b"{\"sid\":".to_vec() };
        assert_eq!(read_send(Ok(garbled)).unwrap_err().code(), "upstream_error");
    }

    #[test]
    fn replies_are_read() {
        let sent = Inbound { status: 201, retry_after: None, body: br#"{"sid":"VE123","status":"pending"}"#.to_vec() };
        assert_eq!(read_send(Ok(sent)).unwrap().sid, "VE123");
        let approved =
            Inbound { status: 200, retry_after: None, body: br#"{"status":"approved","valid":true}"#.to_vec() };
        assert!(read_check(Ok(approved)).unwrap().valid);
        let wrong = Inbound { status: 200, retry_after: None, body: br#"{"status":"pending","valid":false}"#.to_vec() };
        assert_eq!(read_check(Ok(wrong)).unwrap(), Checked { status: "pending".into(), valid: false });
    }
}
