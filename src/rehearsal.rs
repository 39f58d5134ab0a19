//! The start-up rehearsal: the guard walked once through its common routes, entirely in
//! memory, when the worker's module is instantiated, before any request arrives.
//!
//! V8 compiles a WebAssembly function on its first call, so a fresh isolate's first
//! request pays for compiling every function on its path (and for the first use of the
//! phone metadata's patterns). [`rehearse`] moves that first use out of the request: the
//! edge runs it from the module's start function (`#[event(start)]`, in the global
//! scope, where Workers allow no I/O), with the embedded default policy, placeholder
//! secrets, an in-memory store, no decision log, and upstreams that answer as Twilio's
//! and Turnstile's success responses without leaving the process
//! ([`crate::ports::memory::Upstreams`], which replay uses too). Nothing it does is
//! kept: the store is dropped, and no real request's config, counter or answer depends on
//! it. Its answers are ignored; a policy that would not load, or a request that would wait
//! on I/O, only cuts it short. (The native tests run it on the in-memory ports.)

use crate::config::Config;
use crate::counters::Counters;
use crate::eventlog::EventLog;
use crate::guard::{handle, Services};
use crate::http::Incoming;
use crate::policy::ClientNetwork;
use crate::ports::{Clock, Http, Store};
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// The requests rehearsed: a send, a refused number, and a code check.
const REQUESTS: [(&str, &str); 3] = [
    ("/v1/verifications", r#"{"phone":"+41 78 123 45 67","turnstile_token":"rehearsal"}"#),
    ("/v1/verifications", r#"{"phone":"+41 78 123","turnstile_token":"rehearsal"}"#),
    ("/v1/verifications/check", r#"{"phone":"+41781234567","code":"123456"}"#),
];

/// The policy the rehearsal runs: the embedded defaults with placeholder secrets.
pub fn config() -> Option<Config> {
    Config::load(|key| crate::config::placeholder_secret(key).map(str::to_owned)).ok()
}

/// Walks the guard through [`REQUESTS`] on `services` (the edge's own port types, so that
/// the very functions a request calls are the ones compiled) and returns the statuses.
/// A request whose future is not ready after a few polls (it would be waiting on real
/// I/O) is given up: the rehearsal never blocks the start-up.
pub fn rehearse<C: Clock, S: Store, H: Http, K: Counters, L: EventLog>(
    config: &Config,
    services: &Services<C, S, H, K, L>,
) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (path, body) in REQUESTS {
        let incoming = Incoming {
            method: "POST".into(),
            path: path.into(),
            content_type: Some("application/json".into()),
            body: Some(body.as_bytes().to_vec()),
            client: ClientNetwork { ip: "192.0.2.1".into(), country: Some("CH".into()), asn: Some(3303) },
            request_id: "rehearsal".into(),
            ..Incoming::default()
        };
        let Some(handled) = poll_a_few_times(crate::ports::boxed(handle(Ok(config), services, &incoming))) else {
            continue;
        };
        for event in &handled.events {
            std::hint::black_box(event.to_json());
        }
        statuses.push(handled.response.status);
    }
    statuses
}

/// `Some` output if `future` completes within a few polls with a waker that never wakes.
fn poll_a_few_times<F: Future>(future: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = std::pin::pin!(future);
    (0..8).find_map(|_| match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::KvCounters;
    use crate::eventlog::MemoryLog;
    use crate::ports::memory::{ManualClock, MemoryStore, Upstreams};
    use crate::ports::{HttpFault, Inbound, Outbound};

    /// The rehearsal on in-memory ports, with the upstreams `http` makes for its policy.
    fn rehearse_with<H: Http>(http: impl Fn(&Config) -> H) -> Vec<u16> {
        let config = config().expect("the defaults and placeholders validate");
        let http = http(&config);
        let store = MemoryStore::default();
        let services = Services {
            clock: ManualClock::at(0),
            store: &store,
            http,
            counters: KvCounters::new(&store),
            log: MemoryLog::default(),
        };
        rehearse(&config, &services)
    }

    #[test]
    fn the_rehearsal_sends_refuses_and_checks() {
        assert_eq!(rehearse_with(Upstreams::for_policy), vec![202, 400, 200]);
    }

    /// Upstreams that never answer, as real I/O would in the global scope.
    struct Waiting;

    impl Http for Waiting {
        async fn send(&self, _: Outbound) -> Result<Inbound, HttpFault> {
            std::future::pending().await
        }
    }

    #[test]
    fn a_request_that_would_wait_on_io_is_given_up_at_once() {
        assert_eq!(rehearse_with(|_| Waiting), vec![400], "only the refusal needs no upstream");
    }
}
