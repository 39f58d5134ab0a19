//! The CLI's edge: argument handling and I/O around core calls. `anyhow` lives here only.

mod check_config;
mod phone;
mod replay;

use anyhow::Context;
use std::collections::HashMap;

use std::process::ExitCode;

const USAGE: &str = "\
otp-guard: a firewall in front of OTP forms (operator tools)

usage:
  otp-guard check-config [wrangler.toml] [--env NAME] [--secrets FILE]
  otp-guard phone [--country CC] < numbers.txt
  otp-guard replay --config wrangler.toml [--env NAME] [--json] [--decisions FILE] traffic.jsonl
  otp-guard --version";

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check-config") => check_config::run(&args[1..]),
        Some("phone") => phone::run(&args[1..]),
        Some("replay") => replay::run(&args[1..]),
        Some("--version" | "-V") => {
            println!("otp-guard {}", otp_guard::VERSION);
            Ok(ExitCode::SUCCESS)
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    result.unwrap_or_else(|err| {
        eprintln!("otp-guard: {err:#}");
        ExitCode::from(2)
    })
}

/// Takes `--flag VALUE` out of `args`, returning the value.
fn take_flag(args: &mut Vec<String>, flag: &str) -> anyhow::Result<Option<String>> {
    let Some(i) = args.iter().position(|a| a == flag) else {
        return Ok(None);
    };
    if i + 1 >= args.len() {
        anyhow::bail!("{flag} needs a value");
    }
    let value = args.remove(i + 1);
    args.remove(i);
    Ok(Some(value))
}

/// The `[vars]` table (or `[env.NAME.vars]`) as strings: wrangler passes numbers and
/// booleans through as text, so they are accepted here the same way.
pub fn vars_of(text: &str, env: Option<&str>) -> anyhow::Result<HashMap<String, String>> {
    let doc: toml::Table = text.parse()?;
    let table = match env {
        None => doc.get("vars"),
        Some(name) => doc.get("env").and_then(|e| e.get(name)).and_then(|e| e.get("vars")),
    };
    let Some(table) = table else {
        return Ok(HashMap::new());
    };
    let table = table.as_table().context("[vars] is not a table")?;
    table
        .iter()
        .map(|(k, v)| {
            let value = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => v.to_string(),
                _ => anyhow::bail!("{k}: must be a string, number or boolean"),
            };
            Ok((k.clone(), value))
        })
        .collect()
}

/// `KEY=VALUE` lines, as in `.dev.vars`; `#` comments and optional quotes.
pub fn dotenv(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}
