//! `otp-guard`: the operator's command line, on the same core as the worker.
//!
//! - `otp-guard check-config [wrangler.toml] [--secrets .dev.vars] [--env NAME]`: validates the
//!   policy the worker would load, and reports the first bad key exactly as the worker's
//!   `500 config_error` would.
//! - `otp-guard phone [--country CC]`: reads numbers from stdin, one per line (`input` or
//!   `input<TAB>region`), and prints one JSON line each with what the guard makes of it.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    otp_guard_cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[path = "../cli/mod.rs"]
mod otp_guard_cli;
