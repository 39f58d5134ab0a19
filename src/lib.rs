//! otp-guard: a firewall in front of a "send me a code" form.
//!
//! The crate is a pure decision core plus a thin Cloudflare Workers layer. The core does
//! no I/O of its own: it builds the Twilio and Turnstile requests and reads their replies,
//! while the caller (the Workers layer in [`edge`], or the native CLI and tests) moves the
//! bytes. Time, counter storage and outbound HTTP are injected through the traits in
//! [`ports`], so every rule runs natively under `cargo test` with a fake clock.
//!
//! The modules follow a request through the pipeline, cheapest checks first:
//!
//! | step | module |
//! | --- | --- |
//! | parse and bound the request | [`request`] |
//! | parse the phone number | [`phone`] |
//! | safelist and blocklist | [`lists`] |
//! | country, number-type, channel and IP policy | [`policy`] |
//! | rate limits per IP, subnet, number, prefix, country, globally | [`limits`], stored by [`counters`] |
//! | the per-number send history and the voice gate | [`voice`] |
//! | Turnstile siteverify | [`turnstile`] |
//! | Twilio Verify | [`twilio`] |
//! | the outcome and its problem+json | [`decision`] |
//! | the structured log line | [`event`] |
//!
//! [`guard`] runs the steps in order; [`config`] turns `wrangler.toml` vars and secrets
//! into a validated [`config::Config`]; [`http`] holds the plain request/response types
//! and CORS; [`admin`] authenticates the operator's API.

pub mod admin;
pub mod config;
pub mod counters;
pub mod decision;
pub mod event;
pub mod eventlog;
pub mod guard;
pub mod http;
pub mod limits;
pub mod lists;
pub mod mask;
pub mod phone;
pub mod policy;
pub mod ports;
pub mod pumping;
pub mod rehearsal;
#[cfg(not(target_arch = "wasm32"))]
pub mod replay;
pub mod request;
pub mod spend;
pub mod turnstile;
pub mod twilio;
pub mod voice;

#[cfg(target_arch = "wasm32")]
mod edge;

/// The version reported by `GET /v1/health` and `otp-guard --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
