//! What each fuzz target checks, one function per target, each taking the raw input.
//!
//! libFuzzer calls these from `tests/fuzz/fuzz_targets/`; `cargo test` calls them on
//! every input saved under `tests/fuzz/regressions/<target>/` (the native test binary
//! includes this file by path, `tests/native/fuzz_regressions.rs`). A check panics when
//! an invariant fails: that is the crash both harnesses report.

use crate::rig::{config, Answer, Rig};
use otp_guard::config::Config;
use otp_guard::http::Incoming;
use otp_guard::phone::{self, Phone, PhoneError};
use otp_guard::policy::ClientNetwork;
use otp_guard::ports::memory::MemoryStore;
use otp_guard::ports::{HttpFault, Outbound};
use otp_guard::request::{self, Channel, RequestError, MAX_BODY_BYTES, MAX_TOKEN_CHARS};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

// ---------------------------------------------------------------------------------------
// `request`: the bodies of POST /v1/verifications and POST /v1/verifications/check.

/// Both body parsers on `data`: no panic, the refusal the contract names, and whatever
/// is accepted within the documented limits and stable when sent again.
pub fn request(data: &[u8]) {
    let too_large = data.len() > MAX_BODY_BYTES;
    let parsed: Option<Value> = if too_large { None } else { serde_json::from_slice(data).ok() };
    let object = match &parsed {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };

    match request::parse_send(data) {
        Ok(req) => {
            let map = object.expect("an accepted send body is a JSON object within the limit");
            check_send(&req, map);
        }
        Err(err) => check_refusal(&err, data, parsed.as_ref(), &SEND_FIELDS),
    }
    match request::parse_check(data) {
        Ok(req) => {
            let map = object.expect("an accepted check body is a JSON object within the limit");
            assert_only_known(map, &CHECK_FIELDS);
            assert_eq!(map.get("phone").and_then(Value::as_str), Some(req.phone.as_str()));
            assert_country(req.country.as_deref(), map);
            assert!((4..=10).contains(&req.code.len()), "code length {}", req.code.len());
            assert!(req.code.bytes().all(|b| b.is_ascii_alphanumeric()), "code {:?}", req.code);
            let again = json!({"phone": req.phone, "country": req.country, "code": req.code}).to_string();
            assert_eq!(request::parse_check(again.as_bytes()), resent(again.len(), &req), "a re-sent check body");
        }
        Err(err) => check_refusal(&err, data, parsed.as_ref(), &CHECK_FIELDS),
    }
    // The content-type test never panics, and says yes only to application/json.
    let text = String::from_utf8_lossy(data);
    if request::is_json_content_type(Some(&text)) {
        assert!(text.to_ascii_lowercase().contains("application/json"), "{text:?} taken for JSON");
    }
}

const SEND_FIELDS: [&str; 5] = ["phone", "country", "channel", "turnstile_token", "locale"];
const CHECK_FIELDS: [&str; 3] = ["phone", "country", "code"];

fn check_send(req: &request::SendRequest, map: &Map<String, Value>) {
    assert_only_known(map, &SEND_FIELDS);
    assert_eq!(map.get("phone").and_then(Value::as_str), Some(req.phone.as_str()));
    assert_country(req.country.as_deref(), map);
    let channel = map.get("channel").and_then(Value::as_str).map_or(Some(Channel::Sms), Channel::from_name);
    assert_eq!(channel, Some(req.channel));
    if let Some(token) = &req.turnstile_token {
        assert!(!token.is_empty() && token.chars().count() <= MAX_TOKEN_CHARS, "token of {} chars", token.len());
    }
    if let Some(locale) = &req.locale {
        assert!(is_language_tag(locale), "locale {locale:?} accepted");
    }
    let again = json!({
        "phone": req.phone, "country": req.country, "channel": req.channel.as_str(),
        "turnstile_token": req.turnstile_token, "locale": req.locale,
    })
    .to_string();
    assert_eq!(request::parse_send(again.as_bytes()), resent(again.len(), req), "a re-sent send body");
}

