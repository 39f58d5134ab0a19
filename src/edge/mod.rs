//! The Workers layer: the only code that names the `worker` crate.
//!
//! It binds the core's ports to the platform (`Date.now()`, Workers KV, `fetch` with a
//! timeout), copies the runtime's request into an [`Incoming`], runs [`guard::handle`],
//! writes the decision's log line, and turns the [`Outgoing`] back into a response.
//! Nothing here decides anything.
//!
//! The calls a request makes on every send (reading the request, KV, `fetch`, building
//! the response) go through `glue.js`, one crossing each with strings as the payload;
//! the `worker` crate provides the entry point, `Env`, D1, the Durable Object and
//! `wait_until`.

mod counter_object;
mod glue;
mod ports;

use crate::config::{Config, ConfigError, CounterBackend, DecisionLog};
use crate::counters::KvCounters;
use crate::guard::{self, Services};
use crate::http::{Incoming, Outgoing};
use crate::policy::ClientNetwork;
use crate::request::MAX_BODY_BYTES;
use std::cell::OnceCell;
use wasm_bindgen::JsCast;
use worker::worker_sys::web_sys;
use worker::{console_error, console_log, event, Context, Env, Result};

/// The KV namespace binding `wrangler.toml` must declare.
pub const KV_BINDING: &str = "OTP_GUARD_KV";
/// The D1 database binding of the decision log.
pub const DB_BINDING: &str = "OTP_GUARD_DB";
/// The Durable Object binding for `COUNTER_BACKEND = "durable_object"`.
pub const COUNTERS_BINDING: &str = "OTP_GUARD_COUNTERS";

thread_local! {
    /// The config, validated once per isolate (a Workers isolate is single-threaded) and
    /// kept for the isolate's life: a request borrows it, copies nothing and drops nothing.
    static CONFIG: OnceCell<&'static Result<Config, ConfigError>> = const { OnceCell::new() };
}

/// Once per isolate; its own function (see `ports::boxed` on why size matters on wasm).
#[inline(never)]
fn load_config(env: &Env) -> Result<Config, ConfigError> {
    let lookup = |key: &str| {
        // Vars and secrets are both plain strings on `env`; a JSON-typed var is read as
        // its JSON text so the validator can name it.
        env.var(key).map(|v| v.to_string()).ok()
    };
    let config = Config::load(lookup)?;
    if ports::kv_binding(env).is_none() {
        return Err(ConfigError {
            key: KV_BINDING,
            problem: "KV namespace binding is missing from wrangler.toml".into(),
        });
    }
    if config.decision_log == DecisionLog::D1 && env.d1(DB_BINDING).is_err() {
        return Err(ConfigError {
            key: DB_BINDING,
            problem: "D1 database binding is missing from wrangler.toml".into(),
        });
    }
    if config.counter_backend == CounterBackend::DurableObject && env.durable_object(COUNTERS_BINDING).is_err() {
        return Err(ConfigError {
            key: COUNTERS_BINDING,
            problem: "COUNTER_BACKEND is durable_object but the Durable Object binding is missing".into(),
        });
    }
    Ok(config)
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    // Kept apart from the entry point's own wrapper (see `ports::boxed`).
    crate::ports::boxed(serve(req, env, ctx)).await
}

async fn serve(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let config: &Result<Config, ConfigError> =
        CONFIG.with(|cell| *cell.get_or_init(|| Box::leak(Box::new(load_config(&env)))));
    let incoming = crate::ports::boxed(incoming(&req)).await;
    let store = ports::KvStore::new(&env);
    let counters = match counter_object(config, &env) {
        Some(stub) => ports::EdgeCounters::Object(stub),
        None => ports::EdgeCounters::Kv(KvCounters::new(&store)),
    };
    // The decision log's database, looked up only when the config logs to D1.
    let log_to_d1 = config.as_ref().is_ok_and(|c| c.decision_log == DecisionLog::D1);
    let services =
        Services { clock: ports::EdgeClock, store: &store, http: ports::FetchHttp, counters, log: d1(&env, log_to_d1) };
    let handled = crate::ports::boxed(guard::handle(config.as_ref(), &services, &incoming)).await;
    log_events(&handled.events);
    if log_to_d1 && !handled.events.is_empty() {
        write_log_after_response(&ctx, d1(&env, true), handled.events);
    }
    Ok(outgoing(handled.response))
}

