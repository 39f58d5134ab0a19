//! The whole pipeline natively: `guard::handle` with a manual clock, an in-memory store and
//! scripted Twilio/Turnstile fakes, including failing ones. What the workerd tests show
//! end to end, shown here exhaustively and fast.

use crate::rig::{Answer, Answered, Rig, TOKEN};
use futures_executor::block_on;
use otp_guard::event::Event;
use otp_guard::guard::handle;
use otp_guard::http::Incoming;
use otp_guard::policy::ClientNetwork;
use otp_guard::ports::memory::MemoryStore;
use otp_guard::ports::HttpFault;
use otp_guard::pumping::Trigger;
use serde_json::{json, Value};

const GB: &str = "+447400123456";

fn code(a: &Answered) -> String {
    a.body["code"].as_str().map_or_else(|| a.status.to_string(), str::to_owned)
}

#[test]
fn a_send_goes_through_every_step_once() {
    let rig = Rig::new(&[]);
    let a = rig.send(GB);
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["to"], "+44******3456");
    assert_eq!(rig.http.count("siteverify"), 1);
    assert_eq!(rig.http.count("/Verifications"), 1);
    let twilio = rig.http.calls.borrow()[1].body.clone();
    assert!(twilio.contains("RiskCheck=enable") && twilio.contains("Channel=sms"), "{twilio}");
    let e = rig.last_event();
    assert_eq!((e.decision, e.reason, e.status), ("allow", "ok", 202));
    assert!(e.twilio_sid.is_some());

    let check = rig.request(
        "POST",
        "/v1/verifications/check",
        Some(json!({"phone": GB, "code": "123456"})),
        "203.0.113.7",
        None,
    );
    assert_eq!(check.body, json!({"status": "approved", "valid": true}));
}

/// The rig's last decision says `reason` and `detail`, and is in the decision log (as the
/// edge writes it) with the same reason, detail and id.
fn logged(rig: &Rig, reason: &str, detail: &str) {
    let e = rig.last_event();
    assert_eq!((e.reason, e.detail.as_deref()), (reason, Some(detail)));
    let rows = rig.log.0.borrow();
    let row = rows.last().expect("the decision is in the log");
    assert_eq!(
        (row.reason.as_str(), row.detail.as_deref(), row.event_id.clone()),
        (reason, Some(detail), Some(otp_guard::eventlog::event_id(&e)))
    );
}

#[test]
fn store_faults_fail_closed_before_any_call() {
    const DOWN: &str = "the counter store is unavailable; nothing was sent";
    // Every store call fails: the list lookup is the first.
    let rig = Rig::with_store(&[], MemoryStore::failing());
    let a = rig.send(GB);
    assert_eq!((a.status, code(&a).as_str()), (502, "upstream_error"));
    assert!(rig.http.calls.borrow().is_empty(), "nothing may be called when the store is down");
    logged(&rig, "upstream_error", DOWN);

    // Reads work, the reservation's write fails: still no send, and nothing counted.
    let rig = Rig::with_store(&[], MemoryStore::fail_after(3));
    let a = rig.send(GB);
    assert_eq!((a.status, code(&a).as_str()), (502, "upstream_error"));
    assert_eq!(rig.http.count("/Verifications"), 0);
    assert!(rig.store.snapshot().keys().all(|k| !k.starts_with("n:") && !k.starts_with("gate:")));
    logged(&rig, "upstream_error", DOWN);
}