/// What an accepted request must give when sent again, re-encoded with every field: the
/// same request, unless the re-encoding (escapes, the absent fields as `null`) no longer
/// fits the limit.
fn resent<T: Clone>(len: usize, req: &T) -> Result<T, RequestError> {
    if len > MAX_BODY_BYTES {
        Err(RequestError::TooLarge)
    } else {
        Ok(req.clone())
    }
}

/// `en`, `pt-BR`, `es-419`: two or three lowercase letters, then at most one subtag of
/// two to four letters or digits (README, "The HTTP API").
fn is_language_tag(s: &str) -> bool {
    let (lang, region) = match s.split_once('-') {
        Some((lang, region)) => (lang, Some(region)),
        None => (s, None),
    };
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok = region.is_none_or(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    lang_ok && region_ok
}

fn assert_only_known(map: &Map<String, Value>, known: &[&str]) {
    assert!(map.keys().all(|k| known.contains(&k.as_str())), "accepted with an unknown field: {:?}", map.keys());
}

fn assert_country(country: Option<&str>, map: &Map<String, Value>) {
    if let Some(c) = country {
        assert!(c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()), "country {c:?} accepted");
        assert_eq!(map.get("country").and_then(Value::as_str), Some(c));
    }
}

/// A refusal is the one the contract gives for this body, and never quotes a value.
fn check_refusal(err: &RequestError, data: &[u8], parsed: Option<&Value>, known: &[&str]) {
    let too_large = data.len() > MAX_BODY_BYTES;
    assert_eq!(matches!(err, RequestError::TooLarge), too_large, "{err:?} for a body of {} bytes", data.len());
    if too_large {
        return;
    }
    assert_eq!(matches!(err, RequestError::Malformed), parsed.is_none(), "{err:?}: JSON is {parsed:?}");
    let is_object = matches!(parsed, Some(Value::Object(_)));
    assert_eq!(matches!(err, RequestError::NotAnObject), parsed.is_some() && !is_object, "{err:?}");
    assert!(!matches!(err, RequestError::NotJson), "the parsers do not read headers");
    let map = match parsed {
        Some(Value::Object(map)) => map,
        _ => return,
    };
    match err {
        RequestError::Missing(field) => {
            assert!(known.contains(field), "{field} is not a field");
            assert!(map.get(*field).is_none_or(Value::is_null), "{field} is there");
        }
        RequestError::WrongType { field, .. } => {
            let value = map.get(*field).unwrap_or_else(|| panic!("{field} refused but absent"));
            assert!(!value.is_string() && !value.is_null(), "{field} refused as a wrong type: {value}");
        }
        RequestError::Invalid { field, .. } => {
            assert!(map.get(*field).is_some_and(Value::is_string), "{field} refused as invalid but not a string");
        }
        RequestError::Unknown(name) => {
            assert!(map.keys().any(|k| !known.contains(&k.as_str())), "no unknown field in {:?}", map.keys());
            // Echoed only if a plain identifier: never something that could be a number.
            if !name.is_empty() {
                assert!(map.contains_key(name), "echoed {name:?}, which is not a key");
                let plain = name.len() <= 40
                    && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    && name.chars().filter(char::is_ascii_digit).count() <= 3;
                assert!(plain, "echoed a field name that is not a plain identifier: {name:?}");
            }
        }
        RequestError::TooLarge | RequestError::NotJson | RequestError::Malformed | RequestError::NotAnObject => {}
    }
}

// ---------------------------------------------------------------------------------------
// `phone`: `phone::parse` and `phone::parse_e164`.

