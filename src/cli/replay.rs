//! `otp-guard replay`: backtests a policy on past traffic.

use anyhow::Context;
use otp_guard::config::{placeholder_secret, Config};
use otp_guard::replay::{Replay, Report};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut args = args.to_vec();
    let config_path = super::take_flag(&mut args, "--config")?.unwrap_or_else(|| "wrangler.toml".into());
    let env = super::take_flag(&mut args, "--env")?;
    let decisions_path = super::take_flag(&mut args, "--decisions")?;
    let json = take_switch(&mut args, "--json");
    let input = match args.as_slice() {
        [path] => path.clone(),
        _ => anyhow::bail!("replay takes one traffic file (JSON lines; `-` for stdin)"),
    };

    let text = std::fs::read_to_string(&config_path).with_context(|| format!("reading {config_path}"))?;
    let vars = super::vars_of(&text, env.as_deref()).with_context(|| format!("reading [vars] of {config_path}"))?;
    // Replay never calls Twilio or Turnstile: placeholders stand in for the secrets.
    let config = Config::load(|key| vars.get(key).cloned().or_else(|| placeholder_secret(key).map(str::to_owned)))
        .map_err(|e| anyhow::anyhow!("config_error: {e}"))?;

    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(&input).with_context(|| format!("opening {input}"))?))
    };
    let mut decisions = match &decisions_path {
        Some(path) => Some(BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {path}"))?)),
        None => None,
    };

    // The CLI is native: wall-clock time for the throughput line is fine here.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut replay = Replay::new(&config);
    for line in reader.split(b'\n') {
        let line = line?;
        let line = String::from_utf8_lossy(&line);
        if line.trim().is_empty() {
            continue;
        }
        let decision = replay.line(&line);
        if let Some(out) = decisions.as_mut() {
            serde_json::to_writer(&mut *out, &decision)?;
            out.write_all(b"\n")?;
        }
    }
    if let Some(mut out) = decisions {
        out.flush()?;
    }
    let report = replay.finish();
    let elapsed = started.elapsed();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
        eprintln!(
            "replayed {} events in {:.2} s ({:.0} events/s)",
            report.events,
            elapsed.as_secs_f64(),
            report.events as f64 / elapsed.as_secs_f64().max(1e-9)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn take_switch(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

fn print_table(r: &Report) {
    let pct = |n: u64| if r.events == 0 { 0.0 } else { 100.0 * n as f64 / r.events as f64 };
    println!("{:<34} {:>10} {:>7}", "", "events", "share");
    println!("{:<34} {:>10} {:>6.1}%", "replayed", r.events, 100.0);
    println!("{:<34} {:>10} {:>6.1}%", "allowed", r.allowed, pct(r.allowed));
    println!("{:<34} {:>10} {:>6.1}%", "blocked", r.blocked, pct(r.blocked));
    for (reason, n) in &r.blocked_by_reason {
        println!("{:<34} {:>10} {:>6.1}%", format!("  {reason}"), n, pct(*n));
    }
    println!(
        "{:<34} {:>10} {:>6.1}%",
        "real users turned away (verified)",
        r.verified_blocked,
        pct(r.verified_blocked)
    );
    println!("{:<34} {:>10} {:>6.1}%", "unverified let through", r.unverified_allowed, pct(r.unverified_allowed));
    if r.invalid_lines > 0 {
        println!("{:<34} {:>10}", "unreadable lines", r.invalid_lines);
    }
    println!();
    println!("estimated cost without the guard  {:>10.2} USD", r.estimated_cost_usd.without_guard);
    println!("estimated cost with this policy   {:>10.2} USD", r.estimated_cost_usd.with_guard);
    if !r.protection_engaged.is_empty() {
        println!();
        println!("pumping blocks engaged:");
        for (dest, n) in &r.protection_engaged {
            println!("  {dest:<12} {n}");
        }
    }
}
