//! The Workers layer: the only code that names the `worker` crate.
//!
//! It binds the core's ports to the platform (`Date.now()`, Workers KV, `fetch` with a
//! timeout), copies a `worker::Request` into an [`Incoming`], runs [`guard::handle`],
//! writes the decision's log line, and turns the [`Outgoing`] back into a response.
//! Nothing here decides anything.

mod counter_object;
mod ports;

use crate::config::{Config, ConfigError, CounterBackend, DecisionLog};
use crate::counters::KvCounters;
use crate::guard::{self, Services};
use crate::http::{Incoming, Outgoing};
use crate::policy::ClientNetwork;
use crate::request::MAX_BODY_BYTES;
use futures_util::StreamExt;
use std::cell::OnceCell;
use std::rc::Rc;
use worker::{console_error, console_log, event, Context, Env, Headers, Request, Response, Result};

/// The KV namespace binding `wrangler.toml` must declare.
pub const KV_BINDING: &str = "OTP_GUARD_KV";
/// The D1 database binding of the decision log.
pub const DB_BINDING: &str = "OTP_GUARD_DB";
/// The Durable Object binding for `COUNTER_BACKEND = "durable_object"`.
pub const COUNTERS_BINDING: &str = "OTP_GUARD_COUNTERS";

thread_local! {
    /// The config, validated once per isolate (a Workers isolate is single-threaded).
    /// Shared by reference count: a request takes a pointer, not a copy of every table.
    static CONFIG: OnceCell<Rc<Result<Config, ConfigError>>> = const { OnceCell::new() };
}

fn load_config(env: &Env) -> Result<Config, ConfigError> {
    let lookup = |key: &str| {
        // Vars and secrets are both plain strings on `env`; a JSON-typed var is read as
        // its JSON text so the validator can name it.
        env.var(key).map(|v| v.to_string()).ok()
    };
    let config = Config::load(lookup)?;
    if env.kv(KV_BINDING).is_err() {
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
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = CONFIG.with(|cell| Rc::clone(cell.get_or_init(|| Rc::new(load_config(&env)))));
    let config = config.as_ref();
    let incoming = incoming(&mut req).await;
    let store = ports::KvStore(env.kv(KV_BINDING).ok());
    let object = match config {
        Ok(c) if c.counter_backend == CounterBackend::DurableObject => {
            env.durable_object(COUNTERS_BINDING).and_then(|ns| ns.get_by_name("counters")).ok()
        }
        _ => None,
    };
    let kv_for_counters = ports::KvStore(env.kv(KV_BINDING).ok());
    let counters = match object {
        Some(stub) => ports::EdgeCounters::Object(stub),
        None => ports::EdgeCounters::Kv(KvCounters::new(&kv_for_counters)),
    };
    let log = ports::D1Log(env.d1(DB_BINDING).ok());
    let services = Services { clock: ports::EdgeClock, store, http: ports::FetchHttp, counters, log };
    let handled = guard::handle(config.as_ref(), &services, &incoming).await;
    for event in &handled.events {
        console_log!("{}", event.to_json());
    }
    let log_to_d1 = config.as_ref().is_ok_and(|c| c.decision_log == DecisionLog::D1);
    if log_to_d1 && !handled.events.is_empty() {
        // The decision log is written after the response, retried once (idempotently);
        // a batch it still refuses is printed with every row, for the operator to restore.
        let log = ports::D1Log(env.d1(DB_BINDING).ok());
        let events = handled.events;
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
    outgoing(handled.response)
}

/// Copies what the core reads out of the request, reading at most the body limit.
async fn incoming(req: &mut Request) -> Incoming {
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let cf = req.cf();
    let client = ClientNetwork {
        // Set by Cloudflare's edge on every request; a client cannot forge it there. Read
        // as an address all the same: anything else (a caller that is not the edge) is
        // an unknown client, never a string carried into keys, logs or upstream calls.
        ip: header("cf-connecting-ip")
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        country: cf.and_then(|cf| cf.country()),
        asn: cf.and_then(|cf| cf.asn()),
    };
    // The runtime's serialised URL: the `worker` crate has already cut the path out of it;
    // the query is what follows the first `?` (no `?` can come earlier in a serialised
    // URL). No second URL parse per request.
    let url = req.inner().url();
    let query = url.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or_default().to_owned());
    let mut incoming = Incoming {
        // The method as sent: the `worker` crate maps methods it does not know to GET.
        method: req.inner().method(),
        path: req.path(),
        query: query.unwrap_or_default(),
        origin: header("origin"),
        content_type: header("content-type"),
        authorization: header("authorization"),
        preflight_method: header("access-control-request-method"),
        body: None,
        client,
        request_id: header("cf-ray").unwrap_or_else(random_id),
    };
    let declared = header("content-length").and_then(|v| v.parse::<usize>().ok());
    incoming.body = match incoming.method.as_str() {
        "POST" | "PUT" | "PATCH" if declared.is_some_and(|n| n > MAX_BODY_BYTES) => None,
        // A declared length within the limit: the runtime holds the body to exactly that
        // length, so it is read in one call; otherwise chunk by chunk, bounded.
        "POST" | "PUT" | "PATCH" if declared.is_some() => req.bytes().await.ok(),
        "POST" | "PUT" | "PATCH" => read_bounded(req).await,
        _ => Some(Vec::new()),
    };
    incoming
}

/// Reads the body, giving up (`None`) as soon as it exceeds the limit, so a client
/// cannot make the guard buffer a large upload.
async fn read_bounded(req: &mut Request) -> Option<Vec<u8>> {
    let Ok(mut stream) = req.stream() else {
        return Some(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.ok()?);
        if body.len() > MAX_BODY_BYTES {
            return None;
        }
    }
    Some(body)
}

fn random_id() -> String {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:016x}", (a << 32) | b)
}

fn outgoing(out: Outgoing) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in &out.headers {
        headers.append(name, value)?;
    }
    let response = if out.body.is_empty() { Response::empty()? } else { Response::ok(out.body)? };
    Ok(response.with_status(out.status).with_headers(headers))
}
