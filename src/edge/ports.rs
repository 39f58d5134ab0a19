//! The core's ports on Workers: `Date.now()`, Workers KV and `fetch` with a timeout.

use super::glue;
use crate::counters::{Counters, KvCounters, Op, Tally};
use crate::eventlog::{EventLog, EventSink, Query, Row, Sql};
use crate::ports::memory::{MemoryStore, Upstreams};
use crate::ports::{Clock, Http, HttpFault, Inbound, Outbound, Store, StoreFault, Write};
use std::cell::OnceCell;
use wasm_bindgen::JsValue;
use worker::{Delay, Method, Request, RequestInit};

#[derive(Debug)]
pub struct EdgeClock;

impl Clock for EdgeClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }
}

/// Workers KV, called through `glue.js` (one crossing per call, strings in and out).
/// The binding is looked up on first use (a refused request never touches KV); missing,
/// it is a fault (the config check reports that first).
pub struct KvStore<'a> {
    env: &'a worker::Env,
    binding: OnceCell<Option<JsValue>>,
}

impl<'a> KvStore<'a> {
    pub fn new(env: &'a worker::Env) -> Self {
        KvStore { env, binding: OnceCell::new() }
    }
}

impl std::fmt::Debug for KvStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvStore")
    }
}

/// KV refuses expiration TTLs under 60 seconds.
const KV_MIN_TTL_S: u64 = 60;
/// KV's bulk read takes 1 to 100 keys.
const KV_BULK_MAX: usize = 100;

fn kv_fault(error: JsValue) -> StoreFault {
    StoreFault(glue::message(&error))
}

/// The KV namespace binding as the runtime gives it, or `None` when `wrangler.toml` has no
/// such namespace (absent, or not an object). The one lookup both the config check and
/// the store use.
pub fn kv_binding(env: &worker::Env) -> Option<JsValue> {
    js_sys::Reflect::get(env, &JsValue::from_str(super::KV_BINDING)).ok().filter(JsValue::is_object)
}

impl KvStore<'_> {
    fn kv(&self) -> Result<&JsValue, StoreFault> {
        let binding = self.binding.get_or_init(|| kv_binding(self.env));
        binding.as_ref().ok_or_else(|| StoreFault("KV binding missing".into()))
    }
}

impl Store for KvStore<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreFault> {
        Ok(glue::kv_get(self.kv()?, key).await.map_err(kv_fault)?.as_string())
    }

    /// Bulk reads instead of one read per key, the keys passed as one string and the
    /// values returned as one JSON array.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreFault> {
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KV_BULK_MAX) {
            let found = glue::kv_get_many(self.kv()?, &chunk.join("\n")).await.map_err(kv_fault)?;
            let found: Vec<Option<String>> = found
                .as_string()
                .and_then(|json| serde_json::from_str(&json).ok())
                .filter(|v: &Vec<Option<String>>| v.len() == chunk.len())
                .ok_or_else(|| StoreFault("KV bulk read answered in an unexpected shape".into()))?;
            values.extend(found);
        }
        Ok(values)
    }

    async fn put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), StoreFault> {
        glue::kv_put(self.kv()?, key, value, ttl_s.max(KV_MIN_TTL_S) as f64).await.map_err(kv_fault)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreFault> {
        glue::kv_delete(self.kv()?, key).await.map_err(kv_fault)?;
        Ok(())
    }

    /// All of a request's counter writes in one call (the runtime awaits each in turn).
    async fn write_many(&self, writes: &[Write]) -> Result<(), StoreFault> {
        if writes.is_empty() {
            return Ok(());
        }
        let list: Vec<(&str, Option<&str>, u64)> =
            writes.iter().map(|w| (w.key.as_str(), w.value.as_deref(), w.ttl_s.max(KV_MIN_TTL_S))).collect();
        let json = serde_json::to_string(&list).map_err(|e| StoreFault(e.to_string()))?;
        glue::kv_write_many(self.kv()?, &json).await.map_err(kv_fault)?;
        Ok(())
    }

    async fn keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreFault> {
        let listed = glue::kv_list(self.kv()?, prefix, limit.min(1000) as f64).await.map_err(kv_fault)?;
        let names = listed.as_string().unwrap_or_default();
        Ok(names.split('\n').filter(|name| !name.is_empty()).map(str::to_owned).collect())
    }
}

/// The store a request runs on: Workers KV; or memory, for the start-up rehearsal (see
/// [`crate::rehearsal`]), which thereby calls the very functions a request calls.
#[derive(Debug)]
pub enum EdgeStore<'a> {
    Kv(KvStore<'a>),
    Rehearsal(MemoryStore),
}

impl Store for EdgeStore<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreFault> {
        match self {
            EdgeStore::Kv(kv) => kv.get(key).await,
            EdgeStore::Rehearsal(memory) => memory.get(key).await,
        }
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreFault> {
        match self {
            EdgeStore::Kv(kv) => kv.get_many(keys).await,
            EdgeStore::Rehearsal(memory) => memory.get_many(keys).await,
        }
    }

