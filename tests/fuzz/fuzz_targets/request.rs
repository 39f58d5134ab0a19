//! `cargo fuzz run --fuzz-dir tests/fuzz request`: see `otp_guard_fuzz::checks::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otp_guard_fuzz::checks::request(data));
