//! `otp-guard check-config`: the worker's config validation, before deploy.

use anyhow::Context;
use otp_guard::config::{Config, SECRETS, VARS};
use std::process::ExitCode;

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut args = args.to_vec();
    let env = super::take_flag(&mut args, "--env")?;
    let secrets_file = super::take_flag(&mut args, "--secrets")?;
    if args.iter().any(|a| a == "--list") {
        print_reference();
        return Ok(ExitCode::SUCCESS);
    }
    let path = match args.as_slice() {
        [] => "wrangler.toml".to_owned(),
        [path] => path.clone(),
        _ => anyhow::bail!("check-config takes one wrangler.toml path"),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let vars = super::vars_of(&text, env.as_deref()).with_context(|| format!("reading [vars] of {path}"))?;
    let secrets = match &secrets_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
            Some(super::dotenv(&text))
        }
        None => None,
    };
    let lookup = |key: &str| vars.get(key).or(secrets.as_ref().and_then(|s| s.get(key))).cloned();
    match Config::load(lookup) {
        Ok(_) => {
            println!(
                "ok: {path}{} is a valid otp-guard policy",
                env.map(|e| format!(" [env.{e}]")).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        // Vars are validated before secrets, so an error on a secret means every var passed.
        Err(err) if secrets.is_none() && SECRETS.iter().any(|s| s.key == err.key) => {
            println!(
                "ok: {path} vars are valid; secrets not checked (pass --secrets FILE to check a .dev.vars-style file)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!("config_error: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The configuration reference, as a Markdown table (the README's comes from here).
fn print_reference() {
    println!("| var | default | meaning |\n| --- | --- | --- |");
    for var in VARS {
        let default = if var.default.is_empty() { "(empty)".to_owned() } else { format!("`{}`", var.default) };
        println!("| `{}` | {default} | {} |", var.key, var.meaning);
    }
    println!("\n| secret | required | meaning |\n| --- | --- | --- |");
    for secret in SECRETS {
        println!("| `{}` | {} | {} |", secret.key, if secret.required { "yes" } else { "no" }, secret.meaning);
    }
}
