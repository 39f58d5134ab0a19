//! The native integration tests: one binary, data-driven tables, and the CLI end to end.

mod cli;
#[path = "../fuzz/src/checks.rs"]
mod fuzz_checks;
mod fuzz_regressions;
mod phone_differential;
mod phones;
mod pipeline;
mod rig;
