//! Step 7: Cloudflare Turnstile siteverify. Fails closed.
//!
//! The request carries `secret`, `response` (the token), `remoteip` and an
//! `idempotency_key` derived with the deployment's `HASH_KEY` from the token *and* the
//! request it protects (number and channel): a client that retries the same request
//! after a network error gets the same key and is not refused as a duplicate, while a
//! spent token replayed for any other number or channel still is.
//! The reply must say `success`, and if the policy names them, a matching `hostname`
//! and `action`.

use crate::config::Config;
use crate::decision::Reason;
use crate::ports::{HttpFault, Inbound, Outbound};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The siteverify request for `token`, presented to protect the request `binding`
/// names (e.g. `+447400123456 sms`).
pub fn verify_request(config: &Config, token: &str, binding: &str, remote_ip: &str) -> Outbound {
    let mut body = serde_json::json!({
        "secret": config.turnstile_secret,
        "response": token,
        "idempotency_key": idempotency_key(&config.hash_key, token, binding),
    });
    if !remote_ip.is_empty() {
        body["remoteip"] = serde_json::json!(remote_ip);
    }
    Outbound {
        method: "POST",
        url: format!("{}/turnstile/v0/siteverify", config.turnstile_base_url),
        headers: vec![("content-type", "application/json".to_owned())],
        body: body.to_string(),
        timeout_ms: config.upstream_timeout_ms,
    }
}

