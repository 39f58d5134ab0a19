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
    async fn put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), StoreFault>;
    async fn delete(&self, key: &str) -> Result<(), StoreFault>;
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