/// `input` or `input<TAB>region` (the `otp-guard phone` CLI's line format, and the
/// phone table's first two columns): no panic, and every number accepted is a well-formed
/// E.164 number that reads back as itself.
pub fn phone(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (input, region) = match text.rsplit_once('\t') {
        Some((input, region)) => (input, Some(region)),
        None => (&*text, None),
    };
    let parsed = phone::parse(input, region);
    assert_eq!(parsed, phone::parse(input, region), "the same input parsed twice gave two answers");
    if input.chars().count() > phone::MAX_INPUT_CHARS {
        assert_eq!(parsed, Err(PhoneError::TooLong));
    }
    if let Ok(p) = &parsed {
        assert_phone(p);
        if let Some(region) = region {
            assert!(phone::region_id(region).is_some(), "accepted with the unknown region {region:?}");
        }
        // Letters and extensions are refused: only an optional `tel:` scheme. (U+30FC, the
        // katakana long-vowel mark, is a letter to Unicode and the dash of Japanese input.)
        let trimmed = input.trim();
        let rest = trimmed.get(..4).filter(|s| s.eq_ignore_ascii_case("tel:")).map_or(trimmed, |_| &trimmed[4..]);
        let letter = |c: char| c.is_alphabetic() && c != '\u{30FC}';
        assert!(!rest.chars().any(letter), "{input:?} has letters and was accepted as {}", p.e164);
    }
    for candidate in [input, &*text] {
        if let Ok(p) = phone::parse_e164(candidate) {
            assert_eq!(p.e164, candidate, "parse_e164 accepted a string that is not its own E.164 form");
            assert_phone(&p);
        }
    }
}

fn assert_phone(p: &Phone) {
    let digits = p.e164.strip_prefix('+').unwrap_or_else(|| panic!("{:?} does not start with +", p.e164));
    assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()), "{:?} is not + and digits", p.e164);
    assert!(p.e164.len() <= 16, "{:?} is longer than E.164 allows", p.e164);
    assert!(digits.starts_with(&p.calling_code.to_string()), "{:?} does not start with {}", p.e164, p.calling_code);
    let region_ok = p.region == "001" || (p.region.len() == 2 && p.region.bytes().all(|b| b.is_ascii_uppercase()));
    assert!(region_ok, "region {:?} of {:?}", p.region, p.e164);
    assert_eq!(phone::parse(&p.e164, None).as_ref(), Ok(p), "{} read back differently", p.e164);
    assert_eq!(phone::parse_e164(&p.e164).as_ref(), Ok(p), "{} read back differently as E.164", p.e164);
}

// ---------------------------------------------------------------------------------------
// `handle`: whole requests through `guard::handle`.

/// The contract's error codes and their statuses (README, "Error codes").
pub const CONTRACT: [(&str, u16); 16] = [
    ("invalid_request", 400),
    ("payload_too_large", 413),
    ("invalid_phone", 400),
    ("country_not_allowed", 403),
    ("number_type_blocked", 403),
    ("captcha_failed", 403),
    ("channel_not_allowed", 403),
    ("blocklisted", 403),
    ("ip_blocked", 403),
    ("rate_limited", 429),
    ("protection_engaged", 503),
    ("upstream_error", 502),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("unauthorized", 401),
    ("config_error", 500),
];

/// The deployments a scenario can run against (`x-config: <index>` on its first request).
struct Deployment {
    vars: &'static [(&'static str, &'static str)],
    /// Whether a few requests can legitimately engage pumping protection or a spend cap.
    protection_possible: bool,
    /// Whether a missing or failed captcha is only logged (then Twilio may be called
    /// without a Turnstile call before it).
    captcha_monitored: bool,
}

const DEPLOYMENTS: [Deployment; 5] = [
    Deployment { vars: &[], protection_possible: false, captcha_monitored: false },
    Deployment {
        vars: &[("MODE", "monitor"), ("DENIED_COUNTRIES_SMS", "GB"), ("LIMITS_IP", "1/1h")],
        protection_possible: false,
        captcha_monitored: true,
    },
    Deployment {
        vars: &[
            ("LIMITS_PHONE", "1/1h"),
            ("VOICE_GATE_MIN_DELAY_S", "0"),
            ("SPEND_CAP_HOURLY_USD", "0.12"),
            ("CHANNELS", "sms,call,whatsapp"),
            ("ALLOWED_ORIGINS", "*"),
        ],
        protection_possible: true,
        captcha_monitored: false,
    },
    Deployment {
        vars: &[
            ("DECISION_LOG", "console"),
            ("ALLOWED_COUNTRIES_SMS", "GB,US"),
            ("DENIED_ASNS", "16509"),
            ("ALLOWED_ORIGINS", "https://app.example.com"),
            ("MONITOR_RULES", "rate_limited"),
        ],
        protection_possible: false,
        captcha_monitored: false,
    },
    Deployment {
        vars: &[("PUMPING_MIN_SENDS", "1"), ("PUMPING_ALLOWANCE_MIN", "0"), ("VOICE_GATE_MIN_DELAY_S", "0")],
        protection_possible: true,
        captcha_monitored: false,
    },
];

