//! Outcomes: every refusal is a [`Reason`], and one exhaustive match turns a reason into
//! its contract code, HTTP status and title. This is the only place problem+json bodies
//! are made, so no internal detail reaches a client by another path.

use serde::Serialize;

/// Which counter a `rate_limited` answer is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Ip,
    Subnet,
    Phone,
    Prefix,
    Country,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::Subnet => "subnet",
            Scope::Phone => "phone",
            Scope::Prefix => "prefix",
            Scope::Country => "country",
            Scope::Global => "global",
        }
    }
}

/// The refusal codes monitor mode can turn into log lines (see [`Reason::is_policy`]): the refusals that describe traffic, as opposed to bad input, faults and configuration errors.
pub const POLICY_CODES: [&str; 8] = [
    "country_not_allowed",
    "number_type_blocked",
    "captcha_failed",
    "channel_not_allowed",
    "blocklisted",
    "ip_blocked",
    "rate_limited",
    "protection_engaged",
];

/// Why a request was not (or, in monitor mode, would not have been) served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    InvalidRequest(String),
    PayloadTooLarge,
    InvalidPhone(String),
    CountryNotAllowed { region: String },
    NumberTypeBlocked { kind: &'static str },
    CaptchaFailed(String),
    ChannelNotAllowed(String),
    Blocklisted,
    IpBlocked(String),
    RateLimited { scope: Scope, retry_after_s: u64 },
    ProtectionEngaged(String),
    // An automatic pumping block on the request's `scope` (`country`, `prefix` or
    // `network`): also `protection_engaged`, with the scope in the answer.
    Paused { scope: &'static str, detail: String },
    UpstreamError(String),
    NotFound(String),
    MethodNotAllowed { allow: &'static str },
    Unauthorized,
    ConfigError { key: &'static str, problem: String },
}

impl Reason {
    /// The stable, machine-readable code of the public contract.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::InvalidRequest(_) => "invalid_request",
            Reason::PayloadTooLarge => "payload_too_large",
            Reason::InvalidPhone(_) => "invalid_phone",
            Reason::CountryNotAllowed { .. } => "country_not_allowed",
            Reason::NumberTypeBlocked { .. } => "number_type_blocked",
            Reason::CaptchaFailed(_) => "captcha_failed",
            Reason::ChannelNotAllowed(_) => "channel_not_allowed",
            Reason::Blocklisted => "blocklisted",
            Reason::IpBlocked(_) => "ip_blocked",
            Reason::RateLimited { .. } => "rate_limited",
            Reason::ProtectionEngaged(_) | Reason::Paused { .. } => "protection_engaged",
            Reason::UpstreamError(_) => "upstream_error",
            Reason::NotFound(_) => "not_found",
            Reason::MethodNotAllowed { .. } => "method_not_allowed",
            Reason::Unauthorized => "unauthorized",
            Reason::ConfigError { .. } => "config_error",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Reason::InvalidRequest(_) | Reason::InvalidPhone(_) => 400,
            Reason::Unauthorized => 401,
            Reason::CountryNotAllowed { .. }
            | Reason::NumberTypeBlocked { .. }
            | Reason::CaptchaFailed(_)
            | Reason::ChannelNotAllowed(_)
            | Reason::Blocklisted
            | Reason::IpBlocked(_) => 403,
            Reason::NotFound(_) => 404,
            Reason::MethodNotAllowed { .. } => 405,
            Reason::PayloadTooLarge => 413,
            Reason::RateLimited { .. } => 429,
            Reason::ConfigError { .. } => 500,
            Reason::UpstreamError(_) => 502,
            Reason::ProtectionEngaged(_) | Reason::Paused { .. } => 503,
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Reason::InvalidRequest(_) => "Invalid request",
            Reason::PayloadTooLarge => "Request body too large",
            Reason::InvalidPhone(_) => "Invalid phone number",
            Reason::CountryNotAllowed { .. } => "Country not allowed",
            Reason::NumberTypeBlocked { .. } => "Number type not allowed",
            Reason::CaptchaFailed(_) => "Captcha failed",
            Reason::ChannelNotAllowed(_) => "Channel not allowed",
            Reason::Blocklisted => "Number blocked",
            Reason::IpBlocked(_) => "Network not allowed",
            Reason::RateLimited { .. } => "Too many requests",
            Reason::ProtectionEngaged(_) | Reason::Paused { .. } => "Fraud protection engaged",
            Reason::UpstreamError(_) => "Upstream service failed",
            Reason::NotFound(_) => "Not found",
            Reason::MethodNotAllowed { .. } => "Method not allowed",
            Reason::Unauthorized => "Unauthorized",
            Reason::ConfigError { .. } => "Configuration error",
        }
    }

    /// A sentence for the client. Never holds a phone number, token or secret value.
    pub fn detail(&self) -> String {
        match self {
            Reason::InvalidRequest(why)
            | Reason::InvalidPhone(why)
            | Reason::CaptchaFailed(why)
            | Reason::ChannelNotAllowed(why)
            | Reason::IpBlocked(why)
            | Reason::ProtectionEngaged(why)
            | Reason::Paused { detail: why, .. }
            | Reason::UpstreamError(why)
            | Reason::NotFound(why) => why.clone(),
            Reason::PayloadTooLarge => format!("the body is larger than {} bytes", crate::request::MAX_BODY_BYTES),
            Reason::CountryNotAllowed { region } => {
                format!("verifications to {region} numbers are not allowed on this channel")
            }
            Reason::NumberTypeBlocked { kind } => format!("{kind} numbers are not allowed on this channel"),
            Reason::Blocklisted => "this number is blocked".to_owned(),
            Reason::RateLimited { scope, retry_after_s } => {
                format!("too many verification requests ({} limit); retry in {retry_after_s} s", scope.as_str())
            }
            Reason::MethodNotAllowed { allow } => format!("use {allow}"),
            Reason::Unauthorized => "a valid bearer token is required".to_owned(),
            Reason::ConfigError { key, problem } => format!("{key}: {problem}"),
        }
    }

    /// Whether this is a policy refusal, which monitor mode logs and lets through. Bad
    /// input, faults and configuration errors are never policy: they stop the request
    /// in every mode.
    pub fn is_policy(&self) -> bool {
        POLICY_CODES.contains(&self.code())
    }

    /// Seconds after which a retry may succeed, for `Retry-After`.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            Reason::RateLimited { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// The RFC 9457 problem document.
    pub fn problem(&self) -> String {
        let code = self.code();
        let (scope, retry_after_s) = match self {
            Reason::RateLimited { scope, retry_after_s } => (Some(scope.as_str()), Some(*retry_after_s)),
            Reason::Paused { scope, .. } => (Some(*scope), None),
            _ => (None, None),
        };
        let problem = Problem {
            code,
            detail: self.detail(),
            retry_after_s,
            scope,
            status: self.status(),
            title: self.title(),
            kind: format!("urn:otp-guard:error:{code}"),
        };
        serde_json::to_string(&problem).unwrap_or_default()
    }
}

/// The problem document's fields, in the order they have always been written (sorted).
#[derive(Serialize)]
struct Problem<'a> {
    code: &'a str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    status: u16,
    title: &'a str,
    #[serde(rename = "type")]
    kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_contract_code_and_status() {
        let table: &[(Reason, &str, u16)] = &[
            (Reason::InvalidRequest("x".into()), "invalid_request", 400),
            (Reason::PayloadTooLarge, "payload_too_large", 413),
            (Reason::InvalidPhone("x".into()), "invalid_phone", 400),
            (Reason::CountryNotAllowed { region: "CG".into() }, "country_not_allowed", 403),
            (Reason::NumberTypeBlocked { kind: "premium_rate" }, "number_type_blocked", 403),
            (Reason::CaptchaFailed("x".into()), "captcha_failed", 403),
            (Reason::ChannelNotAllowed("x".into()), "channel_not_allowed", 403),
            (Reason::Blocklisted, "blocklisted", 403),
            (Reason::IpBlocked("x".into()), "ip_blocked", 403),
            (Reason::RateLimited { scope: Scope::Ip, retry_after_s: 3 }, "rate_limited", 429),
            (Reason::ProtectionEngaged("x".into()), "protection_engaged", 503),
            (Reason::Paused { scope: "network", detail: "x".into() }, "protection_engaged", 503),
            (Reason::UpstreamError("x".into()), "upstream_error", 502),
            (Reason::NotFound("x".into()), "not_found", 404),
            (Reason::MethodNotAllowed { allow: "POST" }, "method_not_allowed", 405),
            (Reason::Unauthorized, "unauthorized", 401),
            (Reason::ConfigError { key: "MODE", problem: "x".into() }, "config_error", 500),
        ];
        for (reason, code, status) in table {
            let problem: serde_json::Value = serde_json::from_str(&reason.problem()).unwrap();
            assert_eq!(problem["code"], *code);
            assert_eq!(problem["status"], *status);
            assert_eq!(problem["type"], format!("urn:otp-guard:error:{code}"));
        }
    }

    #[test]
    fn rate_limited_carries_scope_and_wait() {
        let problem = Reason::RateLimited { scope: Scope::Subnet, retry_after_s: 42 }.problem();
        assert_eq!(
            problem,
            r#"{"code":"rate_limited","detail":"too many verification requests (subnet limit); retry in 42 s","retry_after_s":42,"scope":"subnet","status":429,"title":"Too many requests","type":"urn:otp-guard:error:rate_limited"}"#,
            "the fields in their documented order"
        );
        let problem: serde_json::Value = serde_json::from_str(&problem).unwrap();
        assert_eq!(problem["scope"], "subnet");
        assert_eq!(problem["retry_after_s"], 42);
    }
}
