//! The pipeline: routes a request and walks it through the steps, cheapest first.
//!
//! [`handle`] is the whole product behind the HTTP surface. It takes the validated
//! config (or the error that made it invalid), the injected [`Services`] and an
//! [`Incoming`] request, and returns the response with the decision's log [`Event`].
//! It never panics on input and never calls Twilio for a request that any earlier step
//! refused.

use crate::config::{Config, ConfigError, DecisionLog, Mode};
use crate::counters::{Action, Counters, Entry, Op, Tally};
use crate::decision::Reason;
use crate::decision::Scope;
use crate::event::{utc, Event, Protection};
use crate::eventlog::{self, EventLog, Query};
use crate::http::{add_cors, preflight, Incoming, Outgoing};
use crate::limits::{prefix, subnet, Quota};
use crate::mask::{mask, number_hash};
use crate::phone::{self, Phone};
use crate::policy;
use crate::policy::ClientNetwork;
use crate::ports::{boxed, Clock, Http, Store};
use crate::pumping;
use crate::request::{self, Channel, RequestError};
use crate::spend::mills_to_usd;
use crate::voice::{Gate, Outlook};
use crate::{admin, lists, turnstile, twilio};
use serde_json::json;

/// otp-guard's own API, described in OpenAPI 3.1 and served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The outside world, injected.
#[derive(Debug)]
pub struct Services<C, S, H, K, L> {
    pub clock: C,
    /// Lists (and, in KV mode, the counters through `counters`).
    pub store: S,
    pub http: H,
    pub counters: K,
    /// The decision log, read by the admin API (the edge writes it after each response).
    pub log: L,
}

/// A response and the decisions behind it.
#[derive(Debug)]
pub struct Handled {
    pub response: Outgoing,
    /// The log lines: the request's decision (none for health, preflight...), then any
    /// pumping block it engaged.
    pub events: Vec<Event>,
}

