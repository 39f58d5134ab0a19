//! `otp-guard replay`: past traffic through a candidate policy, on the same decision core.
//!
//! Each event of a traffic file (one JSON object per line, in time order) becomes the
//! `POST /v1/verifications` it was, handled by [`guard::handle`] with the event's
//! timestamp as the clock, an in-memory store for every counter, and stand-in upstreams:
//! Turnstile passes (for the policy's own hostname and action, if it pins them) unless
//! the event says `"captcha": false`, Twilio always sends ([`Upstreams`]). An
//! event marked `"verified": true` is followed, a minute later in simulated time, by the
//! approving check from the same client (the browser that asked for the code types it
//! in), so conversion tracking and pumping protection, per destination and per client
//! network, see what production would. Deterministic: the same file and policy give the same decisions.

use crate::config::Config;
use crate::counters::KvCounters;
use crate::event::parse_utc;
use crate::eventlog::MemoryLog;
use crate::guard::{handle, Services};
use crate::http::Incoming;
use crate::phone;
use crate::policy::ClientNetwork;
use crate::ports::memory::{block_on, ManualClock, MemoryStore, Upstreams};
use crate::request::Channel;
use crate::spend::mills_to_usd;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BinaryHeap};

/// One line of a traffic file. Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct TrafficEvent {
    pub ts: String,
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub ip_country: Option<String>,
    #[serde(default)]
    pub asn: Option<u32>,
    pub phone: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub captcha: Option<bool>,
}

/// What the policy did with one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `allow` or `block`.
    pub decision: &'static str,
    /// `ok`, or the contract code of the refusal.
    pub reason: &'static str,
    /// For `rate_limited`: the scope whose quota was full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
}

/// The report: what the policy would have blocked, what it would have cost, and which
/// real users it would have turned away.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub events: u64,
    pub allowed: u64,
    pub blocked: u64,
    pub blocked_by_reason: BTreeMap<&'static str, u64>,
    /// Real users turned away: verified events the policy blocked.
    pub verified_blocked: u64,
    /// Fraud let through: unverified events the policy allowed.
    pub unverified_allowed: u64,
    pub estimated_cost_usd: Cost,
    /// Pumping blocks the detector engaged, by destination.
    pub protection_engaged: BTreeMap<String, u64>,
    /// Lines that were not traffic events (unreadable JSON or timestamp).
    pub invalid_lines: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    pub without_guard: f64,
    pub with_guard: f64,
}

/// A client as a traffic event gives it: IP, IP country, ASN.
type Client = (String, Option<String>, Option<u32>);

/// How long after a verified send its code is approved, in simulated time.
const APPROVAL_DELAY_MS: u64 = 60_000;

/// A replay in progress: feed it lines in order, then take the report.
#[derive(Debug)]
pub struct Replay<'a> {
    config: &'a Config,
    clock: ManualClock,
    store: MemoryStore,
    /// The stand-in upstreams: Turnstile as the event says, Twilio always sends.
    http: Upstreams,
    /// Approvals due: (time, phone, the client that asked for the code), earliest first.
    approvals: BinaryHeap<std::cmp::Reverse<(u64, String, Client)>>,
    /// The decision log the run builds (protection events only: the rest is summarised).
    log: MemoryLog,
    report: Report,
}