thread_local! {
    /// Loaded once: a config load parses every var.
    static CONFIGS: Vec<Config> = DEPLOYMENTS.iter().map(|d| config(d.vars)).collect();
}

/// One request of a scenario, with how the fakes answer it.
struct Step {
    incoming: Incoming,
    turnstile: Answer,
    twilio: Answer,
    advance_ms: u64,
}

/// A scenario: up to eight HTTP-like requests separated by a line `---`.
///
/// ```text
/// POST /v1/verifications?query
/// content-type: application/json
/// x-fake-twilio: 400 {"code":60200}
///
/// {"phone":"+447400123456","turnstile_token":"XXXX.DUMMY.TOKEN.XXXX"}
/// ```
///
/// Read leniently, so that every input is some scenario: the first line is the method and
/// the target, then headers up to an empty line, then the body (bytes, not necessarily
/// UTF-8), each read as the edge reads it (`src/edge/mod.rs`). Headers the guard reads:
/// `content-type`, `authorization`, `origin`, `access-control-request-method`,
/// `content-length` (over the limit: the edge reads no body), `cf-connecting-ip` (an
/// address or nothing), `cf-ipcountry` and `cf-asn` (`request.cf`). The fakes:
/// `x-fake-turnstile` and `x-fake-twilio` (`ok`, `timeout`, `reset`, or a status and a
/// one-line body), `x-advance` (seconds on the clock before the request), and on the
/// first request `x-config` (a deployment, 0 to 4) and `x-store-fails-after` (store calls
/// that succeed).
struct Scenario {
    deployment: usize,
    store_fails_after: Option<u64>,
    steps: Vec<Step>,
}

fn split<'a>(data: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(separator.len()).position(|w| w == separator) {
        parts.push(&rest[..at]);
        rest = &rest[at + separator.len()..];
    }
    parts.push(rest);
    parts
}

fn answer(value: &str) -> Answer {
    match value {
        "ok" => Answer::Ok,
        "timeout" => Answer::Fault(HttpFault::Timeout),
        "reset" => Answer::Fault(HttpFault::Network("reset".into())),
        other => {
            let (status, body) = other.split_once(' ').unwrap_or((other, ""));
            Answer::Reply(status.parse().unwrap_or(500), body.as_bytes().to_vec())
        }
    }
}

impl Scenario {
    fn read(data: &[u8]) -> Scenario {
        let mut scenario = Scenario { deployment: 0, store_fails_after: None, steps: Vec::new() };
        for (i, chunk) in split(data, b"\n---\n").into_iter().take(8).enumerate() {
            let (head, body) = match chunk.windows(2).position(|w| w == b"\n\n") {
                Some(at) => (&chunk[..at], &chunk[at + 2..]),
                None => (chunk, &[][..]),
            };
            let head = String::from_utf8_lossy(head);
            let mut lines = head.lines();
            let first = lines.next().unwrap_or("");
            let (method, target) = first.split_once(' ').unwrap_or((first, ""));
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let mut step = Step {
                incoming: Incoming {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    body: Some(body.to_vec()),
                    client: ClientNetwork { ip: "203.0.113.7".into(), country: Some("GB".into()), asn: Some(2856) },
                    request_id: format!("fuzz-{i}"),
                    ..Incoming::default()
                },
                turnstile: Answer::Ok,
                twilio: Answer::Ok,
                advance_ms: 0,
            };
            for line in lines {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.trim();
                let incoming = &mut step.incoming;
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-type" => incoming.content_type = Some(value.to_owned()),
                    "authorization" => incoming.authorization = Some(value.to_owned()),
                    "origin" => incoming.origin = Some(value.to_owned()),
                    "access-control-request-method" => incoming.preflight_method = Some(value.to_owned()),
                    "content-length" if value.parse::<u64>().is_ok_and(|n| n > MAX_BODY_BYTES as u64) => {
                        incoming.body = None;
                    }
                    // As the edge reads it: an address, or an unknown client.
                    "cf-connecting-ip" => {
                        incoming.client.ip = value.parse::<IpAddr>().map(|ip| ip.to_string()).unwrap_or_default();
                    }
                    // `request.cf.country`: Cloudflare's two-character codes (`GB`, `T1`, `XX`).
                    "cf-ipcountry" => {
                        let code = value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphanumeric());
                        incoming.client.country = code.then(|| value.to_owned());
                    }
                    "cf-asn" => incoming.client.asn = value.parse().ok(),
                    "x-fake-turnstile" => step.turnstile = answer(value),
                    "x-fake-twilio" => step.twilio = answer(value),
                    "x-advance" => step.advance_ms = value.parse::<u64>().unwrap_or(0).min(30 * 86_400) * 1000,
                    "x-config" if i == 0 => scenario.deployment = value.parse().unwrap_or(0) % DEPLOYMENTS.len(),
                    "x-store-fails-after" if i == 0 => scenario.store_fails_after = value.parse().ok(),
                    _ => {}
                }
            }
            // As the edge reads bodies: only for POST, PUT and PATCH, and none at all
            // (`None`) past the limit.
            let incoming = &mut step.incoming;
            if !matches!(incoming.method.as_str(), "POST" | "PUT" | "PATCH") {
                incoming.body = Some(Vec::new());
            } else if incoming.body.as_ref().is_some_and(|b| b.len() > MAX_BODY_BYTES) {
                incoming.body = None;
            }
            scenario.steps.push(step);
        }
        scenario
    }
}

