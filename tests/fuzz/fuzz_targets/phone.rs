//! `cargo fuzz run --fuzz-dir tests/fuzz phone`: see `otp_guard_fuzz::checks::phone`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otp_guard_fuzz::checks::phone(data));