/// Routes and answers one request.
pub async fn handle<C: Clock, S: Store, H: Http, K: Counters, L: EventLog>(
    config: Result<&Config, &ConfigError>,
    services: &Services<C, S, H, K, L>,
    incoming: &Incoming,
) -> Handled {
    let mut event = Event {
        time: utc(services.clock.now_ms()),
        request_id: incoming.request_id.clone(),
        ip: incoming.client.ip.clone(),
        ip_country: incoming.client.country.clone(),
        asn: incoming.client.asn,
        ..Event::default()
    };
    let config = match config {
        Ok(config) => config,
        Err(err) => {
            // Every route, preflights included, says the deployment is broken.
            let reason = Reason::ConfigError { key: err.key, problem: err.problem.clone() };
            event.route = "config";
            return finish(Err(reason), event, Vec::new());
        }
    };
    if incoming.method == "OPTIONS" && incoming.preflight_method.is_some() {
        return Handled { response: preflight(config, incoming.origin.as_deref()), events: Vec::new() };
    }
    let mut step = Step { config, services, event, protection_events: Vec::new() };
    let result = match (incoming.path.as_str(), incoming.method.as_str()) {
        ("/v1/health", "GET" | "HEAD") => {
            let body = json!({"status": "ok", "version": crate::VERSION});
            let mut response = Outgoing::json(200, &body);
            add_cors(config, incoming.origin.as_deref(), &mut response);
            return Handled { response, events: Vec::new() };
        }
        ("/v1/health", _) => Err(Reason::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/v1/client-config", "GET" | "HEAD") => {
            let mut response = Outgoing::json(200, &client_config(config, incoming));
            add_cors(config, incoming.origin.as_deref(), &mut response);
            return Handled { response, events: Vec::new() };
        }
        ("/v1/client-config", _) => Err(Reason::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/v1/openapi.json", "GET" | "HEAD") => {
            let mut response = Outgoing::text(200, "application/json", OPENAPI.to_owned());
            add_cors(config, incoming.origin.as_deref(), &mut response);
            return Handled { response, events: Vec::new() };
        }
        ("/v1/openapi.json", _) => Err(Reason::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/v1/verifications", "POST") => boxed(step.send(incoming)).await,
        ("/v1/verifications/check", "POST") => boxed(step.check(incoming)).await,
        ("/v1/verifications" | "/v1/verifications/check", _) => Err(Reason::MethodNotAllowed { allow: "POST" }),
        (path, _) if path == "/v1/admin" || path.starts_with("/v1/admin/") => boxed(step.admin(incoming)).await,
        _ => Err(Reason::NotFound("no such route".into())),
    };
    let mut handled = finish(result, step.event, step.protection_events);
    add_cors(config, incoming.origin.as_deref(), &mut handled.response);
    handled
}

/// What a page needs to render the form: the Turnstile widget's key and script, the
/// channels on offer, and the visitor's country as a default for the country picker.
#[inline(never)]
fn client_config(config: &Config, incoming: &Incoming) -> serde_json::Value {
    let channels: Vec<&str> = [(&config.sms, "sms"), (&config.call, "call"), (&config.whatsapp, "whatsapp")]
        .into_iter()
        .filter(|(policy, _)| policy.enabled)
        .map(|(_, name)| name)
        .collect();
    let country = incoming.client.country.as_deref().filter(|c| crate::phone::region_id(c).is_some());
    json!({
        "turnstile_site_key": config.turnstile_site_key,
        "turnstile_script_url": config.turnstile_script_url,
        "turnstile_action": config.turnstile_action,
        "channels": channels,
        "default_country": country,
        "voice_gate_sms_attempts": config.voice_gate_sms_attempts,
    })
}

/// Turns a step's result into the response and completes the event.
fn finish(result: Result<Outgoing, Reason>, mut event: Event, extra: Vec<Event>) -> Handled {
    let response = match result {
        Ok(response) => {
            event.decision = "allow";
            event.reason = "ok";
            response
        }
        Err(reason) => {
            event.decision = "block";
            event.reason = reason.code();
            match &reason {
                Reason::RateLimited { scope, .. } => event.scope = Some(scope.as_str()),
                Reason::Paused { scope, .. } => event.scope = Some(scope),
                _ => {}
            }
            // A note a step left (e.g. a reservation it could not give back) is kept.
            event.detail = Some(match event.detail.take() {
                Some(note) => format!("{}; {note}", reason.detail()),
                None => reason.detail(),
            });
            Outgoing::problem(&reason)
        }
    };
    event.status = response.status;
    let events = (!event.route.is_empty()).then_some(event).into_iter().chain(extra).collect();
    Handled { response, events }
}

/// One request's walk through the pipeline.
struct Step<'a, C, S, H, K, L> {
    config: &'a Config,
    services: &'a Services<C, S, H, K, L>,
    event: Event,
    /// Blocks engaged or lifted while handling the request, each its own log line.
    protection_events: Vec<Event>,
}