/// Every request of the scenario through `guard::handle`, each answer checked against
/// the contract: no panic; no 5xx but `502 upstream_error` when a fake failed and
/// `503 protection_engaged` when Twilio refused or protection can engage; every error a
/// problem+json with a contract code and status; no outside call for a request refused
/// as invalid; Twilio only after Turnstile said yes, at most once; no full number in a
/// response or a log line.
pub fn handle(data: &[u8]) {
    let scenario = Scenario::read(data);
    let deployment = &DEPLOYMENTS[scenario.deployment];
    let store = scenario.store_fails_after.map_or_else(MemoryStore::default, MemoryStore::fail_after);
    let rig = CONFIGS.with(|configs| Rig::with_config(configs[scenario.deployment].clone(), store));
    for step in scenario.steps {
        rig.clock.advance(step.advance_ms);
        *rig.http.turnstile.borrow_mut() = step.turnstile.clone();
        *rig.http.twilio.borrow_mut() = step.twilio.clone();
        let before = rig.http.calls.borrow().len();
        let handled = rig.handle(&step.incoming);
        let calls: Vec<Outbound> = rig.http.calls.borrow()[before..].to_vec();
        let out = &handled.response;
        let context =
            || format!("{} {} answered {} {}", step.incoming.method, step.incoming.path, out.status, out.body);

        let siteverify = calls.iter().filter(|c| c.url.contains("siteverify")).count();
        let twilio: Vec<&Outbound> = calls.iter().filter(|c| !c.url.contains("siteverify")).collect();
        let sends = twilio.iter().filter(|c| c.url.ends_with("/Verifications")).count();
        assert!(
            siteverify <= 1 && twilio.len() <= 1,
            "{} calls to Turnstile, {} to Twilio: {}",
            siteverify,
            twilio.len(),
            context()
        );
        if sends == 1 && !deployment.captcha_monitored {
            assert_eq!(siteverify, 1, "Twilio asked to send without a captcha check: {}", context());
        }

        // The answer's shape.
        let code = if out.status >= 400 {
            check_problem(out, &context)
        } else {
            assert!(matches!(out.status, 200 | 202 | 204), "status {} outside the contract: {}", out.status, context());
            assert_ne!(out.header("content-type"), Some("application/problem+json"), "{}", context());
            ""
        };
        if out.status == 202 {
            assert_eq!(sends, 1, "202 without a Twilio send: {}", context());
        }

        // 5xx only from a failing fake, or protection that can engage. Twilio's own
        // answers can also be a 500 `config_error` (20003/401: the credentials; 20404 on a
        // send: the service SID), as the contract's Twilio table says.
        let twilio_refused = !twilio.is_empty() && !matches!(step.twilio, Answer::Ok);
        let fake_failed = (siteverify == 1 && !matches!(step.turnstile, Answer::Ok))
            || twilio_refused
            || scenario.store_fails_after.is_some();
        match code {
            "upstream_error" => assert!(fake_failed, "502 with every fake answering: {}", context()),
            "protection_engaged" => assert!(
                deployment.protection_possible || twilio_refused,
                "503 that nothing here can cause: {}",
                context()
            ),
            "config_error" => assert!(twilio_refused, "config_error with a valid config: {}", context()),
            _ => {}
        }

        // Refused as invalid: nothing called.
        if matches!(code, "invalid_request" | "payload_too_large" | "method_not_allowed" | "unauthorized") {
            assert!(calls.is_empty(), "{} outside calls for a request refused as {code}: {}", calls.len(), context());
        }
        let route = match (step.incoming.method.as_str(), step.incoming.path.as_str()) {
            ("POST", "/v1/verifications") => Some(true),
            ("POST", "/v1/verifications/check") => Some(false),
            _ => None,
        };
        let mut number = None;
        if let Some(is_send) = route {
            let body = step.incoming.body.as_deref();
            let phone_field = match body {
                _ if !request::is_json_content_type(step.incoming.content_type.as_deref()) => None,
                Some(body) if is_send => request::parse_send(body).ok().map(|r| (r.phone, r.country)),
                Some(body) => request::parse_check(body).ok().map(|r| (r.phone, r.country)),
                None => None,
            };
            number = phone_field.and_then(|(p, c)| phone::parse(&p, c.as_deref()).ok());
            if number.is_none() {
                assert!(calls.is_empty(), "an invalid request reached {}: {}", calls[0].url, context());
            }
        } else {
            assert!(calls.is_empty(), "{} outside calls from a route that makes none: {}", calls.len(), context());
        }
        if code == "invalid_phone" && !calls.is_empty() {
            assert!(!matches!(step.twilio, Answer::Ok), "invalid_phone after a call Twilio answered: {}", context());
        }

        // A number leaves the guard only masked.
        if let Some(p) = &number {
            let national = &p.e164[1 + p.calling_code.to_string().len()..];
            assert!(!out.body.contains(national), "the response holds the number {}: {}", p.e164, context());
            for event in &handled.events {
                let line = event.to_json();
                assert!(!line.contains(national), "a log line holds the number: {line}");
            }
        }
    }
}

