//! Bindings to `glue.js`: the runtime calls a request makes on every send, one crossing
//! each, with strings and bytes as the only payloads (see the file's header for why).

use wasm_bindgen::prelude::*;
use worker::worker_sys::web_sys;

/// How `glue.js` marks an absent field.
pub const ABSENT: &str = "\0";

#[wasm_bindgen(module = "/src/edge/glue.js")]
extern "C" {
    /// Reads the request's facts and body (at most `limit` bytes), then answers with
    /// `decide(facts, body, env, ctx)`; see `edge::fetch`.
    pub fn serve(
        request: &web_sys::Request,
        env: &JsValue,
        ctx: &JsValue,
        limit: f64,
        decide: &js_sys::Function,
    ) -> js_sys::Promise;

    /// A response; `headers` are names and values, "\n"-separated (see [`pairs`]).
    pub fn respond(status: u16, headers: &str, body: &str) -> web_sys::Response;

    /// A bulk read of "\n"-separated keys: a JSON array of the values in key order.
    #[wasm_bindgen(js_name = kvGetMany, catch)]
    pub async fn kv_get_many(kv: &JsValue, keys: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = kvGet, catch)]
    pub async fn kv_get(kv: &JsValue, key: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = kvPut, catch)]
    pub async fn kv_put(kv: &JsValue, key: &str, value: &str, ttl_s: f64) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = kvDelete, catch)]
    pub async fn kv_delete(kv: &JsValue, key: &str) -> Result<JsValue, JsValue>;

    /// Writes in order, stopping at the first that fails: a JSON array of
    /// `[key, value or null, ttl_s]`.
    #[wasm_bindgen(js_name = kvWriteMany, catch)]
    pub async fn kv_write_many(kv: &JsValue, writes: &str) -> Result<JsValue, JsValue>;

    /// Up to `limit` key names under `prefix`, "\n"-separated.
    #[wasm_bindgen(js_name = kvList, catch)]
    pub async fn kv_list(kv: &JsValue, prefix: &str, limit: f64) -> Result<JsValue, JsValue>;

    /// One upstream call with a timeout: status "\n" Retry-After "\n" body.
    #[wasm_bindgen(catch)]
    pub async fn send(url: &str, method: &str, headers: &str, body: &str, timeout_ms: f64) -> Result<JsValue, JsValue>;

    /// Whether `send` failed by timing out.
    #[wasm_bindgen(js_name = isTimeout)]
    pub fn is_timeout(error: &JsValue) -> bool;
}

/// Header names and values as `glue.js` takes them. A value cannot hold a newline (the
/// runtime refuses one in a header), so the separator is unambiguous.
pub fn pairs<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::new();
    for (name, value) in headers {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(name);
        text.push('\n');
        text.push_str(value);
    }
    text
}

/// A rejected promise's message, for a fault's log line.
pub fn message(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "the runtime refused the call".to_owned())
}
