//! The Workers layer: the only code that names the `worker` crate.
//!
//! It binds the core's ports to the platform (`Date.now()`, Workers KV, `fetch` with a
//! timeout), copies the runtime's request into an [`Incoming`], runs [`guard::handle`],
//! writes the decision's log line, and turns the [`Outgoing`] back into a response.
//! Nothing here decides anything.
//!
//! The calls a request makes on every send (reading the request, KV, `fetch`, building
//! the response) go through `glue.js`, one crossing each with strings as the payload;
//! the `worker` crate provides `Env`, D1, the Durable Object and `wait_until`, and
//! worker-build the module's entry, which calls [`fetch`].

mod counter_object;
mod glue;
mod ports;

use crate::config::{Config, ConfigError, CounterBackend, DecisionLog};
use crate::counters::KvCounters;
use crate::guard::{self, Services};
use crate::http::{Incoming, Outgoing};
use crate::policy::ClientNetwork;
use crate::ports::memory::{MemoryStore, Upstreams};
use crate::request::MAX_BODY_BYTES;
use std::cell::OnceCell;
use std::future::Future;
use std::task::Poll;
use wasm_bindgen::prelude::*;
use worker::worker_sys::web_sys;
use worker::{console_error, console_log, Context, Env, Result};

/// The allocator: talc, made for WebAssembly, in place of Rust's default dlmalloc. Every
/// request allocates, so the allocator's `malloc` is the first function V8 optimises: with
/// dlmalloc (a 4.8 KB body) that TurboFan compile took ~8 ms inside a fresh isolate's first
/// request. A Workers isolate is single-threaded: no lock.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

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

/// The worker's fetch handler (worker-build's entry calls it with the request, `env` and
/// `ctx`). It is not `async`: `glue.js`'s `serve` reads the request and its body, then
/// calls [`decide`], which answers at once when the guard needs no I/O (every refusal of
/// bad input), and with a promise otherwise. A refusal thus costs no future, no promise
/// and no closure on the Rust side, as in a hand-written JS worker.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> js_sys::Promise {
    DECIDE.with(|decide| glue::serve(&req, &env, &ctx, MAX_BODY_BYTES as f64, decide.as_ref().unchecked_ref()))
}

/// Runs once when the module is instantiated, in the global scope, before any request:
/// the guard's common routes rehearsed in memory (see [`crate::rehearsal`]), so that a
/// fresh isolate's first request does not pay for compiling them.
#[worker::event(start)]
fn start() {
    let Some(config) = crate::rehearsal::config() else { return };
    let store = ports::EdgeStore::Rehearsal(MemoryStore::default());
    let services = Services {
        clock: ports::EdgeClock,
        store: &store,
        http: ports::EdgeHttp::Rehearsal(Upstreams::for_policy(&config)),
        counters: ports::EdgeCounters::Kv(KvCounters::new(&store)),
        log: ports::D1Log(None),
    };
    crate::rehearsal::rehearse(&config, &services);
}

thread_local! {
    /// [`decide`] as a JS function, made once per instance.
    static DECIDE: JsValue = Closure::<dyn Fn(String, JsValue, JsValue, JsValue) -> JsValue>::new(decide).into_js_value();
}

/// The request's facts (method, URL, client address, country, network, then the headers
/// the guard reads, "\n"-separated, [`glue::ABSENT`] for a missing one) and body (a
/// `Uint8Array`, or `null` past the body limit) to a `Response`, or to a promise of one
/// when the guard waits on I/O.
fn decide(facts: String, body: JsValue, env: JsValue, ctx: JsValue) -> JsValue {
    let mut handled = Box::pin(serve(incoming(&facts, body), env.unchecked_into(), Context::new(ctx.unchecked_into())));
    // Polled once here: a request that needs no I/O is answered now. One that does has
    // started it, and is handed to the executor, which polls it again with a waker of its
    // own (every future re-registers its waker on each poll).
    match handled.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        Poll::Ready(response) => response.into(),
        Poll::Pending => wasm_bindgen_futures::future_to_promise(async move { Ok(handled.await.into()) }).into(),
    }
}

async fn serve(incoming: Incoming, env: Env, ctx: Context) -> web_sys::Response {
    let config: &Result<Config, ConfigError> =
        CONFIG.with(|cell| *cell.get_or_init(|| Box::leak(Box::new(load_config(&env)))));
    let store = ports::EdgeStore::Kv(ports::KvStore::new(&env));
    let counters = match counter_object(config, &env) {
        Some(stub) => ports::EdgeCounters::Object(stub),
        None => ports::EdgeCounters::Kv(KvCounters::new(&store)),
    };
    // The decision log's database, looked up only when the config logs to D1.
    let log_to_d1 = config.as_ref().is_ok_and(|c| c.decision_log == DecisionLog::D1);
    let services = Services {
        clock: ports::EdgeClock,
        store: &store,
        http: ports::EdgeHttp::Fetch,
        counters,
        log: d1(&env, log_to_d1),
    };
    let handled = crate::ports::boxed(guard::handle(config.as_ref(), &services, &incoming)).await;
    log_events(&handled.events);
    if log_to_d1 && !handled.events.is_empty() {
        write_log_after_response(&ctx, d1(&env, true), handled.events);
    }
    outgoing(handled.response)
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

/// What the core reads of the request: the facts `glue.js` gathered (method, URL, client
/// and headers) and the body it read (at most the body limit).
fn incoming(facts: &str, body: JsValue) -> Incoming {
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
    incoming.body = body.dyn_into::<js_sys::Uint8Array>().ok().map(|bytes| bytes.to_vec());
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