/// A problem+json answer: checks it and returns its code.
fn check_problem(out: &otp_guard::http::Outgoing, context: &dyn Fn() -> String) -> &'static str {
    assert_eq!(out.header("content-type"), Some("application/problem+json"), "{}", context());
    let body: Value = serde_json::from_str(&out.body).unwrap_or_else(|_| panic!("not JSON: {}", context()));
    let code = body["code"].as_str().unwrap_or_else(|| panic!("no code: {}", context()));
    let &(code, status) = CONTRACT
        .iter()
        .find(|(c, _)| *c == code)
        .unwrap_or_else(|| panic!("{code} is not a contract code: {}", context()));
    assert_eq!(out.status, status, "{code} with the wrong status: {}", context());
    assert_eq!(body["status"], json!(status), "{}", context());
    assert_eq!(body["type"], json!(format!("urn:otp-guard:error:{code}")), "{}", context());
    assert!(body["title"].is_string() && body["detail"].is_string(), "{}", context());
    match code {
        "rate_limited" => {
            let wait = body["retry_after_s"].as_u64().unwrap_or_else(|| panic!("no retry_after_s: {}", context()));
            assert_eq!(out.header("retry-after"), Some(wait.to_string().as_str()), "{}", context());
            let scopes = ["ip", "subnet", "phone", "prefix", "country", "global"];
            assert!(body["scope"].as_str().is_some_and(|s| scopes.contains(&s)), "{}", context());
        }
        "method_not_allowed" => assert!(out.header("allow").is_some(), "405 without Allow: {}", context()),
        "unauthorized" => assert!(out.header("www-authenticate").is_some(), "401 without a challenge: {}", context()),
        _ => {}
    }
    code
}