/// A UUID-shaped key, the same for the same token and request under the same `HASH_KEY`.
pub fn idempotency_key(hash_key: &str, token: &str, binding: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(hash_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"turnstile-idempotency\0");
    mac.update(binding.as_bytes());
    mac.update(b"\0");
    mac.update(token.as_bytes());
    let mut bytes: [u8; 16] = mac.finalize().into_bytes()[..16].try_into().expect("32-byte digest");
    // Version 4 and RFC 4122 variant bits, so strict validators accept it as a UUID.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[derive(Deserialize)]
struct Reply {
    success: bool,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

/// Reads the siteverify reply. `Ok` only for a token that passes every check.
pub fn read_verify(config: &Config, reply: Result<Inbound, HttpFault>) -> Result<(), Reason> {
    let reply = reply.map_err(|fault| {
        Reason::UpstreamError(match fault {
            HttpFault::Timeout => "Turnstile did not answer in time".to_owned(),
            HttpFault::Network(_) => "Turnstile could not be reached".to_owned(),
        })
    })?;
    if reply.status != 200 {
        return Err(Reason::UpstreamError(format!("Turnstile answered HTTP {}", reply.status)));
    }
    let reply: Reply = serde_json::from_slice(&reply.body)
        .map_err(|_| Reason::UpstreamError("Turnstile answered with an unreadable reply".into()))?;
    if !reply.success {
        return Err(error_reason(&reply.error_codes));
    }
    if !config.turnstile_hostnames.is_empty() {
        let hostname = reply.hostname.unwrap_or_default().to_ascii_lowercase();
        if !config.turnstile_hostnames.contains(&hostname) {
            return Err(Reason::CaptchaFailed("the captcha was solved on another site".into()));
        }
    }
    if let Some(expected) = &config.turnstile_action {
        if reply.action.as_deref() != Some(expected.as_str()) {
            return Err(Reason::CaptchaFailed("the captcha was solved for another action".into()));
        }
    }
    Ok(())
}

/// Maps siteverify's documented error codes. Our own mistakes (the secret, a malformed
/// request) are configuration or upstream problems, not the visitor's.
fn error_reason(codes: &[String]) -> Reason {
    let has = |code: &str| codes.iter().any(|c| c == code);
    if has("missing-input-secret") || has("invalid-input-secret") {
        Reason::ConfigError { key: "TURNSTILE_SECRET_KEY", problem: "Turnstile refused the secret key".into() }
    } else if has("timeout-or-duplicate") {
        Reason::CaptchaFailed("the captcha token has expired or was already used; solve the captcha again".into())
    } else if has("missing-input-response") || has("invalid-input-response") {
        Reason::CaptchaFailed("the captcha token is missing or invalid".into())
    } else if has("internal-error") {
        Reason::UpstreamError("Turnstile had an internal error".into())
    } else if has("bad-request") {
        Reason::UpstreamError("Turnstile refused the verification request".into())
    } else {
        Reason::CaptchaFailed("the captcha was not solved".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::config_with as config;

    fn reply(body: &str) -> Result<Inbound, HttpFault> {
        Ok(Inbound { status: 200, retry_after: None, body: body.as_bytes().to_vec() })
    }

    #[test]
    fn replies_map_to_outcomes() {
        let strict = config(&[("TURNSTILE_HOSTNAMES", "app.example.com"), ("TURNSTILE_ACTION", "signup")]);
        let open = config(&[]);
        let ok = r#"{"success":true,"hostname":"app.example.com","action":"signup","error-codes":[]}"#;
        let cases: &[(&Config, Result<Inbound, HttpFault>, &str)] = &[
            (&strict, reply(ok), "ok"),
            (&open, reply(r#"{"success":true,"hostname":"example.com","error-codes":[]}"#), "ok"),
            (&strict, reply(r#"{"success":true,"hostname":"evil.example","action":"signup"}"#), "captcha_failed"),
            (&strict, reply(r#"{"success":true,"hostname":"app.example.com","action":"login"}"#), "captcha_failed"),
            (&open, reply(r#"{"success":false,"error-codes":["invalid-input-response"]}"#), "captcha_failed"),
            (&open, reply(r#"{"success":false,"error-codes":["missing-input-response"]}"#), "captcha_failed"),
            (&open, reply(r#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#), "captcha_failed"),
            (&open, reply(r#"{"success":false,"error-codes":["invalid-input-secret"]}"#), "config_error"),
            (&open, reply(r#"{"success":false,"error-codes":["missing-input-secret"]}"#), "config_error"),
            (&open, reply(r#"{"success":false,"error-codes":["internal-error"]}"#), "upstream_error"),
            (&open, reply(r#"{"success":false,"error-codes":["bad-request"]}"#), "upstream_error"),
            (&open, reply("{not json"), "upstream_error"),
            (&open, Ok(Inbound { status: 500, retry_after: None, body: vec![] }), "upstream_error"),
            (&open, Err(HttpFault::Timeout), "upstream_error"),
            (&open, Err(HttpFault::Network("refused".into())), "upstream_error"),
        ];
        for (config, reply, expected) in cases {
            let got = read_verify(config, reply.clone()).map_or_else(|r| r.code(), |()| "ok");
            assert_eq!(got, *expected, "{reply:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_stable_uuids() {
        let a = idempotency_key("0123456789abcdef", "token-a", "+447400123456 sms");
        assert_eq!(a, idempotency_key("0123456789abcdef", "token-a", "+447400123456 sms"));
        assert_ne!(a, idempotency_key("0123456789abcdef", "token-b", "+447400123456 sms"));
        assert_ne!(a, idempotency_key("0123456789abcdef", "token-a", "+447400123457 sms"));
        assert_ne!(a, idempotency_key("0123456789abcdef", "token-a", "+447400123456 call"));
        assert_ne!(a, idempotency_key("another-key-of-16", "token-a", "+447400123456 sms"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn request_carries_every_field() {
        let out = verify_request(&config(&[]), "tok", "+447400123456 sms", "203.0.113.7");
        let body: serde_json::Value = serde_json::from_str(&out.body).unwrap();
        assert_eq!(body["response"], "tok");
        assert_eq!(body["remoteip"], "203.0.113.7");
        assert!(body["idempotency_key"].as_str().unwrap().len() == 36);
        assert!(out.url.ends_with("/turnstile/v0/siteverify"));
    }
}
