//! Criterion benches of the core, natively: what one decision costs before the wasm and
//! the platform add theirs. `cargo bench --bench core`.
//!
//! - `phone/parse_*`: the phone step on E.164 and national input (patterns warm).
//! - `decision/send`: a whole `POST /v1/verifications` through `guard::handle` with
//!   in-memory ports: parse, lists, policy, counters (check and reserve), Turnstile and
//!   Twilio stand-ins, the event. A fresh number each time, so nothing is rate limited.
//! - `decision/refused`: an invalid number, refused at the phone step.

use criterion::{criterion_group, criterion_main, Criterion};
use otp_guard::config::Config;
use otp_guard::counters::KvCounters;
use otp_guard::eventlog::MemoryLog;
use otp_guard::guard::{handle, Services};
use otp_guard::http::Incoming;
use otp_guard::phone::parse;
use otp_guard::policy::ClientNetwork;
use otp_guard::ports::memory::{block_on, ManualClock, MemoryStore};
use otp_guard::ports::{Http, HttpFault, Inbound, Outbound};
use std::hint::black_box;

/// Turnstile passes, Twilio sends.
struct Upstreams;

impl Http for Upstreams {
    async fn send(&self, request: Outbound) -> Result<Inbound, HttpFault> {
        let (status, body): (u16, &[u8]) = if request.url.ends_with("/siteverify") {
            (200, br#"{"success":true,"hostname":"bench","error-codes":[]}"#)
        } else {
            (201, br#"{"sid":"VEbench","status":"pending"}"#)
        };
        Ok(Inbound { status, retry_after: None, body: body.to_vec() })
    }
}

fn config() -> Config {
    let secrets = [
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", "bench"),
        ("TWILIO_VERIFY_SERVICE_SID", "VA00000000000000000000000000000000"),
        ("TURNSTILE_SECRET_KEY", "bench"),
        ("HASH_KEY", "bench-hash-key-0123456789"),
        ("LIMITS_GLOBAL", "100000000/1h"),
        ("COUNTRY_LIMITS", "*:100000000/1h"),
        ("LIMITS_IP", "100000000/1h"),
        ("LIMITS_SUBNET", "100000000/1h"),
        ("LIMITS_PREFIX", "100000000/1h"),
        ("SPEND_CAP_HOURLY_USD", "0"),
        ("SPEND_CAP_DAILY_USD", "0"),
        ("SPEND_CAP_COUNTRY_HOURLY_USD", "0"),
        ("SPEND_CAP_COUNTRY_DAILY_USD", "0"),
    ];
    Config::load(|k| secrets.iter().find(|(key, _)| *key == k).map(|(_, v)| (*v).to_owned())).expect("bench config")
}

fn request(phone: &str) -> Incoming {
    let body = format!(r#"{{"phone":"{phone}","turnstile_token":"bench"}}"#);
    Incoming {
        method: "POST".into(),
        path: "/v1/verifications".into(),
        content_type: Some("application/json".into()),
        body: Some(body.into_bytes()),
        client: ClientNetwork { ip: "203.0.113.7".into(), country: Some("GB".into()), asn: Some(2856) },
        request_id: "bench".into(),
        ..Incoming::default()
    }
}

fn phone(c: &mut Criterion) {
    let mut group = c.benchmark_group("phone");
    parse("+447400123456", None).expect("warm");
    group.bench_function("parse_e164", |b| b.iter(|| parse(black_box("+447400123456"), None)));
    group.bench_function("parse_national", |b| b.iter(|| parse(black_box("07400 123456"), Some("GB"))));
    group.bench_function("parse_invalid", |b| b.iter(|| parse(black_box("+999123456789"), None)));
    group.finish();
}

fn decision(c: &mut Criterion) {
    let config = config();
    let clock = ManualClock::at(1_767_225_600_000);
    let store = MemoryStore::default();
    let log = MemoryLog::default();
    let services =
        Services { clock: &clock, store: &store, http: &Upstreams, counters: KvCounters::new(&store), log: &log };
    let mut group = c.benchmark_group("decision");
    let mut n = 0u64;
    group.bench_function("send", |b| {
        b.iter(|| {
            n += 1;
            // A fresh number (and a moving clock) each time: no quota ever fills.
            clock.advance(10);
            let phone = format!("+4474{:08}", n % 100_000_000);
            let handled = block_on(handle(Ok(&config), &services, &request(&phone)));
            assert!(handled.response.status == 202 || handled.response.status == 400, "{}", handled.response.body);
            black_box(handled)
        })
    });
    group.bench_function("refused", |b| {
        b.iter(|| black_box(block_on(handle(Ok(&config), &services, &request("+999123456789")))))
    });
    group.finish();
}

criterion_group!(benches, phone, decision);
criterion_main!(benches);
