//! Step 1: parse and bound a request body.
//!
//! Bodies are JSON objects of at most [`MAX_BODY_BYTES`]. Fields are read one by one
//! from a `serde_json::Value` rather than derived, so that every refusal names the field
//! and what was expected, and never quotes what was sent (a phone number sent as the
//! wrong type must not come back in an error message).

use serde_json::{Map, Value};
use std::fmt;

/// The largest body the guard reads (8 KiB).
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// The longest Turnstile token siteverify accepts.
pub const MAX_TOKEN_CHARS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Call,
    Whatsapp,
}

impl Channel {
    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "sms" => Some(Channel::Sms),
            "call" => Some(Channel::Call),
            "whatsapp" => Some(Channel::Whatsapp),
            _ => None,
        }
    }

    /// The name in the public contract, which is also Twilio's `Channel` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "call",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/verifications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub phone: String,
    pub country: Option<String>,
    pub channel: Channel,
    /// Absent or empty tokens are kept as `None`: refusing them is the Turnstile step's
    /// job, so the answer is `captcha_failed` rather than a malformed request.
    pub turnstile_token: Option<String>,
    pub locale: Option<String>,
}

/// `POST /v1/verifications/check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    pub phone: String,
    pub country: Option<String>,
    pub code: String,
}

/// Why a body was refused: a sentence for the `detail` of an `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    TooLarge,
    NotJson,
    Malformed,
    NotAnObject,
    Missing(&'static str),
    WrongType { field: &'static str, expected: &'static str },
    Invalid { field: &'static str, why: &'static str },
    Unknown(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TooLarge => write!(f, "the body is larger than {MAX_BODY_BYTES} bytes"),
            RequestError::NotJson => f.write_str("the body must be JSON, sent with Content-Type: application/json"),
            RequestError::Malformed => f.write_str("the body is not valid JSON"),
            RequestError::NotAnObject => f.write_str("the body must be a JSON object"),
            RequestError::Missing(field) => write!(f, "`{field}` is required"),
            RequestError::WrongType { field, expected } => write!(f, "`{field}` must be {expected}"),
            RequestError::Invalid { field, why } => write!(f, "`{field}` {why}"),
            RequestError::Unknown(field) if field.is_empty() => {
                f.write_str("the body has a field the API does not know")
            }
            RequestError::Unknown(field) => write!(f, "unknown field `{field}`"),
        }
    }
}

/// Whether a `Content-Type` header announces JSON (`application/json`, any parameters).
pub fn is_json_content_type(value: Option<&str>) -> bool {
    value.and_then(|v| v.split(';').next()).is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses the body of `POST /v1/verifications`.
pub fn parse_send(body: &[u8]) -> Result<SendRequest, RequestError> {
    let mut fields = Fields::parse(body, &["phone", "country", "channel", "turnstile_token", "locale"])?;
    let phone = fields.required_str("phone")?;
    let country = fields.country()?;
    let channel = match fields.optional_str("channel")? {
        None => Channel::Sms,
        Some(name) => Channel::from_name(&name)
            .ok_or(RequestError::Invalid { field: "channel", why: "must be one of `sms`, `call`, `whatsapp`" })?,
    };
    let turnstile_token = fields.optional_str("turnstile_token")?.filter(|t| !t.is_empty());
    if turnstile_token.as_ref().is_some_and(|t| t.chars().count() > MAX_TOKEN_CHARS) {
        return Err(RequestError::Invalid { field: "turnstile_token", why: "is longer than 2048 characters" });
    }
    let locale = fields.optional_str("locale")?;
    if let Some(locale) = &locale {
        if !is_locale(locale) {
            return Err(RequestError::Invalid { field: "locale", why: "must be a language tag like `en` or `pt-BR`" });
        }
    }
    Ok(SendRequest { phone, country, channel, turnstile_token, locale })
}

/// Parses the body of `POST /v1/verifications/check`.
pub fn parse_check(body: &[u8]) -> Result<CheckRequest, RequestError> {
    let mut fields = Fields::parse(body, &["phone", "country", "code"])?;
    let phone = fields.required_str("phone")?;
    let country = fields.country()?;
    let code = fields.required_str("code")?;
    let ok = (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric());
    if !ok {
        return Err(RequestError::Invalid { field: "code", why: "must be 4 to 10 letters or digits" });
    }
    Ok(CheckRequest { phone, country, code })
}

/// `en`, `pt-BR`, `zh-HK`, `es-419`: what Twilio's `Locale` accepts, by shape.
fn is_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang = parts.next().unwrap_or("");
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let rest_ok = match (parts.next(), parts.next()) {
        (None, None) => true,
        (Some(region), None) => (2..=4).contains(&region.len()) && region.bytes().all(|b| b.is_ascii_alphanumeric()),
        _ => false,
    };
    lang_ok && rest_ok
}

