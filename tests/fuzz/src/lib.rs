//! otp-guard's fuzz targets (`cargo fuzz run --fuzz-dir tests/fuzz <target>`): the checks
//! they make, shared with the native tests that replay every saved regression.

#[path = "../../native/rig.rs"]
pub mod rig;

pub mod checks;