impl<'a> Replay<'a> {
    pub fn new(config: &'a Config) -> Replay<'a> {
        Replay {
            config,
            clock: ManualClock::default(),
            store: MemoryStore::default(),
            http: Upstreams::for_policy(config),
            approvals: BinaryHeap::new(),
            log: MemoryLog::default(),
            report: Report::default(),
        }
    }

    /// Replays one line and returns its decision.
    pub fn line(&mut self, line: &str) -> Decision {
        self.report.events += 1;
        let Some((event, at_ms)) =
            serde_json::from_str::<TrafficEvent>(line).ok().and_then(|e| parse_utc(&e.ts).map(|ms| (e, ms)))
        else {
            self.report.invalid_lines += 1;
            return self.count(None, Decision { decision: "block", reason: "invalid_request", scope: None }, 0);
        };
        self.approve_until(at_ms);
        // Time never runs backwards, even if the file does a little.
        self.clock.0.set(self.clock.0.get().max(at_ms));

        let channel = event.channel.as_deref().and_then(Channel::from_name).unwrap_or(Channel::Sms);
        let price = phone::parse(&event.phone, None)
            .map(|p| u64::from(self.config.prices.price(p.calling_code, channel)))
            .unwrap_or(0);
        self.report.estimated_cost_usd.without_guard += mills_to_usd(price);

        self.http.captcha_passes.set(event.captcha != Some(false));
        let body = serde_json::json!({
            "phone": event.phone,
            "channel": event.channel.as_deref().unwrap_or("sms"),
            "turnstile_token": "replay",
        });
        let incoming = Incoming {
            method: "POST".into(),
            path: "/v1/verifications".into(),
            content_type: Some("application/json".into()),
            body: Some(body.to_string().into_bytes()),
            client: ClientNetwork { ip: event.ip.clone(), country: event.ip_country.clone(), asn: event.asn },
            request_id: format!("replay-{}", self.report.events),
            ..Incoming::default()
        };
        let handled = self.run(&incoming);
        let (mut reason, mut scope) = ("ok", None);
        for e in &handled {
            if e.route == "send" {
                (reason, scope) = (e.reason, e.scope);
            }
            if let Some(p) = e.protection.as_ref().filter(|p| p.action == "engaged") {
                *self.report.protection_engaged.entry(p.dest.clone()).or_default() += 1;
            }
        }
        let decision = Decision { decision: if reason == "ok" { "allow" } else { "block" }, reason, scope };
        if decision.decision == "allow" && event.verified {
            let client = (event.ip.clone(), event.ip_country.clone(), event.asn);
            self.approvals.push(std::cmp::Reverse((at_ms + APPROVAL_DELAY_MS, event.phone.clone(), client)));
        }
        self.count(Some(&event), decision, price)
    }

    fn count(&mut self, event: Option<&TrafficEvent>, decision: Decision, price: u64) -> Decision {
        let verified = event.is_some_and(|e| e.verified);
        if decision.decision == "allow" {
            self.report.allowed += 1;
            self.report.estimated_cost_usd.with_guard += mills_to_usd(price);
            if !verified {
                self.report.unverified_allowed += 1;
            }
        } else {
            self.report.blocked += 1;
            *self.report.blocked_by_reason.entry(decision.reason).or_default() += 1;
            if verified {
                self.report.verified_blocked += 1;
            }
        }
        decision
    }

    /// Runs the approving checks due by `now_ms`.
    fn approve_until(&mut self, now_ms: u64) {
        while let Some(std::cmp::Reverse((at, ..))) = self.approvals.peek() {
            if *at > now_ms {
                break;
            }
            let std::cmp::Reverse((at, phone, (ip, country, asn))) = self.approvals.pop().expect("peeked");
            self.clock.0.set(self.clock.0.get().max(at));
            let body = serde_json::json!({"phone": phone, "code": "123456"});
            let incoming = Incoming {
                method: "POST".into(),
                path: "/v1/verifications/check".into(),
                content_type: Some("application/json".into()),
                body: Some(body.to_string().into_bytes()),
                client: ClientNetwork { ip, country, asn },
                ..Incoming::default()
            };
            self.run(&incoming);
        }
    }

    fn run(&self, incoming: &Incoming) -> Vec<crate::event::Event> {
        let services = Services {
            clock: &self.clock,
            store: &self.store,
            http: &self.http,
            counters: KvCounters::unsharded(&self.store),
            log: &self.log,
        };
        let handled = block_on(handle(Ok(self.config), &services, incoming));
        handled.events
    }

    pub fn finish(mut self) -> Report {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        self.report.estimated_cost_usd.without_guard = round(self.report.estimated_cost_usd.without_guard);
        self.report.estimated_cost_usd.with_guard = round(self.report.estimated_cost_usd.with_guard);
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let mut map: HashMap<&str, &str> = HashMap::from([
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_AUTH_TOKEN", "replay-test-auth-token"),
            ("TWILIO_VERIFY_SERVICE_SID", "VA00000000000000000000000000000000"),
            ("TURNSTILE_SECRET_KEY", "1x0000000000000000000000000000000AA"),
            ("HASH_KEY", "replay-test-hash-key-0123"),
            // Volume limits sized for a busy app, as the scenarios' policy does.
            ("COUNTRY_LIMITS", "*:10000/1h,100000/1d"),
            ("LIMITS_GLOBAL", "30000/1h,300000/1d"),
            ("SPEND_CAP_HOURLY_USD", "2000"),
            ("SPEND_CAP_COUNTRY_HOURLY_USD", "500"),
        ]);
        map.extend(vars.iter().copied());
        Config::load(|k| map.get(k).map(|v| (*v).to_owned())).expect("valid test config")
    }

    /// One traffic line: a GB mobile number (`n` spreads it over many prefixes), from a
    /// network and an address of its own.
    fn line(at_s: u64, n: u64, ip: &str, ip_country: &str, asn: u32, verified: bool) -> String {
        let ts = crate::event::utc(1_767_225_600_000 + at_s * 1000); // 2026-01-01
                                                                     // (Not 778, 779: some of those are Guernsey's and Jersey's.)
        const MOBILE: [&str; 13] =
            ["774", "775", "776", "777", "780", "781", "782", "784", "785", "786", "787", "788", "789"];
        let phone = format!("+44{}{:07}", MOBILE[(n % 13) as usize], (n * 1_046_527) % 10_000_000);
        serde_json::json!({"ts": ts, "ip": ip, "ip_country": ip_country, "asn": asn,
            "phone": phone, "channel": "sms", "verified": verified})
        .to_string()
    }

    /// A day of real GB users on a residential network (a send a minute, 3 in 4 entered)
    /// and a proxy network abroad sending a code every ten minutes that nobody enters.
    fn slow_pumping(replay: &mut Replay, hours: u64) -> (Vec<Decision>, Vec<Decision>) {
        let (mut real, mut attack) = (Vec::new(), Vec::new());
        for minute in 0..hours * 60 {
            let ip = format!("86.{}.{}.{}", 128 + minute % 60, minute / 60 % 250, 2 + minute % 250);
            real.push(replay.line(&line(minute * 60, minute, &ip, "GB", 2856, minute % 4 != 0)));
            if minute % 10 == 5 {
                let ip = format!("27.{}.{}.{}", 64 + minute % 16, minute / 16 % 250, 2 + minute % 250);
                attack.push(replay.line(&line(minute * 60 + 30, 1_000_000 + minute, &ip, "GB", 7552, false)));
            }
        }
        (real, attack)
    }

    #[test]
    fn a_network_whose_codes_are_never_entered_is_blocked_and_real_users_are_not() {
        let config = config(&[]);
        let mut replay = Replay::new(&config);
        let (real, attack) = slow_pumping(&mut replay, 6);
        // The attack rides on a GB network with the real users: the destination never
        // spikes, and its conversion only sags.
        assert!(real.iter().all(|d| d.decision == "allow"), "real users are never blocked");
        let blocked: Vec<_> = attack.iter().map(|d| d.decision == "block").collect();
        let first = blocked.iter().position(|b| *b).expect("the network is blocked");
        // 15 matured sends, and the ten-minute allowance for the last ones.
        assert!((15..=17).contains(&first), "first block at send {first}");
        assert!(blocked[first..].iter().all(|b| *b), "and stays blocked while its evidence stands");
        assert_eq!(attack[first], Decision { decision: "block", reason: "protection_engaged", scope: Some("network") });
        let report = replay.finish();
        assert!(report.protection_engaged.keys().all(|dest| dest == "AS7552:home"), "{:?}", report.protection_engaged);
    }

    #[test]
    fn a_policy_that_pins_turnstile_hostnames_and_action_is_replayed_as_deployed() {
        // The production shape: Turnstile answers are checked for the site and action.
        let config =
            config(&[("TURNSTILE_HOSTNAMES", "app.example.com,www.example.com"), ("TURNSTILE_ACTION", "signup")]);
        let mut replay = Replay::new(&config);
        let passed = replay.line(&line(0, 1, "86.128.0.2", "GB", 2856, true));
        assert_eq!(passed, Decision { decision: "allow", reason: "ok", scope: None });
        let mut failed: serde_json::Value =
            serde_json::from_str(&line(60, 2, "86.128.0.3", "GB", 2856, false)).unwrap();
        failed["captcha"] = false.into();
        assert_eq!(replay.line(&failed.to_string()).reason, "captcha_failed");
    }

    #[test]
    fn the_network_block_lifts_when_its_evidence_ages_out() {
        let config = config(&[]);
        let mut replay = Replay::new(&config);
        slow_pumping(&mut replay, 6);
        // A day and a bit later, the network's window holds nothing: judged afresh.
        let later = 31 * 3600;
        let d = replay.line(&line(later, 7, "27.64.1.2", "GB", 7552, false));
        assert_eq!(d.decision, "allow");
    }

    #[test]
    fn monitor_mode_only_logs_the_network_block() {
        let config = config(&[("MODE", "monitor")]);
        let mut replay = Replay::new(&config);
        let (real, attack) = slow_pumping(&mut replay, 6);
        assert!(real.iter().chain(&attack).all(|d| d.decision == "allow"));
        assert!(replay.finish().protection_engaged.contains_key("AS7552:home"));
    }

    #[test]
    fn a_real_surge_from_the_same_networks_is_not_blocked() {
        let config = config(&[]);
        let mut replay = Replay::new(&config);
        // Two quiet hours, then ten times the volume for an hour from the same network,
        // converting as usual.
        let mut decisions = Vec::new();
        let mut n = 0;
        for second in (0..3 * 3600u64).step_by(6) {
            let busy = second >= 2 * 3600;
            if !busy && second % 60 != 0 {
                continue;
            }
            n += 1;
            let ip = format!("86.{}.{}.{}", 128 + n % 60, n / 60 % 250, 2 + n % 250);
            decisions.push(replay.line(&line(second, n, &ip, "GB", 2856, n % 4 != 0)));
        }
        assert!(decisions.len() > 700);
        assert!(
            decisions.iter().all(|d| d.decision == "allow"),
            "{:?}",
            decisions.iter().find(|d| d.decision != "allow")
        );
        assert!(replay.finish().protection_engaged.is_empty());
    }
}