/// The top-level members of a request object, consumed field by field.
struct Fields(Map<String, Value>);

impl Fields {
    fn parse(body: &[u8], known: &[&str]) -> Result<Fields, RequestError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(RequestError::TooLarge);
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| RequestError::Malformed)?;
        let Value::Object(map) = value else {
            return Err(RequestError::NotAnObject);
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            // A field name is echoed (clients need to see their typo) only if it is a plain
            // identifier: never anything that could be a number someone put in a key.
            let plain = unknown.len() <= 40
                && unknown.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && unknown.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                && unknown.chars().filter(char::is_ascii_digit).count() <= 3;
            return Err(RequestError::Unknown(if plain { unknown.clone() } else { String::new() }));
        }
        Ok(Fields(map))
    }

    fn optional_str(&mut self, field: &'static str) -> Result<Option<String>, RequestError> {
        match self.0.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(RequestError::WrongType { field, expected: "a string" }),
        }
    }

    fn required_str(&mut self, field: &'static str) -> Result<String, RequestError> {
        self.optional_str(field)?.ok_or(RequestError::Missing(field))
    }

    /// `country`: an ISO alpha-2 code, checked for shape here and for existence by the
    /// phone step (which answers `invalid_phone`).
    fn country(&mut self) -> Result<Option<String>, RequestError> {
        let country = self.optional_str("country")?.filter(|c| !c.is_empty());
        if country.as_ref().is_some_and(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
            return Err(RequestError::Invalid {
                field: "country",
                why: "must be an ISO 3166-1 alpha-2 code like `GB`",
            });
        }
        Ok(country)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_bodies() {
        let ok = parse_send(br#"{"phone":"+447700900958","channel":"call","turnstile_token":"t","locale":"pt-BR"}"#)
            .unwrap();
        assert_eq!(ok.channel, Channel::Call);
        assert_eq!(ok.locale.as_deref(), Some("pt-BR"));
        assert_eq!(parse_send(br#"{"phone":"1"}"#).unwrap().channel, Channel::Sms);
        assert_eq!(parse_send(br#"{"phone":"1","turnstile_token":""}"#).unwrap().turnstile_token, None);

        let refused: &[(&[u8], RequestError)] = &[
            (b"", RequestError::Malformed),
            (b"{", RequestError::Malformed),
            (b"[]", RequestError::NotAnObject),
            (b"\"+447700900958\"", RequestError::NotAnObject),
            (b"{}", RequestError::Missing("phone")),
            (br#"{"phone":447700900958}"#, RequestError::WrongType { field: "phone", expected: "a string" }),
            (
                br#"{"phone":"1","channel":"fax"}"#,
                RequestError::Invalid { field: "channel", why: "must be one of `sms`, `call`, `whatsapp`" },
            ),
            (
                br#"{"phone":"1","country":"GBR"}"#,
                RequestError::Invalid { field: "country", why: "must be an ISO 3166-1 alpha-2 code like `GB`" },
            ),
            (
                br#"{"phone":"1","locale":"english"}"#,
                RequestError::Invalid { field: "locale", why: "must be a language tag like `en` or `pt-BR`" },
            ),
            (br#"{"phone":"1","phone_number":"2"}"#, RequestError::Unknown("phone_number".into())),
            (br#"{"phone":"1","+447400123456":1}"#, RequestError::Unknown(String::new())),
            (br#"{"phone":"1","tel447400123456":1}"#, RequestError::Unknown(String::new())),
            (br#"{"phone":"1","<script>":1}"#, RequestError::Unknown(String::new())),
        ];
        for (body, expected) in refused {
            assert_eq!(&parse_send(body).unwrap_err(), expected, "{}", String::from_utf8_lossy(body));
        }
        let big = format!(r#"{{"phone":"{}"}}"#, "1".repeat(MAX_BODY_BYTES));
        assert_eq!(parse_send(big.as_bytes()).unwrap_err(), RequestError::TooLarge);
        let deep = "[".repeat(4_000);
        assert_eq!(parse_send(deep.as_bytes()).unwrap_err(), RequestError::Malformed);
    }

    #[test]
    fn check_bodies() {
        assert_eq!(parse_check(br#"{"phone":"+1","code":"123456"}"#).unwrap().code, "123456");
        for code in ["123", "12345678901", "12 34", "１２３４"] {
            let body = format!(r#"{{"phone":"+1","code":"{code}"}}"#);
            assert!(parse_check(body.as_bytes()).is_err(), "{code}");
        }
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type(Some("application/json")));
        assert!(is_json_content_type(Some("Application/JSON; charset=utf-8")));
        assert!(!is_json_content_type(Some("text/plain")));
        assert!(!is_json_content_type(Some("application/jsonx")));
        assert!(!is_json_content_type(None));
    }
}
