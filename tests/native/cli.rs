//! `otp-guard` run as a user runs it.

use std::io::Write;
use std::process::{Command, Stdio};

fn otp_guard(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_otp-guard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("otp-guard runs");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// `otp-guard phone` gives, for every table row, exactly what the worker's parser gives.
#[test]
fn phone_command_agrees_with_the_core() {
    let rows = super::phones::rows();
    let stdin: String = rows
        .iter()
        .map(|r| match &r.region {
            Some(region) => format!("{}\t{region}\n", r.input),
            None => format!("{}\n", r.input),
        })
        .collect();
    let (code, stdout, _) = otp_guard(&["phone"], &stdin);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let nonblank: Vec<_> = rows.iter().filter(|r| !(r.input.trim().is_empty() && r.region.is_none())).collect();
    assert_eq!(lines.len(), nonblank.len());
    for (row, line) in nonblank.iter().zip(&lines) {
        let core = otp_guard::phone::parse(&row.input, row.region.as_deref());
        assert_eq!(line["input"], row.input.as_str(), "line {}", row.line);
        assert_eq!(line["valid"], core.is_ok(), "line {}", row.line);
        if let Ok(phone) = core {
            assert_eq!(line["e164"], phone.e164.as_str());
            assert_eq!(line["region"], phone.region.as_str());
            assert_eq!(line["type"], phone.kind.as_str());
        }
    }
}

#[test]
fn phone_command_default_country_and_bulk() {
    let (_, out, _) = otp_guard(&["phone", "--country", "GB"], "07400 123456\n07400 123456\tUS\n");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["e164"], "+447400123456");
    assert_eq!(lines[1]["valid"], false, "the per-line region wins over --country");

    let stdin = "+447400123456\n+12015550123\tUS\nnot a number\n".repeat(34_000);
    let (code, out, _) = otp_guard(&["phone"], &stdin);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 102_000);
}

#[test]
fn check_config_reports_the_bad_key() {
    let dir = std::env::temp_dir().join(format!("otp-guard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "name = \"x\"\n[vars]\nMODE = \"monitor\"\nUPSTREAM_TIMEOUT_MS = 2500\n").unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[vars]\nALLOWED_COUNTRIES_SMS = \"GB,Atlantis\"\n").unwrap();
    let secrets = dir.join("secrets");
    std::fs::write(&secrets, "TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000\nTWILIO_AUTH_TOKEN=t\n").unwrap();

    let (code, out, _) = otp_guard(&["check-config", good.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = otp_guard(&["check-config", bad.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(out.contains("ALLOWED_COUNTRIES_SMS") && !out.contains("Atlantis"), "{out}");
    let (code, out, _) =
        otp_guard(&["check-config", good.to_str().unwrap(), "--secrets", secrets.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(out.contains("TWILIO_VERIFY_SERVICE_SID"), "{out}");
    let (code, out, _) = otp_guard(&["check-config", "wrangler.toml", "--secrets", ".dev.vars.example"], "");
    assert_eq!(code, 0, "the shipped wrangler.toml and dev secrets are valid: {out}");
}

/// `otp-guard replay` end to end on a small fixture: the JSON report and the decisions file.
#[test]
fn replay_reports_and_writes_decisions_in_input_order() {
    let decisions = std::env::temp_dir().join(format!("otp-guard-decisions-{}.jsonl", std::process::id()));
    let (code, out, err) = otp_guard(
        &[
            "replay",
            "--config",
            "wrangler.toml",
            "--json",
            "--decisions",
            decisions.to_str().unwrap(),
            "tests/data/replay-fixture.jsonl",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["events"], 8);
    assert_eq!(report["invalid_lines"], 1);
    // Allowed: the first GB send, FR, CG. Blocked: captcha, premium rate, the GB resend
    // inside its back-off, the unreadable line, the call before any SMS.
    assert_eq!(report["allowed"], 3, "{report}");
    assert_eq!(report["blocked"], 5);
    assert_eq!(report["blocked_by_reason"]["captcha_failed"], 1);
    assert_eq!(report["blocked_by_reason"]["number_type_blocked"], 1);
    assert_eq!(report["blocked_by_reason"]["rate_limited"], 1);
    assert_eq!(report["blocked_by_reason"]["channel_not_allowed"], 1);
    assert_eq!(report["verified_blocked"], 1, "the GB resend was a real user");
    assert_eq!(report["unverified_allowed"], 1, "the CG send");
    assert_eq!(report["estimated_cost_usd"]["with_guard"], 0.05 + 0.05 + 0.30);

    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&decisions).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reasons: Vec<&str> = lines.iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "ok",
            "captcha_failed",
            "number_type_blocked",
            "rate_limited",
            "invalid_request",
            "channel_not_allowed",
            "ok",
            "ok"
        ]
    );
    assert!(lines.iter().all(|l| l["decision"] == if l["reason"] == "ok" { "allow" } else { "block" }));
    assert_eq!(lines[3]["scope"], "phone");
    std::fs::remove_file(decisions).ok();

    // The summary table, for people.
    let (code, out, _) = otp_guard(&["replay", "--config", "wrangler.toml", "tests/data/replay-fixture.jsonl"], "");
    assert_eq!(code, 0);
    assert!(out.contains("real users turned away") && out.contains("estimated cost with this policy"), "{out}");
}
