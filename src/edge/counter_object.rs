//! `COUNTER_BACKEND = "durable_object"`: the counters in one Durable Object.
//!
//! The object runs the core's [`apply`] on its own storage. While a storage call is in
//! flight the runtime delivers no other event to the object (its input gate), and the
//! handler makes no other I/O, so each operation's read-check-write is atomic: N
//! concurrent requests against a quota of N admit exactly N. One object serves the whole
//! deployment, which is plenty for OTP traffic (each operation is a few storage calls).

use crate::counters::{apply, Op};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct CounterObject {
    state: State,
}

impl std::fmt::Debug for CounterObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CounterObject")
    }
}

impl DurableObject for CounterObject {
    fn new(state: State, _env: Env) -> Self {
        CounterObject { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Ok(op) = req.json::<Op>().await else {
            return Response::error("not a counter operation", 400);
        };
        let storage = self.state.storage();
        let keys: Vec<String> = op.entries.iter().map(|e| e.key().to_owned()).collect();
        let found = storage.get_multiple(keys).await?;
        let (tally, writes) = apply(&op, |key| found.get(&key.into()).as_string());
        for write in writes {
            match write.value {
                Some(value) => storage.put(&write.key, value).await?,
                None => {
                    storage.delete(&write.key).await?;
                }
            }
        }
        Response::from_json(&tally)
    }
}