impl<C: Clock, S: Store, H: Http, K: Counters, L: EventLog> Step<'_, C, S, H, K, L> {
    /// A policy refusal: enforced, or (in monitor mode, or for a rule listed in
    /// `MONITOR_RULES`) noted in the log and let through.
    fn enforce(&mut self, result: Result<(), Reason>) -> Result<(), Reason> {
        let monitored = |reason: &Reason| {
            reason.is_policy()
                && (self.config.mode == Mode::Monitor || self.config.monitor_rules.contains(reason.code()))
        };
        match result {
            Err(reason) if monitored(&reason) => {
                // The same refusal can be seen twice (the read-only check, then the
                // reservation); it is logged once.
                if !self.event.would_block.contains(&reason.code()) {
                    self.event.would_block.push(reason.code());
                }
                Ok(())
            }
            other => other,
        }
    }

    /// Steps 1 and 2 for both routes: the body, then the number in it.
    fn read_body<T>(&mut self, incoming: &Incoming, parse: fn(&[u8]) -> Result<T, RequestError>) -> Result<T, Reason> {
        if !request::is_json_content_type(incoming.content_type.as_deref()) {
            return Err(Reason::InvalidRequest(RequestError::NotJson.to_string()));
        }
        let body = incoming.body.as_deref().ok_or(Reason::PayloadTooLarge)?;
        parse(body).map_err(|err| match err {
            RequestError::TooLarge => Reason::PayloadTooLarge,
            other => Reason::InvalidRequest(other.to_string()),
        })
    }

    fn read_phone(&mut self, input: &str, country: Option<&str>) -> Result<Phone, Reason> {
        let phone = phone::parse(input, country).map_err(|err| Reason::InvalidPhone(err.to_string()))?;
        self.event.phone = Some(mask(&phone));
        self.event.country = Some(phone.region.clone());
        self.event.prefix = Some(prefix(&phone.e164, self.config.limits.prefix_length));
        self.event.phone_hash = Some(number_hash(&self.config.hash_key, &phone.e164));
        self.event.number_type = Some(phone.kind.as_str());
        Ok(phone)
    }

    /// The number's keyed hash: computed once per request, when the number was read.
    fn phone_hash(&self, phone: &Phone) -> String {
        self.event.phone_hash.clone().unwrap_or_else(|| number_hash(&self.config.hash_key, &phone.e164))
    }

    /// The counters a send to `phone` on `channel` touches, in the order they are
    /// reported when several are full.
    fn counter_entries(&self, phone: &Phone, channel: Channel, client: &ClientNetwork, safelisted: bool) -> Vec<Entry> {
        let limits = &self.config.limits;
        let risky = client.asn.is_some_and(|asn| limits.risky_asns.contains(&asn));
        let (ip_quotas, subnet_quotas) =
            if risky { (&limits.ip_risky, &limits.ip_risky) } else { (&limits.ip, &limits.subnet) };
        let ip = if client.ip.is_empty() { "unknown" } else { client.ip.as_str() };
        let subnet = subnet(ip).unwrap_or_else(|| ip.to_owned());
        let hash = self.phone_hash(phone);
        let limit = |scope: Scope, key: String, quotas: &[Quota]| Entry::Limit { scope, key, quotas: quotas.to_vec() };
        let block = prefix(&phone.e164, limits.prefix_length);
        let mut entries = vec![
            limit(Scope::Ip, format!("n:ip:{ip}"), ip_quotas),
            limit(Scope::Subnet, format!("n:subnet:{subnet}"), subnet_quotas),
            limit(Scope::Phone, format!("n:phone:{hash}"), &limits.phone),
            limit(Scope::Prefix, format!("n:prefix:{block}"), &limits.prefix),
            limit(Scope::Country, format!("n:country:{}", phone.region), limits.country(&phone.region)),
            limit(Scope::Global, "n:global".to_owned(), &limits.global),
            Entry::Gate {
                key: format!("gate:{hash}"),
                gate: Gate::from_config(self.config),
                channel,
                kind: phone.kind,
            },
        ];
        // Fraud checks: safelisted numbers skip pumping protection and the spend caps.
        if !safelisted {
            let weight = self.config.prices.price(phone.calling_code, channel);
            let caps = &self.config.spend_caps;
            entries.push(Entry::Cap { key: "s:global".into(), quotas: caps.global.clone(), weight });
            entries.push(Entry::Cap {
                key: format!("s:country:{}", phone.region),
                quotas: caps.country.clone(),
                weight,
            });
            entries.extend(self.traffic_entries(phone, client));
        }
        entries
    }

    /// A send's destinations for pumping protection: the number's country and prefix, and
    /// the client's network (its ASN, the number at home or abroad), when it is known and
    /// the network detector is on.
    fn traffic_entries(&self, phone: &Phone, client: &ClientNetwork) -> Vec<Entry> {
        let block = prefix(&phone.e164, self.config.limits.prefix_length);
        let abroad = client.country.as_deref().is_some_and(|c| c != phone.region);
        let network = client
            .asn
            .filter(|_| self.config.detector.network.min_sends > 0)
            .map(|asn| pumping::network_dest(asn, abroad));
        [Some(phone.region.clone()), Some(block), network]
            .into_iter()
            .flatten()
            .map(|dest| Entry::Traffic { key: format!("t:{dest}"), dest, detector: self.config.detector, abroad })
            .collect()
    }

    /// Logs the blocks a counter operation engaged, each with its figures.
    fn log_engagements(&mut self, tally: &Tally) {
        for (dest, block) in &tally.engaged {
            let protection = Protection {
                dest: dest.clone(),
                action: "engaged".into(),
                trigger: Some(block.trigger),
                until: Some(utc(block.until_ms)),
                figures: Some(block.figures),
            };
            self.log_protection(protection, "engage", "protection_engaged", 503);
        }
    }

    /// A protection event (a block engaged or lifted) as its own log line.
    fn log_protection(&mut self, protection: Protection, decision: &'static str, reason: &'static str, status: u16) {
        let dest = protection.dest.clone();
        let network = pumping::is_network(&dest);
        self.protection_events.push(Event {
            time: self.event.time.clone(),
            request_id: self.event.request_id.clone(),
            route: "protection",
            ip: self.event.ip.clone(),
            asn: pumping::network_asn(&dest),
            scope: Some(pumping::scope_of(&dest)),
            country: (!dest.starts_with('+') && !network).then(|| dest.clone()),
            prefix: dest.starts_with('+').then_some(dest),
            decision,
            reason,
            status,
            protection: Some(protection),
            ..Event::default()
        });
    }

    async fn counters(&self, action: Action, now_ms: u64, entries: &[Entry]) -> Result<Tally, Reason> {
        let op = Op { action, now_ms, entries: entries.to_vec() };
        boxed(self.services.counters.run(&op)).await.map_err(|_| store_failed())
    }

    /// `POST /v1/verifications`.
    async fn send(&mut self, incoming: &Incoming) -> Result<Outgoing, Reason> {
        self.event.route = "send";
        let req = self.read_body(incoming, request::parse_send)?;
        self.event.channel = Some(req.channel.as_str());
        let phone = self.read_phone(&req.phone, req.country.as_deref())?;

        // 3. Lists.
        let hash = self.phone_hash(&phone);
        let listing = boxed(lists::lookup(&self.services.store, &hash, &phone)).await.map_err(|_| store_failed())?;
        if listing.blocklisted {
            self.enforce(Err(Reason::Blocklisted))?;
        }
        self.event.safelisted = listing.safelisted;
        // 4. Static policy (fraud checks: skipped for safelisted numbers).
        if !listing.safelisted {
            self.enforce(policy::check_destination(self.config, req.channel, &phone))?;
            self.enforce(policy::check_network(self.config, &incoming.client))?;
        } else if !self.config.channel(req.channel).enabled {
            return Err(Reason::ChannelNotAllowed(format!("the {} channel is not offered", req.channel)));
        }
        // 5. Counters, read only: a full quota is refused before any network call.
        let entries = self.counter_entries(&phone, req.channel, &incoming.client, listing.safelisted);
        let now = self.services.clock.now_ms();
        let tally = self.counters(Action::Check, now, &entries).await?;
        self.enforce(tally.verdict.refusal().map_or(Ok(()), Err))?;

        // 7. Turnstile.
        let captcha = match &req.turnstile_token {
            None => Err(Reason::CaptchaFailed("the captcha token is missing or invalid".into())),
            Some(token) => {
                let binding = format!("{} {}", phone.e164, req.channel);
                let out = turnstile::verify_request(self.config, token, &binding, &incoming.client.ip);
                turnstile::read_verify(self.config, boxed(self.services.http.send(out)).await)
            }
        };
        self.enforce(captcha)?;

        // 5 again, for real: reserve the send (exact in Durable Object mode), so two
        // concurrent requests cannot both take the last unit of a quota.
        let monitoring = self.config.mode == Mode::Monitor;
        let reserved_at = self.services.clock.now_ms();
        let tally = self.counters(Action::Reserve { force: monitoring }, reserved_at, &entries).await?;
        self.log_engagements(&tally);
        self.enforce(tally.verdict.refusal().map_or(Ok(()), Err))?;

        // 8. Twilio. If it does not send, the reservation is given back.
        let out =
            twilio::send_request(self.config, &phone.e164, req.channel, &incoming.client.ip, req.locale.as_deref());
        let sent = match twilio::read_send(boxed(self.services.http.send(out)).await) {
            Ok(sent) => sent,
            Err(reason) => {
                let release = Action::Release { at_ms: reserved_at };
                if self.counters(release, self.services.clock.now_ms(), &entries).await.is_err() {
                    self.event.detail = Some("the reservation could not be released".into());
                }
                return Err(reason);
            }
        };
        self.event.twilio_sid = Some(sent.sid);
        self.event.price_usd = Some(mills_to_usd(u64::from(self.config.prices.price(phone.calling_code, req.channel))));

        let outlook = tally.outlook.unwrap_or(Outlook { sms_attempts: 0, call_available: false, retry_after_s: 0 });
        Ok(Outgoing::json(
            202,
            &json!({
                "status": "pending",
                "channel": req.channel.as_str(),
                "to": mask(&phone),
                "sms_attempts": outlook.sms_attempts,
                "call_available": outlook.call_available && self.config.call.enabled,
                "retry_after_s": outlook.retry_after_s,
            }),
        ))
    }

    /// `/v1/admin/*`: token first, then the route (so an unauthenticated caller learns
    /// nothing about which routes exist).
    async fn admin(&mut self, incoming: &Incoming) -> Result<Outgoing, Reason> {
        self.event.route = "admin";
        admin::authorize(self.config.admin_token.as_deref(), incoming.authorization.as_deref())?;
        let (list, entry) = match admin::route(&incoming.path) {
            admin::Route::ListEntry { list, entry } => (list, entry),
            admin::Route::Unknown => return Err(Reason::NotFound("no such admin route".into())),
            admin::Route::Block { dest } if incoming.method == "DELETE" => return self.lift(&dest).await,
            admin::Route::Block { .. } => return Err(Reason::MethodNotAllowed { allow: "DELETE" }),
            admin::Route::List { list } if incoming.method == "GET" || incoming.method == "HEAD" => {
                let entries = lists::entries(&self.services.store, list).await.map_err(|_| store_failed())?;
                return Ok(Outgoing::json(200, &json!({"entries": entries})));
            }
            route if incoming.method != "GET" && incoming.method != "HEAD" => {
                let _ = route;
                return Err(Reason::MethodNotAllowed { allow: "GET, HEAD" });
            }
            route => return self.report(route, &incoming.query).await,
        };
        let target = admin::target(list, &entry)?;
        if let lists::Target::Number(phone) = &target {
            self.event.phone = Some(mask(phone));
            self.event.country = Some(phone.region.clone());
        }
        let (store, key) = (&self.services.store, &self.config.hash_key);
        let result = match incoming.method.as_str() {
            "PUT" => lists::add(store, key, list, &target, &utc(self.services.clock.now_ms())).await,
            "DELETE" => lists::remove(store, key, list, &target).await,
            _ => return Err(Reason::MethodNotAllowed { allow: "PUT, DELETE" }),
        };
        result.map_err(|_| store_failed())?;
        let name = if list == lists::List::Safe { "safelist" } else { "blocklist" };
        self.event.detail = Some(format!("{name} {}", if incoming.method == "PUT" { "add" } else { "remove" }));
        Ok(Outgoing::empty(204))
    }

    /// `GET /v1/admin/{events,stats,incidents}`: the decision log, read.
    async fn report(&mut self, route: admin::Route, query: &str) -> Result<Outgoing, Reason> {
        self.event.route = "admin";
        if self.config.decision_log == DecisionLog::Console {
            return Err(Reason::NotFound("the decision log is off (DECISION_LOG = \"console\")".into()));
        }
        let log_failed = |_| Reason::UpstreamError("the decision log is unavailable".into());
        let now = self.services.clock.now_ms();
        if route == admin::Route::Events {
            let q = Query::parse(query, 100, eventlog::MAX_PAGE).map_err(Reason::InvalidRequest)?;
            let rows = self.services.log.query(&q).await.map_err(log_failed)?;
            let format =
                form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "format").map(|(_, v)| v.into_owned());
            let next = (rows.len() == q.limit as usize).then(|| rows.last().map(|r| r.id)).flatten();
            return match format.as_deref().unwrap_or("json") {
                "json" => Ok(Outgoing::json(200, &json!({"events": rows, "next_cursor": next}))),
                "ndjson" => {
                    let body: String =
                        rows.iter().map(|r| serde_json::to_string(r).unwrap_or_default() + "\n").collect();
                    Ok(Outgoing::text(200, "application/x-ndjson", body))
                }
                "csv" => Ok(Outgoing::text(200, "text/csv; charset=utf-8", eventlog::to_csv(&rows))),
                _ => Err(Reason::InvalidRequest("`format` must be json, ndjson or csv".into())),
            };
        }
        // Stats and incidents read a time range (the last day unless `since` says otherwise).
        let mut q = Query::parse(query, eventlog::MAX_SCAN, eventlog::MAX_SCAN).map_err(Reason::InvalidRequest)?;
        q.since_ms = q.since_ms.or(Some(now.saturating_sub(86_400_000)));
        // Stats and incidents read the range in time order, whatever `order` says.
        q.newest_first = false;
        let rows = self.services.log.query(&q).await.map_err(log_failed)?;
        let body = match route {
            admin::Route::Stats => {
                let mut stats = eventlog::stats(&rows, now);
                let cap = |quotas: &[Quota], window_s: u32| {
                    quotas.iter().find(|q| q.window_s.get() == window_s).map(|q| mills_to_usd(u64::from(q.max.get())))
                };
                let caps = &self.config.spend_caps;
                stats["spend_caps_usd"] = json!({
                    "hourly": cap(&caps.global, 3600), "daily": cap(&caps.global, 86_400),
                    "country_hourly": cap(&caps.country, 3600), "country_daily": cap(&caps.country, 86_400),
                });
                stats
            }
            _ => eventlog::incidents(&rows, self.config.detector.window_min),
        };
        Ok(Outgoing::json(200, &body))
    }

    /// `DELETE /v1/admin/blocks/{dest}`: lifts a pumping block before its cool-down ends
    /// (`AS3215` lifts both of that network's blocks, home and abroad).
    async fn lift(&mut self, dest: &str) -> Result<Outgoing, Reason> {
        let dests = pumping::network_dests(dest).unwrap_or_else(|| vec![dest.to_owned()]);
        let detector = self.config.detector;
        let entries: Vec<Entry> = dests
            .iter()
            .map(|d| Entry::Traffic { key: format!("t:{d}"), dest: d.clone(), detector, abroad: false })
            .collect();
        let now = self.services.clock.now_ms();
        self.counters(Action::Lift, now, &entries).await?;
        self.event.detail = Some("pumping block lifted".into());
        for dest in dests {
            let protection = Protection { dest, action: "lifted".into(), trigger: None, until: None, figures: None };
            self.log_protection(protection, "lift", "ok", 204);
        }
        Ok(Outgoing::empty(204))
    }

    /// `POST /v1/verifications/check`.
    async fn check(&mut self, incoming: &Incoming) -> Result<Outgoing, Reason> {
        self.event.route = "check";
        let req = self.read_body(incoming, request::parse_check)?;
        let phone = self.read_phone(&req.phone, req.country.as_deref())?;
        let out = twilio::check_request(self.config, &phone.e164, &req.code);
        let checked = twilio::read_check(boxed(self.services.http.send(out)).await)?;
        self.event.approved = Some(checked.valid);
        if checked.valid {
            // Conversion tracking: the destinations' approvals. The answer stands even if
            // this bookkeeping fails; the log says so.
            let op = Action::Approve;
            let now = self.services.clock.now_ms();
            if self.counters(op, now, &self.traffic_entries(&phone, &incoming.client)).await.is_err() {
                self.event.detail = Some("approved, but the conversion count could not be stored".into());
            }
        }
        Ok(Outgoing::json(200, &json!({"status": checked.status, "valid": checked.valid})))
    }
}

fn store_failed() -> Reason {
    Reason::UpstreamError("the counter store is unavailable; nothing was sent".into())
}