// The helpers below are functions of their own, not inlined into `serve`: code on the
// first request's path is compiled when first called, and smaller functions compile
// faster (see `ports::boxed`).

/// The `CounterObject` stub, when the config counts in a Durable Object.
#[inline(never)]
fn counter_object(config: &Result<Config, ConfigError>, env: &Env) -> Option<worker::Stub> {
    match config {
        Ok(c) if c.counter_backend == CounterBackend::DurableObject => {
            env.durable_object(COUNTERS_BINDING).and_then(|ns| ns.get_by_name("counters")).ok()
        }
        _ => None,
    }
}

/// The decision log's database (none unless the log is D1).
#[inline(never)]
fn d1(env: &Env, wanted: bool) -> ports::D1Log {
    ports::D1Log(if wanted { env.d1(DB_BINDING).ok() } else { None })
}

/// One log line per event.
#[inline(never)]
fn log_events(events: &[crate::event::Event]) {
    for event in events {
        web_sys::console::log_1(&event.to_json().into());
    }
}

/// The decision log is written after the response, retried once (idempotently); a batch
/// it still refuses is printed with every row, for the operator to restore.
#[inline(never)]
fn write_log_after_response(ctx: &Context, log: ports::D1Log, events: Vec<crate::event::Event>) {
    ctx.wait_until(async move {
        match crate::eventlog::append(&log, &events).await {
            Ok(1) => {}
            Ok(attempts) => console_log!(
                "{{\"warning\":\"decision log written on attempt {attempts}\",\"request_id\":{:?}}}",
                events[0].request_id
            ),
            Err(failure) => console_error!("{}", failure.line),
        }
    });
}

/// Copies what the core reads out of the request (one call into the runtime for the
/// method, URL, client and headers, one for the body), reading at most the body limit.
async fn incoming(req: &web_sys::Request) -> Incoming {
    let facts = glue::request_facts(req);
    let mut fields = facts.split('\n').map(|f| (f != glue::ABSENT).then(|| f.to_owned()));
    let mut next = || fields.next().flatten();
    let (method, url) = (next().unwrap_or_default(), next().unwrap_or_default());
    let client = ClientNetwork {
        // Set by Cloudflare's edge on every request; a client cannot forge it there. Read
        // as an address all the same: anything else (a caller that is not the edge) is
        // an unknown client, never a string carried into keys, logs or upstream calls.
        ip: next().and_then(|v| v.trim().parse::<std::net::IpAddr>().ok()).map(|ip| ip.to_string()).unwrap_or_default(),
        country: next(),
        asn: next().and_then(|v| v.parse().ok()),
    };
    // The runtime's serialised URL, split without a second parse.
    let (path, query) = crate::http::split_url(&url);
    let mut incoming = Incoming {
        path: path.to_owned(),
        query: query.to_owned(),
        origin: next(),
        content_type: next(),
        authorization: next(),
        preflight_method: next(),
        request_id: next().unwrap_or_else(random_id),
        body: None,
        client,
        method,
    };
    incoming.body = match incoming.method.as_str() {
        "POST" | "PUT" | "PATCH" => glue::read_body(req, MAX_BODY_BYTES as f64)
            .await
            .ok()
            .and_then(|body| body.dyn_into::<js_sys::Uint8Array>().ok())
            .map(|bytes| bytes.to_vec()),
        _ => Some(Vec::new()),
    };
    incoming
}

fn random_id() -> String {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:016x}", (a << 32) | b)
}

/// The core's answer as a runtime `Response`, built in one call.
#[inline(never)]
fn outgoing(out: Outgoing) -> web_sys::Response {
    glue::respond(out.status, &glue::pairs(out.headers.iter().map(|(k, v)| (*k, v.as_str()))), &out.body)
}
