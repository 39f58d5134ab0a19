//! The native integration tests: one binary, data-driven tables, and the CLI end to end.

mod cli;
mod phone_differential;
mod phones;
mod pipeline;