#[test]
fn turnstile_faults_fail_closed() {
    let cases = [
        (Answer::Fault(HttpFault::Timeout), 502, "upstream_error", "Turnstile did not answer in time"),
        (Answer::Fault(HttpFault::Network("reset".into())), 502, "upstream_error", "Turnstile could not be reached"),
        (Answer::Status(500, ""), 502, "upstream_error", "Turnstile answered HTTP 500"),
        (Answer::Status(200, "{not json"), 502, "upstream_error", "Turnstile answered with an unreadable reply"),
        (
            Answer::Status(200, r#"{"success":false,"error-codes":["invalid-input-response"]}"#),
            403,
            "captcha_failed",
            "the captcha token is missing or invalid",
        ),
        (
            Answer::Status(200, r#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#),
            403,
            "captcha_failed",
            "the captcha token has expired or was already used; solve the captcha again",
        ),
    ];
    for (answer, status, expected, detail) in cases {
        let rig = Rig::new(&[("LIMITS_PHONE", "1/1h")]);
        *rig.http.turnstile.borrow_mut() = answer.clone();
        let a = rig.send(GB);
        assert_eq!((a.status, code(&a).as_str()), (status, expected), "{answer:?}");
        assert_eq!(rig.http.count("/Verifications"), 0, "{answer:?}: Twilio must not be called");
        assert!(rig.store.snapshot().keys().all(|k| !k.starts_with("n:")), "{answer:?}: nothing counted");
        logged(&rig, expected, detail);
        // No state lost: with Turnstile back, the number's one send an hour goes, as its first.
        *rig.http.turnstile.borrow_mut() = Answer::Ok;
        let a = rig.send(GB);
        assert_eq!((a.status, &a.body["sms_attempts"]), (202, &json!(1)), "{answer:?}");
        assert_eq!(code(&rig.send(GB)), "rate_limited", "{answer:?}: and the quota holds");
    }
}

#[test]
fn twilio_faults_send_once_and_give_the_reservation_back() {
    let cases = [
        (Answer::Fault(HttpFault::Timeout), 502, "upstream_error", "Twilio did not answer in time"),
        (Answer::Fault(HttpFault::Network("refused".into())), 502, "upstream_error", "Twilio could not be reached"),
        (Answer::Status(503, "<html>"), 502, "upstream_error", "Twilio failed (503)"),
        (Answer::Status(201, "{\"sid\":"), 502, "upstream_error", "Twilio answered with an unreadable verification"),
        (
            Answer::Status(429, r#"{"code":20429,"status":429}"#),
            429,
            "rate_limited",
            "too many verification requests (global limit); retry in 7 s",
        ),
        (
            Answer::Status(400, r#"{"code":60200,"status":400}"#),
            400,
            "invalid_phone",
            "Twilio refused the phone number as invalid",
        ),
        (
            Answer::Status(403, r#"{"code":60410,"status":403}"#),
            503,
            "protection_engaged",
            "Twilio's fraud protection blocked this destination",
        ),
    ];
    for (answer, status, expected, detail) in cases {
        let rig = Rig::new(&[("LIMITS_PHONE", "1/1h")]);
        *rig.http.twilio.borrow_mut() = answer.clone();
        let a = rig.send(GB);
        assert_eq!((a.status, code(&a).as_str()), (status, expected), "{answer:?}");
        assert_eq!(rig.http.count("/Verifications"), 1, "{answer:?}: exactly one send attempt");
        assert!(rig.store.snapshot().keys().all(|k| !k.starts_with("n:") && !k.starts_with("gate:")), "{answer:?}");
        logged(&rig, expected, detail);
        // The number's budget is intact: with Twilio back, the send goes, as the first.
        *rig.http.twilio.borrow_mut() = Answer::Ok;
        rig.clock.advance(1000);
        let a = rig.send(GB);
        assert_eq!((a.status, &a.body["sms_attempts"]), (202, &json!(1)), "{answer:?}");
        // Counted once: the quota of one send an hour is now full.
        rig.clock.advance(1000);
        assert_eq!(code(&rig.send(GB)), "rate_limited", "{answer:?}");
    }
}

#[test]
fn every_scope_reports_itself() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("LIMITS_IP", "2/1h")], "ip"),
        (&[("LIMITS_SUBNET", "2/1h")], "subnet"),
        (&[("LIMITS_PREFIX", "2/1h")], "prefix"),
        (&[("COUNTRY_LIMITS", "GB:2/1h;*:100/1h")], "country"),
        (&[("LIMITS_GLOBAL", "2/1h")], "global"),
    ];
    for (vars, scope) in cases {
        let rig = Rig::new(vars);
        // Distinct numbers in one prefix, from neighbouring IPs, so only the scope under test fills.
        let numbers = ["+447400123401", "+447400123402", "+447400123403"];
        let ips = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
        let same_ip = *scope == "ip";
        for i in 0..2 {
            let ip = if same_ip { ips[0] } else { ips[i] };
            let a = rig.send_from(ip, json!({"phone": numbers[i], "turnstile_token": TOKEN}));
            assert_eq!(a.status, 202, "{scope}: {}", a.body);
        }
        let ip = if same_ip { ips[0] } else { ips[2] };
        let a = rig.send_from(ip, json!({"phone": numbers[2], "turnstile_token": TOKEN}));
        assert_eq!((a.status, a.body["scope"].as_str()), (429, Some(*scope)), "{}", a.body);
        let wait = a.body["retry_after_s"].as_u64().unwrap();
        assert_eq!(a.headers.iter().find(|(k, _)| *k == "retry-after").unwrap().1, wait.to_string());
        // The wait is exact: refused a second early, admitted on time.
        rig.clock.advance(wait * 1000 - 1000);
        assert_eq!(rig.send_from(ip, json!({"phone": numbers[2], "turnstile_token": TOKEN})).status, 429, "{scope}");
        rig.clock.advance(1000);
        assert_eq!(rig.send_from(ip, json!({"phone": numbers[2], "turnstile_token": TOKEN})).status, 202, "{scope}");
    }
}

#[test]
fn the_phone_scope_and_risky_networks() {
    let rig = Rig::new(&[("LIMITS_PHONE", "2/1h"), ("VOICE_GATE_MIN_DELAY_S", "0")]);
    assert_eq!(rig.send(GB).status, 202);
    assert_eq!(rig.send(GB).status, 202);
    let a = rig.send(GB);
    assert_eq!((a.status, a.body["scope"].as_str()), (429, Some("phone")));

    // A cloud network gets the tight quota: 3 per hour by default.
    let rig = Rig::new(&[]);
    let cloud = |phone: &str| {
        let client = ClientNetwork { ip: "52.95.110.1".into(), country: Some("US".into()), asn: Some(16509) };
        rig.send_as(client, json!({"phone": phone, "turnstile_token": TOKEN})).status
    };
    let statuses: Vec<u16> = (0..4).map(|i| cloud(&format!("+44740012340{i}"))).collect();
    assert_eq!(statuses, [202, 202, 202, 429]);
}

#[test]
fn a_bot_without_a_valid_token_cannot_spend_a_users_budget() {
    let rig = Rig::new(&[("LIMITS_PHONE", "2/1h")]);
    *rig.http.turnstile.borrow_mut() =
        Answer::Status(200, r#"{"success":false,"error-codes":["invalid-input-response"]}"#);
    for i in 0..50 {
        let a = rig.send_from(&format!("198.51.{i}.9"), json!({"phone": GB, "turnstile_token": "forged"}));
        assert_eq!(code(&a), "captcha_failed");
    }
    *rig.http.turnstile.borrow_mut() = Answer::Ok;
    assert_eq!(rig.send(GB).status, 202, "the real user still gets a code");
}

#[test]
fn the_voice_gate_through_the_pipeline() {
    let rig = Rig::new(&[("VOICE_GATE_MIN_DELAY_S", "30")]);
    let call =
        |rig: &Rig| rig.send_from("203.0.113.7", json!({"phone": GB, "channel": "call", "turnstile_token": TOKEN}));
    assert_eq!(code(&call(&rig)), "channel_not_allowed");
    let waits = [30, 60, 120];
    for (i, wait) in waits.iter().enumerate() {
        let a = rig.send(GB);
        assert_eq!(a.status, 202, "sms {i}: {}", a.body);
        assert_eq!(a.body["sms_attempts"], i as u64 + 1);
        assert_eq!(a.body["retry_after_s"], *wait);
        assert_eq!(a.body["call_available"], i == 2);
        if i < 2 {
            assert_eq!(code(&call(&rig)), "channel_not_allowed");
            let early = rig.send(GB);
            assert_eq!((code(&early).as_str(), early.body["retry_after_s"].as_u64()), ("rate_limited", Some(*wait)));
        }
        rig.clock.advance(wait * 1000);
    }
    let a = call(&rig);
    assert_eq!((a.status, a.body["channel"].as_str()), (202, Some("call")), "{}", a.body);
    assert_eq!(rig.http.count("Channel=call"), 0, "calls are form-encoded in the body, not the URL");
    assert!(rig.http.calls.borrow().iter().any(|c| c.body.contains("Channel=call")));
}

#[test]
fn monitor_mode_blocks_nothing_and_logs_each_would_be_block() {
    let rig = Rig::new(&[("MODE", "monitor"), ("DENIED_COUNTRIES_SMS", "GB"), ("LIMITS_IP", "1/1h")]);
    *rig.http.turnstile.borrow_mut() =
        Answer::Status(200, r#"{"success":false,"error-codes":["invalid-input-response"]}"#);
    for _ in 0..2 {
        assert_eq!(rig.send("+447400123499").status, 202);
    }
    let e = rig.last_event();
    assert_eq!(e.decision, "allow");
    assert_eq!(e.would_block, vec!["country_not_allowed", "rate_limited", "captcha_failed"]);
    // Bad input is still refused: monitor mode is about policy, not parsing.
    assert_eq!(code(&rig.send("not a number")), "invalid_phone");

    // Per-rule monitoring in enforce mode.
    let rig = Rig::new(&[("MONITOR_RULES", "country_not_allowed"), ("DENIED_COUNTRIES_SMS", "GB")]);
    assert_eq!(rig.send(GB).status, 202);
    assert_eq!(rig.last_event().would_block, vec!["country_not_allowed"]);
}

#[test]
fn lists_through_the_admin_api() {
    let rig = Rig::new(&[("DENIED_COUNTRIES_SMS", "GB"), ("LIMITS_PHONE", "1/1h")]);
    let admin = |method: &str, path: &str, token: Option<&str>| rig.request(method, path, None, "203.0.113.7", token);
    let token = Some("Bearer native-test-admin-token-0123");
    assert_eq!(admin("PUT", "/v1/admin/safelist/+447400123456", None).status, 401);
    assert_eq!(admin("PUT", "/v1/admin/safelist/+447400123456", Some("Bearer wrong-token-0123456789")).status, 401);
    assert_eq!(admin("PUT", "/v1/admin/safelist/not-a-number", token).status, 400);
    assert_eq!(admin("GET", "/v1/admin/safelist/+447400123456", token).status, 405);
    assert_eq!(admin("PUT", "/v1/admin/nothing-here", token).status, 404);

    assert_eq!(code(&rig.send(GB)), "country_not_allowed");
    assert_eq!(admin("PUT", "/v1/admin/safelist/%2B447400123456", token).status, 204);
    assert_eq!(rig.send(GB).status, 202, "safelisted: the country policy is skipped");
    rig.clock.advance(60_000);
    assert_eq!(code(&rig.send(GB)), "rate_limited", "but not the rate limits");

    assert_eq!(admin("PUT", "/v1/admin/blocklist/+44740012", token).status, 204);
    let listed = rig.request("GET", "/v1/admin/blocklist", None, "203.0.113.7", token);
    assert_eq!(
        listed.body["entries"],
        json!([{"entry": "+44740012", "added": "2026-01-01T00:01:00.000Z", "kind": "prefix"}])
    );
    let safe = rig.request("GET", "/v1/admin/safelist", None, "203.0.113.7", token);
    assert_eq!(safe.body["entries"][0]["entry"], "+44******3456", "listed masked");
    assert_eq!(code(&rig.send(GB)), "blocklisted", "a blocklisted prefix wins over the safelist");
    assert_eq!(admin("DELETE", "/v1/admin/blocklist/+44740012", token).status, 204);
    assert_eq!(admin("DELETE", "/v1/admin/safelist/+447400123456", token).status, 204);
    assert_eq!(code(&rig.send(GB)), "country_not_allowed");

    let closed = Rig::new(&[]);
    let mut config = closed.config.clone();
    config.admin_token = None;
    let services = closed.services();
    let incoming =
        Incoming { method: "PUT".into(), path: "/v1/admin/safelist/+447400123456".into(), ..Incoming::default() };
    let handled = block_on(handle(Ok(&config), &services, &incoming));
    assert_eq!(handled.response.status, 404, "no ADMIN_TOKEN: the admin API does not exist");
}

#[test]
fn no_log_line_holds_a_number_token_or_secret() {
    let rig = Rig::new(&[]);
    rig.send(GB);
    rig.send_from("203.0.113.7", json!({"phone": "+447400123457", "turnstile_token": "secret-looking-token-value"}));
    rig.request(
        "PUT",
        "/v1/admin/safelist/+447400123458",
        None,
        "1.2.3.4",
        Some("Bearer native-test-admin-token-0123"),
    );
    let lines: Vec<String> = rig.events.borrow().iter().map(Event::to_json).collect();
    let all = lines.join("\n");
    for secret in
        ["7400123456", "7400123457", "7400123458", "secret-looking-token-value", TOKEN, "native-test", "AC0000"]
    {
        assert!(!all.contains(secret), "{secret} leaked into: {all}");
    }
    assert!(all.contains("+44******3456"));
}

fn admin_get(rig: &Rig, path_and_query: &str) -> Answered {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let incoming = Incoming {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        authorization: Some("Bearer native-test-admin-token-0123".into()),
        ..Incoming::default()
    };
    let services = rig.services();
    let out = block_on(handle(Ok(&rig.config), &services, &incoming)).response;
    let body = serde_json::from_str(&out.body).unwrap_or(Value::String(out.body.clone()));
    Answered { status: out.status, body, headers: out.headers }
}

/// The spike detector on a small scale (the judgement of unserved destinations off: the
/// rig's clients are in GB, abroad for every number but British ones).
const PUMPING: &[(&str, &str)] = &[
    ("PUMPING_MIN_SENDS", "5"),
    ("PUMPING_ALLOWANCE_MIN", "0"),
    ("PUMPING_UNSERVED_MIN_SENDS", "0"),
    ("VOICE_GATE_MIN_DELAY_S", "0"),
];

#[test]
fn a_burst_with_no_approvals_engages_a_block_that_lifts() {
    let rig = Rig::new(PUMPING);
    let cg = |i: u32| format!("+2420612345{i:02}");
    for i in 0..4 {
        assert_eq!(
            rig.send_from(&format!("198.51.100.{i}"), json!({"phone": cg(i), "turnstile_token": TOKEN})).status,
            202
        );
        rig.clock.advance(10_000);
    }
    // The fifth completes the pattern: no approval at all, to a destination never seen.
    let a = rig.send_from("198.51.100.50", json!({"phone": cg(5), "turnstile_token": TOKEN}));
    assert_eq!((a.status, code(&a).as_str()), (503, "protection_engaged"), "{}", a.body);
    let engaged: Vec<Event> = rig.events.borrow().iter().filter(|e| e.route == "protection").cloned().collect();
    assert!(!engaged.is_empty());
    let p = engaged[0].protection.clone().unwrap();
    assert_eq!(p.action, "engaged");
    let figures = p.figures.unwrap();
    assert_eq!((figures.window_sends, figures.conversion_now), (5, Some(0.0)));
    assert_eq!(rig.http.count("/Verifications"), 4, "the engaging request is not sent");

    // Other destinations are not affected; this one is, from any network.
    assert_eq!(rig.send(GB).status, 202);
    assert_eq!(
        code(&rig.send_from("192.0.2.1", json!({"phone": cg(6), "turnstile_token": TOKEN}))),
        "protection_engaged"
    );

    // An operator lifts it...
    let admin = |method: &str, path: &str| {
        rig.request(method, path, None, "1.2.3.4", Some("Bearer native-test-admin-token-0123"))
    };
    assert_eq!(admin("DELETE", "/v1/admin/blocks/CG").status, 204);
    assert_eq!(admin("DELETE", "/v1/admin/blocks/+24206123").status, 204);
    assert_eq!(admin("DELETE", "/v1/admin/blocks/not-a-dest").status, 404);
    rig.clock.advance(16 * 60_000);
    assert_eq!(rig.send_from("192.0.2.2", json!({"phone": cg(7), "turnstile_token": TOKEN})).status, 202);

    // ...and a block also lifts by itself after its cool-down.
    let rig = Rig::new(PUMPING);
    for i in 0..5 {
        rig.send_from(&format!("198.51.100.{i}"), json!({"phone": cg(i), "turnstile_token": TOKEN}));
    }
    assert_eq!(
        code(&rig.send_from("192.0.2.3", json!({"phone": cg(8), "turnstile_token": TOKEN}))),
        "protection_engaged"
    );
    rig.clock.advance(31 * 60_000);
    assert_eq!(rig.send_from("192.0.2.3", json!({"phone": cg(8), "turnstile_token": TOKEN})).status, 202);
}

#[test]
fn slow_pumping_engages_a_block_whose_lift_sets_the_evidence_aside() {
    let rig = Rig::new(&[
        ("PUMPING_MIN_SENDS", "1000"),
        ("PUMPING_ALLOWANCE_MIN", "0"),
        ("PUMPING_SLOW_MIN_SENDS", "3"),
        ("PUMPING_SLOW_NEW_MIN_SENDS", "3"),
    ]);
    // Kyrgyz numbers in different prefixes; a clock step that lands each write on another
    // shard of the country's hot record (shard = now % 8).
    let kg = ["+996700123456", "+996770234567", "+996555345678", "+996500456789"];
    for (i, phone) in kg[..2].iter().enumerate() {
        assert_eq!(
            rig.send_from(&format!("198.51.100.{i}"), json!({"phone": phone, "turnstile_token": TOKEN})).status,
            202
        );
        rig.clock.advance(60_001);
    }
    // The third completes the evidence (judged with itself included) and is refused.
    let a = rig.send_from("198.51.100.9", json!({"phone": kg[2], "turnstile_token": TOKEN}));
    assert_eq!((a.status, code(&a).as_str()), (503, "protection_engaged"), "{}", a.body);
    let p = rig.events.borrow().iter().find_map(|e| e.protection.clone()).expect("an engagement");
    assert_eq!((p.dest.as_str(), p.trigger), ("KG", Some(Trigger::SlowConversionCollapse)));
    assert_eq!(p.figures.map(|f| (f.window_sends, f.conversion_now)), Some((3, Some(0.0))));
    assert_eq!(rig.http.count("/Verifications"), 2);

    // The operator's lift sets the evidence aside, whichever shard the lift writes to: the
    // next send is judged afresh and goes through.
    rig.clock.advance(60_001);
    let lift =
        rig.request("DELETE", "/v1/admin/blocks/KG", None, "1.2.3.4", Some("Bearer native-test-admin-token-0123"));
    assert_eq!(lift.status, 204);
    rig.clock.advance(60_001);
    let after = rig.send_from("198.51.100.20", json!({"phone": kg[3], "turnstile_token": TOKEN}));
    assert_eq!(after.status, 202, "{}", after.body);
}

#[test]
fn a_destination_nobody_entered_a_code_for_is_refused_to_clients_abroad() {
    let rig = Rig::new(&[("PUMPING_ALLOWANCE_MIN", "0")]);
    let from = |ip: &str, country: &str, phone: &str| {
        let client = ClientNetwork { ip: ip.into(), country: Some(country.into()), asn: Some(64500) };
        let a = rig.send_as(client, json!({"phone": phone, "turnstile_token": TOKEN}));
        rig.clock.advance(60_001);
        (a.status, a.body)
    };
    // Tajik numbers in different blocks, asked from proxies in Vietnam; nobody enters them.
    let tj = |i: u32| format!("+99293{i}123456");
    for i in 0..2 {
        assert_eq!(from(&format!("203.0.113.{i}"), "VN", &tj(i)).0, 202);
    }
    // The third unentered code completes the evidence: refused, the block engaged.
    let (status, body) = from("203.0.113.9", "VN", &tj(2));
    assert_eq!((status, body["code"].as_str()), (503, Some("protection_engaged")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("to TJ from outside its country"), "{body}");
    let p = rig.events.borrow().iter().find_map(|e| e.protection.clone()).expect("an engagement");
    assert_eq!((p.dest.as_str(), p.trigger), ("TJ", Some(Trigger::UnservedDestination)));
    assert_eq!(p.figures.map(|f| (f.window_sends, f.conversion_now)), Some((3, Some(0.0))));
    assert_eq!(from("198.51.100.7", "DE", &tj(3)).0, 503, "any client abroad is refused");
    assert_eq!(rig.http.count("/Verifications"), 2);

    // A client in Tajikistan is still served, and a code entered ends it: the block, once
    // its cool-down ends, is not engaged again.
    assert_eq!(from("5.34.0.1", "TJ", &tj(4)).0, 202);
    let check = rig.request(
        "POST",
        "/v1/verifications/check",
        Some(json!({"phone": tj(4), "code": "123456"})),
        "5.34.0.1",
        None,
    );
    assert_eq!(check.body["status"], "approved");
    assert_eq!(from("203.0.113.10", "VN", &tj(5)).0, 503, "still in its cool-down");
    rig.clock.advance(30 * 60_000);
    assert_eq!(from("203.0.113.11", "VN", &tj(6)).0, 202);

    // Turned off, clients abroad are only judged by the other detectors.
    let rig = Rig::new(&[("PUMPING_ALLOWANCE_MIN", "0"), ("PUMPING_UNSERVED_MIN_SENDS", "0")]);
    for i in 0..4 {
        let a = rig.send_from(&format!("203.0.113.{i}"), json!({"phone": tj(i), "turnstile_token": TOKEN}));
        assert_eq!(a.status, 202, "{}", a.body);
        rig.clock.advance(60_001);
    }
}

#[test]
fn a_real_surge_that_converts_is_not_blocked() {
    let vars = [PUMPING, &[("SPEND_CAP_COUNTRY_HOURLY_USD", "100")]].concat();
    let rig = Rig::new(&vars);
    for i in 0..40u32 {
        // Numbers in many blocks, as real users' are (one block would meet its prefix limit).
        let phone = format!("+24206{i:02}34567");
        let a = rig.send_from(&format!("198.51.{i}.1"), json!({"phone": phone, "turnstile_token": TOKEN}));
        assert_eq!(a.status, 202, "send {i}: {}", a.body);
        // Three in four users type their code.
        if i % 4 != 0 {
            let check = rig.request(
                "POST",
                "/v1/verifications/check",
                Some(json!({"phone": phone, "code": "123456"})),
                "198.51.0.1",
                None,
            );
            assert_eq!(check.body["status"], "approved");
        }
        rig.clock.advance(5_000);
    }
    assert!(rig.events.borrow().iter().all(|e| e.route != "protection"));
}

#[test]
fn the_spend_cap_refuses_new_sends_but_not_safelisted_ones() {
    // SMS to GB are priced at the default 0.05 USD: the cap admits two an hour.
    let rig = Rig::new(&[("SPEND_CAP_HOURLY_USD", "0.12"), ("VOICE_GATE_MIN_DELAY_S", "0")]);
    assert_eq!(rig.send("+447400123401").status, 202);
    assert_eq!(rig.send("+447400123402").status, 202);
    let a = rig.send("+447400123403");
    assert_eq!((a.status, code(&a).as_str()), (503, "protection_engaged"));
    assert!(a.body["detail"].as_str().unwrap().contains("spend cap"));
    let token = Some("Bearer native-test-admin-token-0123");
    assert_eq!(rig.request("PUT", "/v1/admin/safelist/+447400123404", None, "1.2.3.4", token).status, 204);
    assert_eq!(rig.send("+447400123404").status, 202, "safelisted numbers are exempt");
    rig.clock.advance(3_600_000 + 360_000);
    assert_eq!(rig.send("+447400123403").status, 202, "the window moved on");
    // Premium destinations cost more: one SMS to +242 at 0.30 USD is over a 0.12 cap at once.
    let rig = Rig::new(&[("SPEND_CAP_COUNTRY_HOURLY_USD", "0.12")]);
    assert_eq!(code(&rig.send("+242061234567")), "protection_engaged");
    assert_eq!(rig.send(GB).status, 202);
}

#[test]
fn the_admin_api_reads_the_decision_log() {
    let rig = Rig::new(PUMPING);
    rig.send(GB);
    rig.send("not a number");
    for i in 0..6 {
        rig.send_from(
            &format!("198.51.100.{i}"),
            json!({"phone": format!("+2420612345{i:02}"), "turnstile_token": TOKEN}),
        );
        rig.clock.advance(10_000);
    }
    // Filter and paginate: oldest first, `next_cursor` until the end.
    let page = admin_get(&rig, "/v1/admin/events?route=send&limit=3");
    assert_eq!(page.status, 200);
    let events = page.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["phone"], "+44******3456");
    let cursor = page.body["next_cursor"].as_i64().unwrap();
    let rest = admin_get(&rig, &format!("/v1/admin/events?route=send&limit=100&cursor={cursor}"));
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 5);
    assert!(rest.body["next_cursor"].is_null());
    let cg = admin_get(&rig, "/v1/admin/events?country=CG&reason=protection_engaged");
    assert!(!cg.body["events"].as_array().unwrap().is_empty());
    assert!(cg.body["events"].as_array().unwrap().iter().all(|e| e["country"] == "CG"));
    let csv = admin_get(&rig, "/v1/admin/events?format=csv&route=send");
    assert!(csv.headers.iter().any(|(k, v)| *k == "content-type" && v.starts_with("text/csv")));
    assert_eq!(csv.body.as_str().unwrap().lines().count(), 1 + 8);
    let ndjson = admin_get(&rig, "/v1/admin/events?format=ndjson&route=send");
    assert_eq!(ndjson.body.as_str().unwrap().lines().count(), 8);
    let newest = admin_get(&rig, "/v1/admin/events?route=send&order=desc&limit=2");
    let ids: Vec<i64> = newest.body["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids[0] > ids[1], "{ids:?}");
    let older = admin_get(&rig, &format!("/v1/admin/events?route=send&order=desc&limit=100&cursor={}", ids[1]));
    assert!(older.body["events"].as_array().unwrap().iter().all(|e| e["id"].as_i64().unwrap() < ids[1]));
    assert_eq!(older.body["events"].as_array().unwrap().len(), 6);
    assert_eq!(admin_get(&rig, "/v1/admin/events?limit=0").status, 400);
    assert_eq!(admin_get(&rig, "/v1/admin/events?format=xml").status, 400);

    let stats = admin_get(&rig, "/v1/admin/stats");
    assert_eq!(stats.body["countries"]["GB"]["sent"], 1);
    let hour = &stats.body["series"][0];
    assert_eq!(hour["hour"], "2026-01-01T00:00:00Z");
    assert_eq!(hour["countries"]["CG"]["sent"], 4);
    assert_eq!(stats.body["spend_caps_usd"]["hourly"], 50.0);
    assert_eq!(stats.body["countries"]["CG"]["sent"], 4);
    assert_eq!(stats.body["reasons"]["invalid_phone"], 1);
    assert_eq!(stats.body["estimated_spend_usd"]["last_hour"], 0.05 + 4.0 * 0.30);
    let blocks = stats.body["active_blocks"].as_array().unwrap();
    assert!(blocks.iter().any(|b| b["dest"] == "CG"), "{}", stats.body);

    let incidents = admin_get(&rig, "/v1/admin/incidents");
    let list = incidents.body["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", incidents.body);
    let incident = &list[0];
    assert!(incident["destinations"].as_array().unwrap().contains(&json!("CG")));
    assert_eq!(incident["sends"], 4);
    assert_eq!(incident["conversion_during"], 0.0);
    assert!((incident["estimated_cost_usd"].as_f64().unwrap() - 1.2).abs() < 1e-9);
    assert!(incident["actions"].as_array().unwrap().iter().any(|a| a["action"] == "engaged"));

    // Lifting is logged too, and the block is no longer active.
    rig.request("DELETE", "/v1/admin/blocks/CG", None, "1.2.3.4", Some("Bearer native-test-admin-token-0123"));
    rig.request("DELETE", "/v1/admin/blocks/+24206123", None, "1.2.3.4", Some("Bearer native-test-admin-token-0123"));
    let stats = admin_get(&rig, "/v1/admin/stats");
    assert!(stats.body["active_blocks"].as_array().unwrap().is_empty(), "{}", stats.body);
}

#[test]
fn without_the_d1_log_the_log_endpoints_do_not_exist() {
    let rig = Rig::new(&[("DECISION_LOG", "console")]);
    assert_eq!(rig.send(GB).status, 202, "the guard works without D1");
    for path in ["/v1/admin/events", "/v1/admin/stats", "/v1/admin/incidents"] {
        let a = admin_get(&rig, path);
        assert_eq!((a.status, code(&a).as_str()), (404, "not_found"), "{path}");
    }
    // The lists do not need the log.
    assert_eq!(admin_get(&rig, "/v1/admin/safelist").status, 200);
}

#[test]
fn a_reservation_that_cannot_be_given_back_is_said_in_the_log() {
    // The store fails from its n-th call on. The first n that lets the send reach Twilio
    // (Twilio then fails) is the one where the release is the call the store refuses.
    let (a, e) = (0..500)
        .find_map(|n| {
            let rig = Rig::with_store(&[], MemoryStore::fail_after(n));
            *rig.http.twilio.borrow_mut() = Answer::Status(503, "<html>");
            let a = rig.send(GB);
            (rig.http.count("/Verifications") == 1).then(|| (a, rig.last_event()))
        })
        .expect("some store call count lets the send reach Twilio");
    assert_eq!((a.status, code(&a).as_str()), (502, "upstream_error"));
    assert_eq!(a.body["detail"], "Twilio failed (503)");
    // The log keeps both: what failed, and that the number's counters still hold the send.
    assert_eq!(e.detail.as_deref(), Some("Twilio failed (503); the reservation could not be released"));
}
