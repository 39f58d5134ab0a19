//! `cargo fuzz run --fuzz-dir tests/fuzz handle`: see `otp_guard_fuzz::checks::handle`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otp_guard_fuzz::checks::handle(data));
