//! The core's only windows on the world: a clock, a key-value store and an HTTP client.
//!
//! The Workers layer implements them with `Date.now()`, Workers KV and `fetch`; tests and
//! `otp-guard replay` implement them in memory. The traits return this crate's own error
//! types, so nothing here names the `worker` crate.
//!
//! The traits use `async fn` without a `Send` bound on purpose: a Workers isolate is
//! single-threaded and its futures are not `Send`.
#![allow(async_fn_in_trait)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock {
    fn now_ms(&self) -> u64;
}

/// A store fault. The guard fails closed on it: no send, a clear `upstream_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFault(pub String);

impl fmt::Display for StoreFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

/// String values under string keys, each with an expiry. Workers KV's shape: no atomic
/// increment, and a TTL of at least 60 seconds (shorter TTLs are raised by the caller).
pub trait Store {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreFault>;
    /// Several keys at once (one bulk read on KV); values in the order of `keys`.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreFault> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }
    async fn put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), StoreFault>;
    async fn delete(&self, key: &str) -> Result<(), StoreFault>;
    /// Several writes in order, stopping at the first that fails (one call on the edge,
    /// where each call into the runtime costs).
    async fn write_many(&self, writes: &[Write]) -> Result<(), StoreFault> {
        for write in writes {
            match &write.value {
                Some(value) => self.put(&write.key, value, write.ttl_s).await?,
                None => self.delete(&write.key).await?,
            }
        }
        Ok(())
    }
    /// Keys starting with `prefix`, at most `limit` (for the admin API's list views).
    async fn keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreFault>;
}

/// A record to store (`None`: delete the key) and how long to keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub key: String,
    pub value: Option<String>,
    pub ttl_s: u64,
}

/// An HTTP request the core wants sent. The body is form- or JSON-encoded by the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub timeout_ms: u32,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub status: u16,
    /// The `Retry-After` header, when present.
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// Why no response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFault {
    Timeout,
    /// Connection refused, reset, DNS failure...: the message is for the log only.
    Network(String),
}

impl fmt::Display for HttpFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpFault::Timeout => f.write_str("timed out"),
            HttpFault::Network(why) => write!(f, "network error: {why}"),
        }
    }
}

/// Sends one request and returns its response. Implementations must not retry: a
/// retried Twilio send could deliver (and bill) a second message.
pub trait Http {
    async fn send(&self, request: Outbound) -> Result<Inbound, HttpFault>;
}

/// A future behind its own pointer, polled through a vtable, so that it stays a function
/// of its own instead of being inlined into its caller's state machine. In wasm a function
/// is compiled on its first call, so a route inlined into `handle` would make a fresh
/// isolate compile every route (the admin API included) on its first request; and V8's
/// baseline compiler costs more than linearly on one huge state machine with hundreds of
/// locals than on the same code as several small ones.
pub fn boxed<'a, T>(future: impl Future<Output = T> + 'a) -> Pin<Box<dyn Future<Output = T> + 'a>> {
    Box::pin(future)
}

// Borrowed ports are ports: a caller can keep ownership of its fakes.
impl<T: Clock + ?Sized> Clock for &T {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

impl<T: Store + ?Sized> Store for &T {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreFault> {
        (**self).get(key).await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreFault> {
        (**self).get_many(keys).await
    }
    async fn put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), StoreFault> {
        (**self).put(key, value, ttl_s).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreFault> {
        (**self).delete(key).await
    }
    async fn write_many(&self, writes: &[Write]) -> Result<(), StoreFault> {
        (**self).write_many(writes).await
    }
    async fn keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreFault> {
        (**self).keys(prefix, limit).await
    }
}

impl<T: Http + ?Sized> Http for &T {
    async fn send(&self, request: Outbound) -> Result<Inbound, HttpFault> {
        (**self).send(request).await
    }
}

/// In-memory implementations, for native tests and `otp-guard replay`.
pub mod memory {
    use super::{Clock, Http, HttpFault, Inbound, Outbound, Store, StoreFault};
    use crate::config::Config;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    /// A [`Store`] in a map. Expiry is not simulated: records carry their own times and
    /// the counters prune themselves. `failing()` builds one whose every call fails, and
    /// `fail_after(n)` one that fails from its n-th call on, for fault tests.
    #[derive(Debug, Default)]
    pub struct MemoryStore {
        map: RefCell<BTreeMap<String, String>>,
        calls: Cell<u64>,
        fail_from: Option<u64>,
    }

