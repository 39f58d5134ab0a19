//! The fuzz targets' checks (`tests/fuzz/src/checks.rs`) without libFuzzer: over every
//! input a fuzzer ever failed on (`tests/fuzz/regressions/<target>/`, each kept once
//! minimised and fixed) and over the seed corpora (`tests/fuzz/corpus/<target>/`).
//!
//! A finding whose fix belongs to work in progress elsewhere waits, minimised, in
//! `tests/fuzz/regressions/open/<target>/`: there it must still fail, so that the fix is
//! noticed and the input moved up to `regressions/<target>/`, where it must pass for good.

use crate::fuzz_checks;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 3] =
    [("request", fuzz_checks::request), ("phone", fuzz_checks::phone), ("handle", fuzz_checks::handle)];

/// Runs each target's check on every file under `dir/<target>/`; returns how many ran.
fn replay(dir: &str) -> usize {
    let (ran, failures) = run(dir);
    assert!(failures.is_empty(), "fuzz checks failed (panic messages above):\n{}", failures.join("\n"));
    ran
}

/// Each target's check on every file under `dir/<target>/`: how many ran, which failed.
fn run(dir: &str) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut failures = Vec::new();
    let mut ran = 0;
    for (target, check) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else { continue };
        let mut files: Vec<_> = entries.map(|e| e.expect("a readable directory").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("a readable input");
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(format!("{target}: {}", file.display()));
            }
        }
    }
    (ran, failures)
}

#[test]
fn every_saved_fuzz_regression_passes() {
    replay("tests/fuzz/regressions");
}

#[test]
fn every_fuzz_seed_passes() {
    assert!(replay("tests/fuzz/corpus") >= 60, "the seed corpora are missing");
}

#[test]
fn open_fuzz_findings_still_fail() {
    let (ran, failures) = run("tests/fuzz/regressions/open");
    assert_eq!(
        failures.len(),
        ran,
        "an open finding passes now: move it up to tests/fuzz/regressions/<target>/ (still failing: {failures:?})"
    );
}
