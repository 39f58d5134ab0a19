//! `otp-guard phone`: what the guard makes of each number on stdin, one JSON line each.

use otp_guard::phone::parse;
use serde_json::json;
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut args = args.to_vec();
    let default_region = super::take_flag(&mut args, "--country")?;
    if let Some(extra) = args.first() {
        anyhow::bail!("unexpected argument {extra:?}; numbers are read from stdin");
    }
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.split(b'\n') {
        let line = line?;
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (input, region) = match line.split_once('\t') {
            Some((input, region)) if !region.trim().is_empty() => (input, Some(region.trim())),
            Some((input, _)) => (input, default_region.as_deref()),
            None => (line, default_region.as_deref()),
        };
        let row = match parse(input, region) {
            Ok(phone) => json!({
                "input": input, "valid": true, "e164": phone.e164,
                "region": phone.region, "type": phone.kind.as_str(),
            }),
            Err(err) => json!({
                "input": input, "valid": false, "e164": null, "region": null, "type": null,
                "error": err.to_string(),
            }),
        };
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