    impl MemoryStore {
        pub fn failing() -> MemoryStore {
            MemoryStore::fail_after(0)
        }

        pub fn fail_after(calls: u64) -> MemoryStore {
            MemoryStore { fail_from: Some(calls), ..MemoryStore::default() }
        }

        pub fn is_empty(&self) -> bool {
            self.map.borrow().is_empty()
        }

        /// Every record, for assertions.
        pub fn snapshot(&self) -> BTreeMap<String, String> {
            self.map.borrow().clone()
        }

        fn call(&self) -> Result<(), StoreFault> {
            let n = self.calls.get();
            self.calls.set(n + 1);
            match self.fail_from {
                Some(from) if n >= from => Err(StoreFault("injected failure".into())),
                _ => Ok(()),
            }
        }
    }

    impl Store for MemoryStore {
        async fn get(&self, key: &str) -> Result<Option<String>, StoreFault> {
            self.call()?;
            Ok(self.map.borrow().get(key).cloned())
        }

        async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreFault> {
            self.call()?;
            let map = self.map.borrow();
            Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
        }

        async fn put(&self, key: &str, value: &str, _ttl_s: u64) -> Result<(), StoreFault> {
            self.call()?;
            self.map.borrow_mut().insert(key.to_owned(), value.to_owned());
            Ok(())
        }

        async fn delete(&self, key: &str) -> Result<(), StoreFault> {
            self.call()?;
            self.map.borrow_mut().remove(key);
            Ok(())
        }

        async fn keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreFault> {
            self.call()?;
            Ok(self.map.borrow().keys().filter(|k| k.starts_with(prefix)).take(limit).cloned().collect())
        }
    }

    /// Drives a future whose every port is in memory (it never waits on anything) to
    /// completion, without an async runtime: replay and the benches use it.
    pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut cx = Context::from_waker(Waker::noop());
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// Turnstile and Twilio answered in memory with their documented successes, for
    /// `otp-guard replay` and the start-up rehearsal, whose requests never leave the
    /// process. Siteverify answers with the policy's own hostname and action, so a policy
    /// that pins them (`TURNSTILE_HOSTNAMES`, `TURNSTILE_ACTION`) passes; while
    /// `captcha_passes` is false it answers as a failed challenge.
    #[derive(Debug)]
    pub struct Upstreams {
        siteverify: String,
        pub captcha_passes: Cell<bool>,
    }

    impl Upstreams {
        pub fn for_policy(config: &Config) -> Upstreams {
            let hostname = config.turnstile_hostnames.first().map_or("localhost", String::as_str);
            let action = config.turnstile_action.as_deref().unwrap_or("");
            let siteverify =
                serde_json::json!({"success": true, "hostname": hostname, "action": action, "error-codes": []});
            Upstreams { siteverify: siteverify.to_string(), captcha_passes: Cell::new(true) }
        }
    }

    impl Http for Upstreams {
        async fn send(&self, request: Outbound) -> Result<Inbound, HttpFault> {
            let body: &str = if !request.url.ends_with("/siteverify") {
                if request.url.ends_with("/VerificationCheck") {
                    r#"{"sid":"VE00000000000000000000000000000000","status":"approved","valid":true}"#
                } else {
                    r#"{"sid":"VE00000000000000000000000000000000","status":"pending"}"#
                }
            } else if self.captcha_passes.get() {
                &self.siteverify
            } else {
                r#"{"success":false,"error-codes":["invalid-input-response"]}"#
            };
            Ok(Inbound { status: 200, retry_after: None, body: body.as_bytes().to_vec() })
        }
    }

    /// A clock the test moves by hand.
    #[derive(Debug, Default)]
    pub struct ManualClock(pub Cell<u64>);

    impl ManualClock {
        pub fn at(ms: u64) -> ManualClock {
            ManualClock(Cell::new(ms))
        }

        pub fn advance(&self, ms: u64) {
            self.0.set(self.0.get() + ms);
        }
    }

    impl Clock for ManualClock {
        fn now_ms(&self) -> u64 {
            self.0.get()
        }
    }
}
