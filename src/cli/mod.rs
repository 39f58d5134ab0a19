//! The CLI's edge: argument handling and I/O around core calls. `anyhow` lives here only.

mod check_config;
mod phone;

use std::process::ExitCode;

const USAGE: &str = "\
otp-guard: a firewall in front of OTP forms (operator tools)

usage:
  otp-guard check-config [wrangler.toml] [--env NAME] [--secrets FILE]
  otp-guard phone [--country CC] < numbers.txt
  otp-guard --version";

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check-config") => check_config::run(&args[1..]),
        Some("phone") => phone::run(&args[1..]),
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