    async fn put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), StoreFault> {
        match self {
            EdgeStore::Kv(kv) => kv.put(key, value, ttl_s).await,
            EdgeStore::Rehearsal(memory) => memory.put(key, value, ttl_s).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreFault> {
        match self {
            EdgeStore::Kv(kv) => kv.delete(key).await,
            EdgeStore::Rehearsal(memory) => memory.delete(key).await,
        }
    }

    async fn write_many(&self, writes: &[Write]) -> Result<(), StoreFault> {
        match self {
            EdgeStore::Kv(kv) => kv.write_many(writes).await,
            EdgeStore::Rehearsal(memory) => memory.write_many(writes).await,
        }
    }

    async fn keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreFault> {
        match self {
            EdgeStore::Kv(kv) => kv.keys(prefix, limit).await,
            EdgeStore::Rehearsal(memory) => memory.keys(prefix, limit).await,
        }
    }
}

/// The upstreams: `fetch`; or, for the start-up rehearsal, answers made in memory.
#[derive(Debug)]
pub enum EdgeHttp {
    Fetch,
    Rehearsal(Upstreams),
}

impl Http for EdgeHttp {
    async fn send(&self, out: Outbound) -> Result<Inbound, HttpFault> {
        match self {
            EdgeHttp::Fetch => fetch(out).await,
            EdgeHttp::Rehearsal(upstreams) => upstreams.send(out).await,
        }
    }
}

/// `fetch`, raced against a timer in `glue.js`; the loser is aborted. Never retries.
async fn fetch(out: Outbound) -> Result<Inbound, HttpFault> {
    let headers = glue::pairs(out.headers.iter().map(|(k, v)| (*k, v.as_str())));
    let answer = glue::send(&out.url, out.method, &headers, &out.body, f64::from(out.timeout_ms)).await;
    let answer = match answer {
        Ok(text) => text.as_string().unwrap_or_default(),
        Err(error) if glue::is_timeout(&error) => return Err(HttpFault::Timeout),
        Err(error) => return Err(HttpFault::Network(glue::message(&error))),
    };
    let mut parts = answer.splitn(3, '\n');
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let retry_after = parts.next().filter(|v| *v != glue::ABSENT).map(str::to_owned);
    let body = parts.next().unwrap_or_default().as_bytes().to_vec();
    let status = status.ok_or_else(|| HttpFault::Network("the runtime answered without a status".into()))?;
    Ok(Inbound { status, retry_after, body })
}

/// The counter backend the config chose.
pub enum EdgeCounters<'a> {
    Kv(KvCounters<'a, EdgeStore<'a>>),
    /// The one `CounterObject` instance, whose storage serialises every operation.
    Object(worker::Stub),
}

impl std::fmt::Debug for EdgeCounters<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EdgeCounters::Kv(_) => "EdgeCounters::Kv",
            EdgeCounters::Object(_) => "EdgeCounters::Object",
        })
    }
}

impl Counters for EdgeCounters<'_> {
    async fn run(&self, op: &Op) -> Result<Tally, StoreFault> {
        match self {
            EdgeCounters::Kv(kv) => crate::ports::boxed(kv.run(op)).await,
            EdgeCounters::Object(stub) => crate::ports::boxed(object_run(stub, op)).await,
        }
    }
}

/// One operation in the `CounterObject`: its own function, so KV mode never compiles it.
async fn object_run(stub: &worker::Stub, op: &Op) -> Result<Tally, StoreFault> {
    let fault = |e: worker::Error| StoreFault(e.to_string());
    let body = serde_json::to_string(op).map_err(|e| StoreFault(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let request = Request::new_with_init("https://counters/op", &init).map_err(fault)?;
    let mut response = stub.fetch_with_request(request).await.map_err(fault)?;
    if response.status_code() != 200 {
        return Err(StoreFault(format!("counter object answered {}", response.status_code())));
    }
    response.json::<Tally>().await.map_err(fault)
}

/// The decision log in D1: read by the admin API, written after each response.
pub struct D1Log(pub Option<worker::D1Database>);

impl std::fmt::Debug for D1Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("D1Log")
    }
}

fn bind(params: &[Sql]) -> Vec<wasm_bindgen::JsValue> {
    use wasm_bindgen::JsValue;
    params
        .iter()
        .map(|p| match p {
            Sql::Null => JsValue::NULL,
            Sql::Int(i) => JsValue::from_f64(*i as f64),
            Sql::Real(r) => JsValue::from_f64(*r),
            Sql::Text(t) => JsValue::from_str(t),
        })
        .collect()
}

impl D1Log {
    fn db(&self) -> Result<&worker::D1Database, StoreFault> {
        self.0.as_ref().ok_or_else(|| StoreFault("D1 binding missing".into()))
    }
}

/// One batch, one D1 transaction: all rows or none.
impl EventSink for D1Log {
    async fn write(&self, batch: &[(String, Vec<Sql>)]) -> Result<(), StoreFault> {
        let db = self.db()?;
        let fault = |e: worker::Error| StoreFault(e.to_string());
        let statements = batch
            .iter()
            .map(|(sql, params)| db.prepare(sql).bind(&bind(params)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fault)?;
        db.batch(statements).await.map_err(fault)?;
        Ok(())
    }

    /// A moment before the retry, so a busy database can settle.
    async fn pause(&self) {
        Delay::from(std::time::Duration::from_millis(RETRY_PAUSE_MS)).await;
    }
}

/// The pause before the decision log's retry.
const RETRY_PAUSE_MS: u64 = 100;

impl EventLog for D1Log {
    async fn query(&self, query: &Query) -> Result<Vec<Row>, StoreFault> {
        let fault = |e: worker::Error| StoreFault(e.to_string());
        let (sql, params) = query.to_sql();
        let statement = self.db()?.prepare(sql).bind(&bind(&params)).map_err(fault)?;
        statement.all().await.map_err(fault)?.results::<Row>().map_err(fault)
    }
}
