//! `otp-guard replay`: past traffic through a candidate policy, on the same decision core.
//!
//! Each event of a traffic file (one JSON object per line, in time order) becomes the
//! `POST /v1/verifications` it was, handled by [`guard::handle`] with the event's
//! timestamp as the clock, an in-memory store for every counter, and stand-in upstreams:
//! Turnstile passes unless the event says `"captcha": false`, Twilio always sends. An
//! event marked `"verified": true` is followed, a minute later in simulated time, by the
//! approving check, so conversion tracking and pumping protection see what production
//! would. Deterministic: the same file and policy give the same decisions.

use crate::config::Config;
use crate::counters::KvCounters;
use crate::event::parse_utc;
use crate::eventlog::MemoryLog;
use crate::guard::{handle, Services};
use crate::http::Incoming;
use crate::phone;
use crate::policy::ClientNetwork;
use crate::ports::memory::{block_on, ManualClock, MemoryStore};
use crate::ports::{Http, HttpFault, Inbound, Outbound};
use crate::request::Channel;
use crate::spend::mills_to_usd;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
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

/// The stand-in upstreams: Turnstile as the event says, Twilio always sends.
#[derive(Debug, Default)]
struct ReplayHttp {
    captcha_passes: Cell<bool>,
}

impl Http for ReplayHttp {
    async fn send(&self, request: Outbound) -> Result<Inbound, HttpFault> {
        let body = if request.url.ends_with("/siteverify") {
            if self.captcha_passes.get() {
                r#"{"success":true,"hostname":"replay","action":"","error-codes":[]}"#
            } else {
                r#"{"success":false,"error-codes":["invalid-input-response"]}"#
            }
        } else if request.url.ends_with("/VerificationCheck") {
            r#"{"status":"approved","valid":true}"#
        } else {
            r#"{"sid":"VEreplay","status":"pending"}"#
        };
        Ok(Inbound { status: 200, retry_after: None, body: body.as_bytes().to_vec() })
    }
}

/// How long after a verified send its code is approved, in simulated time.
const APPROVAL_DELAY_MS: u64 = 60_000;

/// A replay in progress: feed it lines in order, then take the report.
#[derive(Debug)]
pub struct Replay<'a> {
    config: &'a Config,
    clock: ManualClock,
    store: MemoryStore,
    http: ReplayHttp,
    /// Approvals due: (time, phone), earliest first.
    approvals: BinaryHeap<std::cmp::Reverse<(u64, String)>>,
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
            http: ReplayHttp::default(),
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
            self.approvals.push(std::cmp::Reverse((at_ms + APPROVAL_DELAY_MS, event.phone.clone())));
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
        while let Some(std::cmp::Reverse((at, _))) = self.approvals.peek() {
            if *at > now_ms {
                break;
            }
            let std::cmp::Reverse((at, phone)) = self.approvals.pop().expect("peeked");
            self.clock.0.set(self.clock.0.get().max(at));
            let body = serde_json::json!({"phone": phone, "code": "123456"});
            let incoming = Incoming {
                method: "POST".into(),
                path: "/v1/verifications/check".into(),
                content_type: Some("application/json".into()),
                body: Some(body.to_string().into_bytes()),
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
