//! The pipeline: routes a request and walks it through the steps, cheapest first.
//!
//! [`handle`] is the whole product behind the HTTP surface. It takes the validated
//! config (or the error that made it invalid), the injected [`Services`] and an
//! [`Incoming`] request, and returns the response with the decision's log [`Event`].
//! It never panics on input and never calls Twilio for a request that any earlier step
//! refused.

use crate::config::{Config, ConfigError, Mode};
use crate::decision::Reason;
use crate::event::{utc, Event};
use crate::http::{add_cors, preflight, Incoming, Outgoing};
use crate::mask::{mask, number_hash};
use crate::phone::{self, Phone};
use crate::policy;
use crate::ports::{Clock, Http, Store};
use crate::request::{self, RequestError};
use crate::voice::{history_ttl_s, Gate, History};
use crate::{turnstile, twilio};
use serde_json::json;

/// The outside world, injected.
#[derive(Debug)]
pub struct Services<C, S, H> {
    pub clock: C,
    pub store: S,
    pub http: H,
}

/// A response and the decision behind it.
#[derive(Debug)]
pub struct Handled {
    pub response: Outgoing,
    /// The log line; `None` for requests that are not decisions (health, preflight).
    pub event: Option<Event>,
}

/// Routes and answers one request.
pub async fn handle<C: Clock, S: Store, H: Http>(
    config: Result<&Config, &ConfigError>,
    services: &Services<C, S, H>,
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
            return finish(Err(reason), event);
        }
    };
    if incoming.method == "OPTIONS" && incoming.preflight_method.is_some() {
        return Handled { response: preflight(config, incoming.origin.as_deref()), event: None };
    }
    let mut step = Step { config, services, event };
    let result = match (incoming.path.as_str(), incoming.method.as_str()) {
        ("/v1/health", "GET" | "HEAD") => {
            let body = json!({"status": "ok", "version": crate::VERSION});
            let mut response = Outgoing::json(200, &body);
            add_cors(config, incoming.origin.as_deref(), &mut response);
            return Handled { response, event: None };
        }
        ("/v1/health", _) => Err(Reason::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/v1/client-config", "GET" | "HEAD") => {
            let mut response = Outgoing::json(200, &client_config(config, incoming));
            add_cors(config, incoming.origin.as_deref(), &mut response);
            return Handled { response, event: None };
        }
        ("/v1/client-config", _) => Err(Reason::MethodNotAllowed { allow: "GET, HEAD" }),
        ("/v1/verifications", "POST") => step.send(incoming).await,
        ("/v1/verifications/check", "POST") => step.check(incoming).await,
        ("/v1/verifications" | "/v1/verifications/check", _) => Err(Reason::MethodNotAllowed { allow: "POST" }),
        _ => Err(Reason::NotFound("no such route".into())),
    };
    let mut handled = finish(result, step.event);
    add_cors(config, incoming.origin.as_deref(), &mut handled.response);
    handled
}

/// What a page needs to render the form: the Turnstile widget's key and script, the
/// channels on offer, and the visitor's country as a default for the country picker.
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
fn finish(result: Result<Outgoing, Reason>, mut event: Event) -> Handled {
    let response = match result {
        Ok(response) => {
            event.decision = "allow";
            event.reason = "ok";
            response
        }
        Err(reason) => {
            event.decision = "block";
            event.reason = reason.code();
            event.detail = Some(reason.detail());
            Outgoing::problem(&reason)
        }
    };
    event.status = response.status;
    let event = (!event.route.is_empty()).then_some(event);
    Handled { response, event }
}

/// One request's walk through the pipeline.
struct Step<'a, C, S, H> {
    config: &'a Config,
    services: &'a Services<C, S, H>,
    event: Event,
}

impl<C: Clock, S: Store, H: Http> Step<'_, C, S, H> {
    /// A policy refusal: enforced, or in monitor mode noted and let through.
    fn enforce(&mut self, result: Result<(), Reason>) -> Result<(), Reason> {
        match result {
            Err(reason) if self.config.mode == Mode::Monitor && reason.is_policy() => {
                self.event.would_block.push(reason.code());
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
        self.event.number_type = Some(phone.kind.as_str());
        Ok(phone)
    }

    fn history_key(&self, phone: &Phone) -> String {
        format!("gate:{}", number_hash(&self.config.hash_key, &phone.e164))
    }

    /// `POST /v1/verifications`.
    async fn send(&mut self, incoming: &Incoming) -> Result<Outgoing, Reason> {
        self.event.route = "send";
        let req = self.read_body(incoming, request::parse_send)?;
        self.event.channel = Some(req.channel.as_str());
        let phone = self.read_phone(&req.phone, req.country.as_deref())?;

        self.enforce(policy::check_destination(self.config, req.channel, &phone))?;
        self.enforce(policy::check_network(self.config, &incoming.client))?;

        let gate = Gate::from_config(self.config);
        let ttl = history_ttl_s(&gate);
        let key = self.history_key(&phone);
        let now = self.services.clock.now_ms();
        let stored = self.services.store.get(&key).await.map_err(|_| store_failed())?;
        let mut history =
            stored.and_then(|raw| serde_json::from_str::<History>(&raw).ok()).unwrap_or_default().recent(now, ttl);
        self.enforce(history.admit(&gate, req.channel, phone.kind, now))?;

        let captcha = match &req.turnstile_token {
            None => Err(Reason::CaptchaFailed("the captcha token is missing or invalid".into())),
            Some(token) => {
                let out = turnstile::verify_request(self.config, token, &incoming.client.ip);
                turnstile::read_verify(self.config, self.services.http.send(out).await)
            }
        };
        self.enforce(captcha)?;

        let out =
            twilio::send_request(self.config, &phone.e164, req.channel, &incoming.client.ip, req.locale.as_deref());
        let sent = twilio::read_send(self.services.http.send(out).await)?;
        self.event.twilio_sid = Some(sent.sid);

        let outlook = history.record(&gate, req.channel, self.services.clock.now_ms());
        let value = serde_json::to_string(&history).unwrap_or_default();
        if self.services.store.put(&key, &value, ttl).await.is_err() {
            // The code is on its way: answering an error now would invite a second send.
            self.event.detail = Some("sent, but the send history could not be stored".into());
        }
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

    /// `POST /v1/verifications/check`.
    async fn check(&mut self, incoming: &Incoming) -> Result<Outgoing, Reason> {
        self.event.route = "check";
        let req = self.read_body(incoming, request::parse_check)?;
        let phone = self.read_phone(&req.phone, req.country.as_deref())?;
        let out = twilio::check_request(self.config, &phone.e164, &req.code);
        let checked = twilio::read_check(self.services.http.send(out).await)?;
        if !checked.valid {
            self.event.detail = Some("wrong code".into());
        }
        Ok(Outgoing::json(200, &json!({"status": checked.status, "valid": checked.valid})))
    }
}

fn store_failed() -> Reason {
    Reason::UpstreamError("the counter store is unavailable; nothing was sent".into())
}
