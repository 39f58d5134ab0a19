//! The pipeline's test rig: `guard::handle` with a manual clock, an in-memory store and
//! decision log, and scripted Twilio/Turnstile fakes that record every request.
//!
//! Shared by the native pipeline tests and the `handle` fuzz target (`tests/fuzz`, which
//! includes this file by path), so both drive the guard the same way.

use otp_guard::config::Config;
use otp_guard::counters::KvCounters;
use otp_guard::event::Event;
use otp_guard::eventlog::MemoryLog;
use otp_guard::guard::{handle, Handled, Services};
use otp_guard::http::Incoming;
use otp_guard::policy::ClientNetwork;
use otp_guard::ports::memory::{block_on, ManualClock, MemoryStore};
use otp_guard::ports::{Http, HttpFault, Inbound, Outbound};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;

pub const TOKEN: &str = "XXXX.DUMMY.TOKEN.XXXX";
pub const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// How a fake upstream answers.
#[derive(Clone, Debug)]
pub enum Answer {
    Ok,
    Status(u16, &'static str),
    /// Any status and body (the `handle` fuzz target's replies).
    Reply(u16, Vec<u8>),
    Fault(HttpFault),
}

/// Twilio and Turnstile, scripted. Records every request.
#[derive(Debug)]
pub struct FakeHttp {
    pub turnstile: RefCell<Answer>,
    pub twilio: RefCell<Answer>,
    pub calls: RefCell<Vec<Outbound>>,
    /// The last code "sent" to each number.
    codes: RefCell<HashMap<String, String>>,
}

impl Default for FakeHttp {
    fn default() -> Self {
        FakeHttp {
            turnstile: RefCell::new(Answer::Ok),
            twilio: RefCell::new(Answer::Ok),
            calls: RefCell::default(),
            codes: RefCell::default(),
        }
    }
}

impl FakeHttp {
    pub fn count(&self, host_part: &str) -> usize {
        self.calls.borrow().iter().filter(|c| c.url.contains(host_part)).count()
    }
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.replace("%2B", "+"))).collect()
}

impl Http for FakeHttp {
    async fn send(&self, request: Outbound) -> Result<Inbound, HttpFault> {
        self.calls.borrow_mut().push(request.clone());
        let turnstile = request.url.contains("siteverify");
        let answer = if turnstile { self.turnstile.borrow().clone() } else { self.twilio.borrow().clone() };
        let ok = |body: Value| Ok(Inbound { status: 200, retry_after: None, body: body.to_string().into_bytes() });
        match answer {
            Answer::Fault(fault) => Err(fault),
            Answer::Status(status, body) => {
                Ok(Inbound { status, retry_after: Some("7".into()), body: body.as_bytes().to_vec() })
            }
            Answer::Reply(status, body) => Ok(Inbound { status, retry_after: Some("7".into()), body }),
            Answer::Ok if turnstile => {
                ok(json!({"success": true, "hostname": "example.com", "action": "", "error-codes": []}))
            }
            Answer::Ok => {
                let params = form(&request.body);
                let to = params.get("To").cloned().unwrap_or_default();
                if request.url.ends_with("/VerificationCheck") {
                    let right = self.codes.borrow().get(&to) == params.get("Code");
                    let status = if right { "approved" } else { "pending" };
                    ok(json!({"status": status, "valid": right}))
                } else {
                    self.codes.borrow_mut().insert(to, "123456".into());
                    Ok(Inbound {
                        status: 201,
                        retry_after: None,
                        body: json!({"sid": "VE0123456789abcdef0123456789abcdef", "status": "pending"})
                            .to_string()
                            .into_bytes(),
                    })
                }
            }
        }
    }
}

/// A guard with its fakes.
pub struct Rig {
    pub config: Config,
    pub clock: ManualClock,
    pub store: MemoryStore,
    pub http: FakeHttp,
    pub events: RefCell<Vec<Event>>,
    /// The decision log, as the edge would write it.
    pub log: MemoryLog,
}

pub struct Answered {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

pub fn config(vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", "native-test-auth-token"),
        ("TWILIO_VERIFY_SERVICE_SID", "VA00000000000000000000000000000000"),
        ("TURNSTILE_SECRET_KEY", "1x0000000000000000000000000000000AA"),
        ("HASH_KEY", "native-test-hash-key-0123"),
        ("ADMIN_TOKEN", "native-test-admin-token-0123"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    map.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Config::load(|k| map.get(k).cloned()).expect("test config is valid")
}

impl Rig {
    pub fn new(vars: &[(&str, &str)]) -> Rig {
        Rig::with_store(vars, MemoryStore::default())
    }

    pub fn with_store(vars: &[(&str, &str)], store: MemoryStore) -> Rig {
        Rig::with_config(config(vars), store)
    }

    pub fn with_config(config: Config, store: MemoryStore) -> Rig {
        Rig {
            config,
            clock: ManualClock::at(T0),
            store,
            http: FakeHttp::default(),
            events: RefCell::default(),
            log: MemoryLog::default(),
        }
    }

    /// The rig's ports, as the edge would bind them.
    pub fn services(&self) -> Services<&ManualClock, &MemoryStore, &FakeHttp, KvCounters<'_, MemoryStore>, &MemoryLog> {
        Services {
            clock: &self.clock,
            store: &self.store,
            http: &self.http,
            counters: KvCounters::new(&self.store),
            log: &self.log,
        }
    }

    pub fn request(&self, method: &str, path: &str, body: Option<Value>, ip: &str, auth: Option<&str>) -> Answered {
        let client = ClientNetwork { ip: ip.into(), country: Some("GB".into()), asn: Some(2856) };
        self.request_from(client, method, path, body, auth)
    }

    /// A request from `client` (its address, country and network as the edge reads them).
    pub fn request_from(
        &self,
        client: ClientNetwork,
        method: &str,
        path: &str,
        body: Option<Value>,
        auth: Option<&str>,
    ) -> Answered {
        let incoming = Incoming {
            method: method.into(),
            path: path.into(),
            content_type: Some("application/json".into()),
            authorization: auth.map(str::to_owned),
            body: Some(body.map(|b| b.to_string().into_bytes()).unwrap_or_default()),
            client,
            request_id: "test".into(),
            ..Incoming::default()
        };
        let out = self.handle(&incoming).response;
        let body = if out.body.is_empty() { Value::Null } else { serde_json::from_str(&out.body).unwrap() };
        Answered { status: out.status, body, headers: out.headers }
    }

    /// One request through `guard::handle`; its events are logged as the edge would.
    pub fn handle(&self, incoming: &Incoming) -> Handled {
        let services = self.services();
        let handled = block_on(handle(Ok(&self.config), &services, incoming));
        for event in &handled.events {
            self.log.append(event);
        }
        self.events.borrow_mut().extend(handled.events.iter().cloned());
        handled
    }

    pub fn send_from(&self, ip: &str, body: Value) -> Answered {
        self.request("POST", "/v1/verifications", Some(body), ip, None)
    }

    /// A send from `client`.
    pub fn send_as(&self, client: ClientNetwork, body: Value) -> Answered {
        self.request_from(client, "POST", "/v1/verifications", Some(body), None)
    }

    pub fn send(&self, phone: &str) -> Answered {
        self.send_from("203.0.113.7", json!({"phone": phone, "turnstile_token": TOKEN}))
    }

    pub fn last_event(&self) -> Event {
        self.events.borrow().last().cloned().expect("an event")
    }
}
