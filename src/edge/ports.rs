//! The core's ports on Workers: `Date.now()`, Workers KV and `fetch` with a timeout.

use crate::counters::{Counters, KvCounters, Op, Tally};
use crate::eventlog::{EventLog, EventSink, Query, Row, Sql};
use crate::ports::{Clock, Http, HttpFault, Inbound, Outbound, Store, StoreFault};
use futures_util::future::{select, Either};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

#[derive(Debug)]
pub struct EdgeClock;

impl Clock for EdgeClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }
}

/// Workers KV. `None` when the binding is missing (the config check reports that first).
pub struct KvStore(pub Option<worker::kv::KvStore>);

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvStore")
    }
}

/// KV refuses expiration TTLs under 60 seconds.
const KV_MIN_TTL_S: u64 = 60;

impl KvStore {
    fn kv(&self) -> Result<&worker::kv::KvStore, StoreFault> {
        self.0.as_ref().ok_or_else(|| StoreFault("KV binding missing".into()))
    }
}

impl Store for KvStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreFault> {
        self.kv()?.get(key).text().await.map_err(|e| StoreFault(e.to_string()))
    }

    /// Bulk reads instead of one read per key: KV takes 1 to 100 keys per call.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreFault> {
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut found = self.kv()?.get_bulk(chunk).text().await.map_err(|e| StoreFault(e.to_string()))?;
            values.extend(chunk.iter().map(|k| found.remove(k).flatten()));
        }
        Ok(values)
    }

    async fn put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), StoreFault> {
        let put = self.kv()?.put(key, value).map_err(|e| StoreFault(e.to_string()))?;
        put.expiration_ttl(ttl_s.max(KV_MIN_TTL_S)).execute().await.map_err(|e| StoreFault(e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreFault> {
        self.kv()?.delete(key).await.map_err(|e| StoreFault(e.to_string()))
    }

    async fn keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreFault> {
        let list = self.kv()?.list().prefix(prefix.to_owned()).limit(limit.min(1000) as u64);
        let listed = list.execute().await.map_err(|e| StoreFault(e.to_string()))?;
        Ok(listed.keys.into_iter().map(|k| k.name).collect())
    }
}

/// `fetch`, raced against a timer; the loser is aborted. Never retries.
#[derive(Debug)]
pub struct FetchHttp;

impl Http for FetchHttp {
    async fn send(&self, out: Outbound) -> Result<Inbound, HttpFault> {
        let network = |e: worker::Error| HttpFault::Network(e.to_string());
        let headers = Headers::new();
        for (name, value) in &out.headers {
            headers.set(name, value).map_err(network)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(out.method.to_owned())).with_headers(headers).with_body(Some(out.body.into()));
        let request = Request::new_with_init(&out.url, &init).map_err(network)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let call = Box::pin(async move {
            let mut response = fetch.send_with_signal(&signal).await?;
            let retry_after = response.headers().get("retry-after")?;
            let body = response.bytes().await?;
            Ok::<_, worker::Error>(Inbound { status: response.status_code(), retry_after, body })
        });
        let timer = Delay::from(std::time::Duration::from_millis(u64::from(out.timeout_ms)));
        let outcome = match select(call, timer).await {
            Either::Left((result, _)) => result.map_err(network),
            Either::Right(((), _)) => Err(HttpFault::Timeout),
        };
        if outcome == Err(HttpFault::Timeout) {
            controller.abort();
        }
        outcome
    }
}

/// The counter backend the config chose.
pub enum EdgeCounters<'a> {
    Kv(KvCounters<'a, KvStore>),
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
            EdgeCounters::Kv(kv) => kv.run(op).await,
            EdgeCounters::Object(stub) => {
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
        }
    }
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
