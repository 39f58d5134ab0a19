//! The deployed policy: `wrangler.toml` `[vars]` and `wrangler secret`s, validated once.
//!
//! Every key has an embedded default (the [`VARS`] table), so an empty `[vars]` is a
//! working, conservative guard. A value that does not parse is a [`ConfigError`] naming the
//! key and what is wrong with it, never the value itself: the same message reaches the
//! worker's `500 config_error` answer and `otp-guard check-config`.

use crate::decision::POLICY_CODES;
use crate::limits::{parse_quotas, Quota};
use crate::phone::{region_id, NumberType};
use crate::pumping::{Detector, LongWindow};
use crate::request::Channel;
use crate::spend::{usd_to_mills, PriceTable};
use std::collections::BTreeSet;
use std::fmt;

/// A policy variable: its name, embedded default and one-line meaning (the README's
/// configuration reference is generated from the same table by `otp-guard check-config
/// --list`).
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub key: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Every `[vars]` key the guard reads.
pub const VARS: &[Var] = &[
    Var {
        key: "MODE",
        default: "enforce",
        meaning: "`enforce` blocks; `monitor` runs every check, logs what it would have blocked and blocks nothing",
    },
    Var { key: "CHANNELS", default: "sms,call", meaning: "channels a client may ask for (`sms`, `call`, `whatsapp`)" },
    Var {
        key: "ALLOWED_COUNTRIES_SMS",
        default: "*",
        meaning: "regions (ISO alpha-2, comma-separated) an SMS may go to; `*` for all",
    },
    Var { key: "ALLOWED_COUNTRIES_CALL", default: "*", meaning: "regions a voice call may go to; `*` for all" },
    Var {
        key: "ALLOWED_COUNTRIES_WHATSAPP",
        default: "*",
        meaning: "regions a WhatsApp message may go to; `*` for all",
    },
    Var { key: "DENIED_COUNTRIES_SMS", default: "", meaning: "regions never sent an SMS (wins over the allow list)" },
    Var { key: "DENIED_COUNTRIES_CALL", default: "", meaning: "regions never called (wins over the allow list)" },
    Var { key: "DENIED_COUNTRIES_WHATSAPP", default: "", meaning: "regions never sent a WhatsApp message" },
    Var {
        key: "ALLOWED_TYPES_SMS",
        default: "mobile,fixed_line_or_mobile",
        meaning: "number types an SMS may go to (see the number types table)",
    },
    Var {
        key: "ALLOWED_TYPES_CALL",
        default: "mobile,fixed_line,fixed_line_or_mobile",
        meaning: "number types that may be called",
    },
    Var {
        key: "ALLOWED_TYPES_WHATSAPP",
        default: "mobile,fixed_line_or_mobile",
        meaning: "number types a WhatsApp message may go to",
    },
    Var {
        key: "DENIED_IP_COUNTRIES",
        default: "",
        meaning: "client IP countries (`request.cf.country`) refused with `ip_blocked`; `T1` is Tor",
    },
    Var {
        key: "DENIED_ASNS",
        default: "",
        meaning: "client networks (`request.cf.asn`, comma-separated numbers) refused with `ip_blocked`",
    },
    Var {
        key: "ALLOWED_ORIGINS",
        default: "",
        meaning:
            "origins (`https://app.example.com`, comma-separated) that may call the API from a browser; `*` for any",
    },
    Var {
        key: "TWILIO_BASE_URL",
        default: "https://verify.twilio.com",
        meaning: "Twilio Verify API base URL (a local stand-in in development)",
    },
    Var {
        key: "TURNSTILE_BASE_URL",
        default: "https://challenges.cloudflare.com",
        meaning: "Turnstile siteverify base URL (a local stand-in in development)",
    },
    Var {
        key: "TURNSTILE_HOSTNAMES",
        default: "",
        meaning: "hostnames a Turnstile token must have been issued on (comma-separated); empty accepts any",
    },
    Var { key: "TURNSTILE_ACTION", default: "", meaning: "the widget `action` a token must carry; empty accepts any" },
    Var {
        key: "TURNSTILE_SITE_KEY",
        default: "1x00000000000000000000AA",
        meaning: "the widget's public site key, handed to pages by `GET /v1/client-config` (default: Cloudflare's always-pass test key)",
    },
    Var {
        key: "TURNSTILE_SCRIPT_URL",
        default: "https://challenges.cloudflare.com/turnstile/v0/api.js",
        meaning: "the Turnstile script pages load (a local stand-in in development)",
    },
    Var {
        key: "UPSTREAM_TIMEOUT_MS",
        default: "5000",
        meaning: "how long to wait for Twilio or Turnstile before failing closed (100 to 30000)",
    },
    Var {
        key: "COUNTER_BACKEND",
        default: "kv",
        meaning: "`kv`: counters in Workers KV (approximate under bursts); `durable_object`: exact counting in a Durable Object",
    },
    Var {
        key: "DECISION_LOG",
        default: "d1",
        meaning: "`d1`: every decision written to the D1 decision log (admin events, stats, incidents) and the console; `console`: the console log line only (no D1 binding needed, the admin log endpoints answer 404)",
    },
    Var { key: "LIMITS_IP", default: "20/1h,50/1d", meaning: "sends per client IP (quotas like `20/1h,50/1d`; units s, m, h, d)" },
    Var {
        key: "LIMITS_SUBNET",
        default: "60/1h,150/1d",
        meaning: "sends per client network (/24 for IPv4, /64 for IPv6)",
    },
    Var {
        key: "RISKY_ASNS",
        default: "16509,14618,8075,15169,396982,14061,16276,24940,63949,20473,45102,132203,9009,212238",
        meaning: "client networks (AS numbers) held to `LIMITS_IP_RISKY`: by default large cloud and hosting providers, where bots run and people rarely do",
    },
    Var {
        key: "LIMITS_IP_RISKY",
        default: "3/1h,5/1d",
        meaning: "sends per IP and per network for clients in `RISKY_ASNS`",
    },
    Var { key: "LIMITS_PHONE", default: "5/1h,10/1d", meaning: "sends per phone number, all channels (the voice gate also paces resends)" },
    Var {
        key: "PREFIX_LENGTH",
        default: "8",
        meaning: "digits of the E.164 number (after `+`) that make a prefix, for `LIMITS_PREFIX` (4 to 14)",
    },
    Var {
        key: "LIMITS_PREFIX",
        default: "20/1h,60/1d",
        meaning: "sends per number prefix: sequential-number pumping walks one block",
    },
    Var {
        key: "COUNTRY_LIMITS",
        default: "*:100/1h,500/1d",
        meaning: "sends per destination country, by group: `US,CA,GB:1000/1h;*:50/1h,200/1d` (`*` is every other country; each country counts separately)",
    },
    Var { key: "LIMITS_GLOBAL", default: "1000/1h,10000/1d", meaning: "sends in total" },
    Var {
        key: "PUMPING_WINDOW_MIN",
        default: "15",
        meaning: "pumping detector: the recent window compared with the destination's baseline (minutes, 5 to 60)",
    },
    Var {
        key: "PUMPING_SPIKE_FACTOR",
        default: "5",
        meaning: "pumping detector: window volume at least this many times the baseline is a spike",
    },
    Var { key: "PUMPING_MIN_SENDS", default: "20", meaning: "pumping detector: fewer sends than this in the window are never judged" },
    Var {
        key: "PUMPING_CONVERSION_DROP",
        default: "0.3",
        meaning: "pumping detector: conversion below this fraction of the destination's normal is a collapse",
    },
    Var {
        key: "PUMPING_CONVERSION_FLOOR",
        default: "0.1",
        meaning: "pumping detector: conversion below this is a collapse whatever the normal (and for new destinations)",
    },
    Var {
        key: "PUMPING_ALLOWANCE_MIN",
        default: "10",
        meaning: "pumping detector: codes sent in the last minutes are left out of the conversion (not entered yet)",
    },
    Var { key: "PUMPING_COOLDOWN_MIN", default: "30", meaning: "how long an automatic pumping block lasts (minutes)" },
    Var { key: "PUMPING_BASELINE_DAYS", default: "7", meaning: "days of traffic a destination's baseline is learned from (1 to 14)" },
    Var {
        key: "PUMPING_NETWORK_WINDOW_H",
        default: "24",
        meaning: "network detector: hours of a client network's sends whose conversion is judged (1 to 168, at most the baseline period)",
    },
    Var {
        key: "PUMPING_NETWORK_MIN_SENDS",
        default: "15",
        meaning: "network detector: a network (ASN, numbers at home or abroad) with fewer matured sends in its window is never judged; 0 turns the detector off",
    },
    Var {
        key: "PUMPING_NETWORK_CONVERSION_FLOOR",
        default: "0.3",
        meaning: "network detector: a network whose sends convert below this is blocked for `PUMPING_COOLDOWN_MIN`",
    },
    Var {
        key: "PUMPING_NETWORK_CONVERSION_DROP",
        default: "0.5",
        meaning: "network detector: conversion below this fraction of the network's own normal (the baseline before its window) is also a collapse",
    },
    Var {
        key: "PUMPING_SLOW_WINDOW_H",
        default: "24",
        meaning: "slow-pumping judgement: hours of a destination's sends (country or prefix) whose conversion is judged (1 to 168, at most the baseline period)",
    },
    Var {
        key: "PUMPING_SLOW_MIN_SENDS",
        default: "12",
        meaning: "slow-pumping judgement: a destination with fewer matured sends in its window is never judged by it; 0 turns it off",
    },
    Var {
        key: "PUMPING_SLOW_NEW_MIN_SENDS",
        default: "12",
        meaning: "slow-pumping judgement: for a destination with no traffic in the baseline period before its window, this many matured sends suffice (at most `PUMPING_SLOW_MIN_SENDS`); lower it only once the guard has a baseline period of traffic",
    },
    Var {
        key: "PUMPING_SLOW_CONVERSION_FLOOR",
        default: "0.15",
        meaning: "slow-pumping judgement: a destination whose sends of the window convert below this is blocked for `PUMPING_COOLDOWN_MIN`",
    },
    Var {
        key: "PUMPING_SLOW_CONVERSION_DROP",
        default: "0.3",
        meaning: "slow-pumping judgement: conversion below this fraction of the destination's own normal (the baseline before its window) is also a collapse",
    },
    Var {
        key: "PUMPING_UNSERVED_MIN_SENDS",
        default: "3",
        meaning: "a destination nobody entered a code for in the baseline period: after this many of its codes (in the slow window) go unentered, clients outside its country are refused it for `PUMPING_COOLDOWN_MIN` (those in it are still served); 0 turns it off",
    },
    Var {
        key: "PRICES",
        default: "sms=0.05,call=0.10,whatsapp=0.05;242:sms=0.30,call=0.80;371:sms=0.20,call=0.50;7:sms=0.35,call=0.40;998:sms=0.35,call=0.60;996:sms=0.30,call=0.60;992:sms=0.30,call=0.60",
        meaning: "estimated USD per SMS and per call: a default, then overrides by calling code (`242:sms=0.30,call=0.80`)",
    },
    Var { key: "SPEND_CAP_HOURLY_USD", default: "50", meaning: "estimated spend per hour, all destinations (0: no cap)" },
    Var { key: "SPEND_CAP_DAILY_USD", default: "500", meaning: "estimated spend per day, all destinations (0: no cap)" },
    Var { key: "SPEND_CAP_COUNTRY_HOURLY_USD", default: "10", meaning: "estimated spend per hour to any one country (0: no cap)" },
    Var { key: "SPEND_CAP_COUNTRY_DAILY_USD", default: "100", meaning: "estimated spend per day to any one country (0: no cap)" },
    Var {
        key: "MONITOR_RULES",
        default: "",
        meaning: "codes that only log even in enforce mode (e.g. `rate_limited,captcha_failed`): per-rule monitor mode",
    },
    Var {
        key: "VOICE_GATE_SMS_ATTEMPTS",
        default: "3",
        meaning: "SMS attempts to a number before a call to it is allowed (0 turns the gate off)",
    },
    Var {
        key: "VOICE_GATE_MIN_DELAY_S",
        default: "30",
        meaning: "seconds the first SMS resend must wait; each later one waits twice as long as the one before",
    },
];

/// A secret (`wrangler secret put`, or `.dev.vars` locally).
#[derive(Debug, Clone, Copy)]
pub struct Secret {
    pub key: &'static str,
    pub required: bool,
    pub meaning: &'static str,
}

/// Every secret the guard reads.
pub const SECRETS: &[Secret] = &[
    Secret { key: "TWILIO_ACCOUNT_SID", required: true, meaning: "Twilio account SID (`AC...`)" },
    Secret {
        key: "TWILIO_AUTH_TOKEN",
        required: false,
        meaning: "Twilio auth token; required unless an API key pair is set",
    },
    Secret {
        key: "TWILIO_API_KEY_SID",
        required: false,
        meaning: "Twilio API key SID (`SK...`), used instead of the auth token",
    },
    Secret { key: "TWILIO_API_KEY_SECRET", required: false, meaning: "the API key's secret" },
    Secret { key: "TWILIO_VERIFY_SERVICE_SID", required: true, meaning: "Verify service SID (`VA...`)" },
    Secret { key: "TURNSTILE_SECRET_KEY", required: true, meaning: "Turnstile widget secret key" },
    Secret {
        key: "HASH_KEY",
        required: true,
        meaning: "key for the keyed hash of numbers in the decision log (at least 16 characters)",
    },
    Secret {
        key: "ADMIN_TOKEN",
        required: false,
        meaning: "bearer token for `/v1/admin/*`; without it the admin routes answer 404",
    },
];

/// Stand-ins for the required secrets, for a policy whose requests never leave the process
/// (`otp-guard replay`, the start-up rehearsal): shaped to validate, never sent anywhere.
pub fn placeholder_secret(key: &str) -> Option<&'static str> {
    Some(match key {
        "TWILIO_ACCOUNT_SID" => "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN" => "placeholder-auth-token",
        "TWILIO_VERIFY_SERVICE_SID" => "VA00000000000000000000000000000000",
        "TURNSTILE_SECRET_KEY" => "placeholder-turnstile-secret",
        "HASH_KEY" => "placeholder-hash-key-0123456789",
        _ => return None,
    })
}

/// What is wrong with the deployed configuration. Names the key, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Monitor,
}

/// A set of regions: everything, or a listed few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regions {
    Any,
    Only(BTreeSet<String>),
}

impl Regions {
    pub fn contains(&self, region: &str) -> bool {
        match self {
            Regions::Any => true,
            Regions::Only(set) => set.contains(region),
        }
    }
}

/// Where one channel may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPolicy {
    pub enabled: bool,
    pub allowed_countries: Regions,
    pub denied_countries: BTreeSet<String>,
    pub allowed_types: BTreeSet<NumberType>,
}

/// How the guard authenticates to Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioCredentials {
    pub account_sid: String,
    /// The Basic-auth user: the account SID, or an API key SID.
    pub username: String,
    pub password: String,
    pub service_sid: String,
}

/// The validated policy and secrets of one deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mode: Mode,
    pub sms: ChannelPolicy,
    pub call: ChannelPolicy,
    pub whatsapp: ChannelPolicy,
    pub denied_ip_countries: BTreeSet<String>,
    pub denied_asns: BTreeSet<u32>,
    pub allowed_origins: Origins,
    pub twilio_base_url: String,
    pub turnstile_base_url: String,
    pub turnstile_hostnames: BTreeSet<String>,
    pub turnstile_action: Option<String>,
    pub turnstile_site_key: String,
    pub turnstile_script_url: String,
    pub upstream_timeout_ms: u32,
    pub voice_gate_sms_attempts: u32,
    pub voice_gate_min_delay_s: u32,
    pub counter_backend: CounterBackend,
    pub decision_log: DecisionLog,
    pub limits: Limits,
    pub monitor_rules: BTreeSet<&'static str>,
    pub detector: Detector,
    pub prices: PriceTable,
    pub spend_caps: SpendCaps,
    pub twilio: TwilioCredentials,
    pub turnstile_secret: String,
    pub hash_key: String,
    pub admin_token: Option<String>,
}

/// Caps on estimated spend, in mills (tenths of a cent) per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendCaps {
    pub global: Vec<Quota>,
    pub country: Vec<Quota>,
}

/// Where the counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterBackend {
    Kv,
    DurableObject,
}

/// Where decisions are recorded besides the console log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionLog {
    D1,
    Console,
}

/// The rate limits of every scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub ip: Vec<Quota>,
    pub subnet: Vec<Quota>,
    pub risky_asns: BTreeSet<u32>,
    pub ip_risky: Vec<Quota>,
    pub phone: Vec<Quota>,
    pub prefix_length: usize,
    pub prefix: Vec<Quota>,
    /// Country groups in order; the first that lists a country applies.
    pub countries: Vec<(Regions, Vec<Quota>)>,
    pub global: Vec<Quota>,
}

impl Limits {
    /// The quotas for destination `region` (none if no group covers it).
    pub fn country(&self, region: &str) -> &[Quota] {
        self.countries.iter().find(|(regions, _)| regions.contains(region)).map_or(&[], |(_, q)| q)
    }
}

/// Which browser origins get CORS headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    Any,
    Only(BTreeSet<String>),
}

impl Config {
    pub fn channel(&self, channel: Channel) -> &ChannelPolicy {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Call => &self.call,
            Channel::Whatsapp => &self.whatsapp,
        }
    }

    /// Reads every var and secret through `lookup` (absent → the embedded default for
    /// vars, an error for required secrets) and validates them. Keys are read in table
    /// order, so the first bad key reported is deterministic.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |key: &'static str| -> Value {
            let default = VARS.iter().find(|v| v.key == key).map(|v| v.default).unwrap_or("");
            Value { key, raw: lookup(key).unwrap_or_else(|| default.to_owned()) }
        };
        let secret = |key: &'static str| -> Option<String> {
            lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        };

        let mode = match var("MODE").raw.trim() {
            "enforce" => Mode::Enforce,
            "monitor" => Mode::Monitor,
            _ => return Err(var("MODE").invalid("must be `enforce` or `monitor`")),
        };
        let channels =
            var("CHANNELS").list(|name| Channel::from_name(name).ok_or("is not a channel (sms, call, whatsapp)"))?;
        let channel_policy = |channel: Channel, allowed: &'static str, denied: &'static str, types: &'static str| {
            Ok::<_, ConfigError>(ChannelPolicy {
                enabled: channels.contains(&channel),
                allowed_countries: var(allowed).regions_or_any()?,
                denied_countries: var(denied).regions()?,
                allowed_types: var(types).list(|name| NumberType::from_name(name).ok_or("is not a number type"))?,
            })
        };
        let sms = channel_policy(Channel::Sms, "ALLOWED_COUNTRIES_SMS", "DENIED_COUNTRIES_SMS", "ALLOWED_TYPES_SMS")?;
        let call =
            channel_policy(Channel::Call, "ALLOWED_COUNTRIES_CALL", "DENIED_COUNTRIES_CALL", "ALLOWED_TYPES_CALL")?;
        let whatsapp = channel_policy(
            Channel::Whatsapp,
            "ALLOWED_COUNTRIES_WHATSAPP",
            "DENIED_COUNTRIES_WHATSAPP",
            "ALLOWED_TYPES_WHATSAPP",
        )?;

        let denied_ip_countries = var("DENIED_IP_COUNTRIES").list(|code| {
            // Cloudflare reports Tor exits as `T1` and unknown locations as `XX`.
            if code == "T1" || code == "XX" || region_id(code).is_some() {
                Ok(code.to_ascii_uppercase())
            } else {
                Err("is not an ISO 3166-1 alpha-2 code (or T1 for Tor)")
            }
        })?;
        let denied_asns = var("DENIED_ASNS").list(|n| n.parse::<u32>().map_err(|_| "is not an AS number"))?;

        let origins = var("ALLOWED_ORIGINS");
        let allowed_origins = if origins.raw.trim() == "*" {
            Origins::Any
        } else {
            Origins::Only(origins.list(|o| {
                let o = o.trim_end_matches('/');
                let ok = (o.starts_with("https://") || o.starts_with("http://"))
                    && !o[o.find("//").unwrap_or(0) + 2..].contains('/')
                    && o.len() > "http://".len();
                if ok {
                    Ok(o.to_owned())
                } else {
                    Err("is not an origin (scheme://host[:port], no path)")
                }
            })?)
        };

        let twilio_base_url = var("TWILIO_BASE_URL").base_url()?;
        let turnstile_base_url = var("TURNSTILE_BASE_URL").base_url()?;
        let turnstile_hostnames = var("TURNSTILE_HOSTNAMES").list(|h| {
            if h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
                Ok(h.to_ascii_lowercase())
            } else {
                Err("is not a hostname")
            }
        })?;
        let action = var("TURNSTILE_ACTION").raw.trim().to_owned();
        let turnstile_action = (!action.is_empty()).then_some(action);
        let turnstile_site_key = var("TURNSTILE_SITE_KEY").token()?;
        let script = var("TURNSTILE_SCRIPT_URL");
        let turnstile_script_url = if script.raw.trim().starts_with('/') && !script.raw.trim().starts_with("//") {
            script.raw.trim().to_owned()
        } else {
            script.base_url()?
        };
        let upstream_timeout_ms = var("UPSTREAM_TIMEOUT_MS").number(100, 30_000)?;
        let voice_gate_sms_attempts = var("VOICE_GATE_SMS_ATTEMPTS").number(0, 10)?;
        let voice_gate_min_delay_s = var("VOICE_GATE_MIN_DELAY_S").number(0, 3600)?;

        let counter_backend = match var("COUNTER_BACKEND").raw.trim() {
            "kv" => CounterBackend::Kv,
            "durable_object" => CounterBackend::DurableObject,
            _ => return Err(var("COUNTER_BACKEND").invalid("must be `kv` or `durable_object`")),
        };
        let decision_log = match var("DECISION_LOG").raw.trim() {
            "d1" => DecisionLog::D1,
            "console" => DecisionLog::Console,
            _ => return Err(var("DECISION_LOG").invalid("must be `d1` or `console`")),
        };
        let prefix_length = var("PREFIX_LENGTH").number(4, 14)? as usize;
        let limits = Limits {
            ip: var("LIMITS_IP").quotas()?,
            subnet: var("LIMITS_SUBNET").quotas()?,
            risky_asns: var("RISKY_ASNS").list(|n| n.parse::<u32>().map_err(|_| "is not an AS number"))?,
            ip_risky: var("LIMITS_IP_RISKY").quotas()?,
            phone: var("LIMITS_PHONE").quotas()?,
            prefix_length,
            prefix: var("LIMITS_PREFIX").quotas()?,
            countries: var("COUNTRY_LIMITS").country_groups()?,
            global: var("LIMITS_GLOBAL").quotas()?,
        };
        // The two long-window judgements read the same kinds of var, in table order; the
        // network's has no lower bar for new networks (its minimum serves both).
        let long_window = |window: &'static str,
                           min: &'static str,
                           new_min: Option<&'static str>,
                           floor: &'static str,
                           drop: &'static str|
         -> Result<LongWindow, ConfigError> {
            let window_h = var(window).number(1, 168)?;
            let min_sends = var(min).number(0, 100_000)?;
            Ok(LongWindow {
                window_h,
                min_sends,
                new_min_sends: match new_min {
                    Some(key) => var(key).number(1, 100_000)?,
                    None => min_sends,
                },
                conversion_floor: var(floor).decimal(0.0, 1.0)?,
                conversion_drop: var(drop).decimal(0.0, 1.0)?,
            })
        };
        let detector = Detector {
            window_min: var("PUMPING_WINDOW_MIN").number(5, 60)?,
            spike_factor: var("PUMPING_SPIKE_FACTOR").decimal(1.0, 1000.0)?,
            min_sends: var("PUMPING_MIN_SENDS").number(1, 100_000)?,
            conversion_drop: var("PUMPING_CONVERSION_DROP").decimal(0.0, 1.0)?,
            conversion_floor: var("PUMPING_CONVERSION_FLOOR").decimal(0.0, 1.0)?,
            allowance_min: var("PUMPING_ALLOWANCE_MIN").number(0, 55)?,
            cooldown_min: var("PUMPING_COOLDOWN_MIN").number(1, 7 * 24 * 60)?,
            baseline_days: var("PUMPING_BASELINE_DAYS").number(1, 14)?,
            network: long_window(
                "PUMPING_NETWORK_WINDOW_H",
                "PUMPING_NETWORK_MIN_SENDS",
                None,
                "PUMPING_NETWORK_CONVERSION_FLOOR",
                "PUMPING_NETWORK_CONVERSION_DROP",
            )?,
            slow: long_window(
                "PUMPING_SLOW_WINDOW_H",
                "PUMPING_SLOW_MIN_SENDS",
                Some("PUMPING_SLOW_NEW_MIN_SENDS"),
                "PUMPING_SLOW_CONVERSION_FLOOR",
                "PUMPING_SLOW_CONVERSION_DROP",
            )?,
            unserved_min_sends: var("PUMPING_UNSERVED_MIN_SENDS").number(0, 100_000)?,
        };
        let prices = PriceTable::parse(&var("PRICES").raw)
            .ok_or_else(|| var("PRICES").invalid("must be like `sms=0.05,call=0.10;242:sms=0.30,call=0.80`"))?;
        let cap = |key: &'static str, window_s: u32| -> Result<Option<Quota>, ConfigError> {
            let value = var(key);
            let mills = usd_to_mills(value.raw.trim())
                .ok_or_else(|| value.invalid("must be an amount in USD like `50` or `12.5`"))?;
            Ok(Quota::new(mills, window_s))
        };
        let spend_caps = SpendCaps {
            global: [cap("SPEND_CAP_HOURLY_USD", 3600)?, cap("SPEND_CAP_DAILY_USD", 86_400)?]
                .into_iter()
                .flatten()
                .collect(),
            country: [cap("SPEND_CAP_COUNTRY_HOURLY_USD", 3600)?, cap("SPEND_CAP_COUNTRY_DAILY_USD", 86_400)?]
                .into_iter()
                .flatten()
                .collect(),
        };
        let monitor_rules = var("MONITOR_RULES").list(|code| {
            POLICY_CODES
                .iter()
                .copied()
                .find(|c| *c == code)
                .ok_or("is not a policy code that monitor mode can let through")
        })?;

        let required = |key: &'static str| {
            secret(key).ok_or(ConfigError {
                key,
                problem: "secret is not set (wrangler secret put, or .dev.vars locally)".into(),
            })
        };
        let account_sid = required("TWILIO_ACCOUNT_SID")?;
        sid_shape("TWILIO_ACCOUNT_SID", &account_sid, "AC")?;
        let (username, password) = match (secret("TWILIO_API_KEY_SID"), secret("TWILIO_API_KEY_SECRET")) {
            (Some(key_sid), Some(key_secret)) => {
                sid_shape("TWILIO_API_KEY_SID", &key_sid, "SK")?;
                (key_sid, key_secret)
            }
            (Some(_), None) => return Err(required("TWILIO_API_KEY_SECRET").unwrap_err()),
            (None, Some(_)) => return Err(required("TWILIO_API_KEY_SID").unwrap_err()),
            (None, None) => (account_sid.clone(), required("TWILIO_AUTH_TOKEN")?),
        };
        let service_sid = required("TWILIO_VERIFY_SERVICE_SID")?;
        sid_shape("TWILIO_VERIFY_SERVICE_SID", &service_sid, "VA")?;
        let turnstile_secret = required("TURNSTILE_SECRET_KEY")?;
        let hash_key = required("HASH_KEY")?;
        if hash_key.len() < 16 {
            return Err(ConfigError { key: "HASH_KEY", problem: "must be at least 16 characters".into() });
        }
        let admin_token = secret("ADMIN_TOKEN");
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError { key: "ADMIN_TOKEN", problem: "must be at least 16 characters".into() });
        }

        Ok(Config {
            mode,
            sms,
            call,
            whatsapp,
            denied_ip_countries,
            denied_asns,
            allowed_origins,
            twilio_base_url,
            turnstile_base_url,
            turnstile_hostnames,
            turnstile_action,
            turnstile_site_key,
            turnstile_script_url,
            upstream_timeout_ms,
            voice_gate_sms_attempts,
            voice_gate_min_delay_s,
            counter_backend,
            decision_log,
            limits,
            monitor_rules,
            detector,
            prices,
            spend_caps,
            twilio: TwilioCredentials { account_sid, username, password, service_sid },
            turnstile_secret,
            hash_key,
            admin_token,
        })
    }
}

/// Twilio SIDs are two letters and 32 hex digits; a malformed one is a typo worth
/// catching before the first send fails.
fn sid_shape(key: &'static str, sid: &str, prefix: &str) -> Result<(), ConfigError> {
    let ok = sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(ConfigError { key, problem: format!("must be `{prefix}` followed by 32 hex digits") })
    }
}

/// One raw var on its way to a typed value.
struct Value {
    key: &'static str,
    raw: String,
}

impl Value {
    fn invalid(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError { key: self.key, problem: problem.into() }
    }

    /// A comma-separated list; blanks are ignored, each item converted by `item`.
    fn list<T: Ord>(&self, item: impl Fn(&str) -> Result<T, &'static str>) -> Result<BTreeSet<T>, ConfigError> {
        self.raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| item(s).map_err(|why| self.invalid(format!("item {} {why}", i + 1))))
            .collect()
    }

    fn regions(&self) -> Result<BTreeSet<String>, ConfigError> {
        self.list(|code| {
            region_id(code).map(|_| code.to_ascii_uppercase()).ok_or("is not an ISO 3166-1 alpha-2 region")
        })
    }

    fn regions_or_any(&self) -> Result<Regions, ConfigError> {
        if self.raw.trim() == "*" {
            Ok(Regions::Any)
        } else {
            self.regions().map(Regions::Only)
        }
    }

    fn quotas(&self) -> Result<Vec<Quota>, ConfigError> {
        parse_quotas(&self.raw).ok_or_else(|| self.invalid("must be quotas like `20/1h,50/1d` (units s, m, h, d)"))
    }

    /// `US,CA:1000/1h,5000/1d; *:50/1h`: groups of regions with their quotas.
    fn country_groups(&self) -> Result<Vec<(Regions, Vec<Quota>)>, ConfigError> {
        let shape = "must be groups like `US,CA:1000/1h;*:50/1h,200/1d`";
        self.raw
            .split(';')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|group| {
                let (regions, quotas) = group.split_once(':').ok_or_else(|| self.invalid(shape))?;
                let regions = if regions.trim() == "*" {
                    Regions::Any
                } else {
                    let list = Value { key: self.key, raw: regions.to_owned() }.regions()?;
                    if list.is_empty() {
                        return Err(self.invalid(shape));
                    }
                    Regions::Only(list)
                };
                let quotas = parse_quotas(quotas).ok_or_else(|| self.invalid(shape))?;
                Ok((regions, quotas))
            })
            .collect()
    }

    fn decimal(&self, min: f64, max: f64) -> Result<f64, ConfigError> {
        match self.raw.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(format!("must be a number from {min} to {max}"))),
        }
    }

    fn number(&self, min: u32, max: u32) -> Result<u32, ConfigError> {
        match self.raw.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(format!("must be a whole number from {min} to {max}"))),
        }
    }

    /// A public identifier: letters, digits, `-`, `_` and `.`.
    fn token(&self) -> Result<String, ConfigError> {
        let value = self.raw.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            Ok(value.to_owned())
        } else {
            Err(self.invalid("must be letters, digits, `-`, `_` or `.`"))
        }
    }

    fn base_url(&self) -> Result<String, ConfigError> {
        let url = self.raw.trim().trim_end_matches('/');
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(url.to_owned()),
            _ => Err(self.invalid("must be an http(s) URL")),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Secrets in the shape the guard expects; the values are fixtures.
    pub(crate) fn test_secrets() -> HashMap<String, String> {
        [
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_AUTH_TOKEN", "test-auth-token"),
            ("TWILIO_VERIFY_SERVICE_SID", "VA00000000000000000000000000000000"),
            ("TURNSTILE_SECRET_KEY", "1x0000000000000000000000000000000AA"),
            ("HASH_KEY", "0123456789abcdef0123"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A valid config: the test secrets, the embedded defaults, and `vars` over them.
    pub(crate) fn config_with(vars: &[(&str, &str)]) -> Config {
        load(vars).expect("a valid test config")
    }

    fn load(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars = test_secrets();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::load(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_load() {
        let config = load(&[]).unwrap();
        assert_eq!(config.mode, Mode::Enforce);
        assert!(config.sms.enabled && config.call.enabled && !config.whatsapp.enabled);
        assert!(config.sms.allowed_types.contains(&NumberType::Mobile));
        assert!(!config.sms.allowed_types.contains(&NumberType::PremiumRate));
    }

    #[test]
    fn bad_values_name_the_key_and_not_the_value() {
        let cases: &[(&str, &str, &str)] = &[
            ("MODE", "block-everything", "MODE"),
            ("CHANNELS", "sms,fax", "CHANNELS"),
            ("ALLOWED_COUNTRIES_SMS", "GB,UK", "ALLOWED_COUNTRIES_SMS"),
            ("DENIED_COUNTRIES_CALL", "Narnia", "DENIED_COUNTRIES_CALL"),
            ("ALLOWED_TYPES_SMS", "mobile,satellite", "ALLOWED_TYPES_SMS"),
            ("DENIED_ASNS", "AS16509", "DENIED_ASNS"),
            ("DENIED_IP_COUNTRIES", "Mars", "DENIED_IP_COUNTRIES"),
            ("ALLOWED_ORIGINS", "app.example.com", "ALLOWED_ORIGINS"),
            ("ALLOWED_ORIGINS", "https://app.example.com/path", "ALLOWED_ORIGINS"),
            ("TWILIO_BASE_URL", "ftp://x", "TWILIO_BASE_URL"),
            ("UPSTREAM_TIMEOUT_MS", "99999999", "UPSTREAM_TIMEOUT_MS"),
            ("UPSTREAM_TIMEOUT_MS", "fast", "UPSTREAM_TIMEOUT_MS"),
            ("TWILIO_ACCOUNT_SID", "not-a-sid-secret-value", "TWILIO_ACCOUNT_SID"),
            ("TWILIO_VERIFY_SERVICE_SID", "AC00000000000000000000000000000000", "TWILIO_VERIFY_SERVICE_SID"),
            ("HASH_KEY", "short", "HASH_KEY"),
            ("COUNTER_BACKEND", "redis", "COUNTER_BACKEND"),
            ("PUMPING_SPIKE_FACTOR", "lots", "PUMPING_SPIKE_FACTOR"),
            ("PUMPING_CONVERSION_DROP", "1.7", "PUMPING_CONVERSION_DROP"),
            ("PRICES", "sms=free", "PRICES"),
            ("SPEND_CAP_DAILY_USD", "-5", "SPEND_CAP_DAILY_USD"),
            ("LIMITS_IP", "20 per hour", "LIMITS_IP"),
            ("LIMITS_PHONE", "0/7m", "LIMITS_PHONE"),
            ("COUNTRY_LIMITS", "FR,DE", "COUNTRY_LIMITS"),
            ("COUNTRY_LIMITS", "XY:1/1h", "COUNTRY_LIMITS"),
            ("PREFIX_LENGTH", "40", "PREFIX_LENGTH"),
            ("MONITOR_RULES", "invalid_phone", "MONITOR_RULES"),
            ("ADMIN_TOKEN", "short", "ADMIN_TOKEN"),
            ("TWILIO_API_KEY_SID", "SK00000000000000000000000000000000", "TWILIO_API_KEY_SECRET"),
        ];
        for (key, value, named) in cases {
            let err = load(&[(key, value)]).expect_err(key);
            assert_eq!(err.key, *named, "{key}={value}");
            assert!(!err.to_string().contains(value), "{err} leaks the value");
        }
    }

    #[test]
    fn missing_secrets_are_named() {
        for secret in SECRETS.iter().filter(|s| s.required) {
            let mut vars = test_secrets();
            vars.remove(secret.key);
            let err = Config::load(|k| vars.get(k).cloned()).unwrap_err();
            assert_eq!(err.key, secret.key);
        }
        let mut vars = test_secrets();
        vars.remove("TWILIO_AUTH_TOKEN");
        assert_eq!(Config::load(|k| vars.get(k).cloned()).unwrap_err().key, "TWILIO_AUTH_TOKEN");
    }

    #[test]
    fn api_key_pair_replaces_the_auth_token() {
        let config = load(&[
            ("TWILIO_API_KEY_SID", "SK11111111111111111111111111111111"),
            ("TWILIO_API_KEY_SECRET", "key-secret"),
        ])
        .unwrap();
        assert_eq!(config.twilio.username, "SK11111111111111111111111111111111");
        assert_eq!(config.twilio.password, "key-secret");
    }

    #[test]
    fn limits_are_parsed() {
        let config =
            load(&[("COUNTRY_LIMITS", "US,CA:1000/1h; GB:10/1m ;*:5/1d"), ("COUNTER_BACKEND", "durable_object")])
                .unwrap();
        assert_eq!(config.counter_backend, CounterBackend::DurableObject);
        assert_eq!(config.limits.country("CA"), &[Quota::new(1000, 3600).unwrap()]);
        assert_eq!(config.limits.country("GB"), &[Quota::new(10, 60).unwrap()]);
        assert_eq!(config.limits.country("CG"), &[Quota::new(5, 86_400).unwrap()]);
        let open = load(&[("COUNTRY_LIMITS", "US:1/1h")]).unwrap();
        assert!(open.limits.country("GB").is_empty());
        assert_eq!(load(&[]).unwrap().limits.ip, crate::limits::parse_quotas("20/1h,50/1d").unwrap());
        assert!(load(&[]).unwrap().limits.risky_asns.contains(&16509));
    }

    #[test]
    fn lists_are_parsed() {
        let config = load(&[
            ("ALLOWED_COUNTRIES_SMS", "gb, fr ,"),
            ("DENIED_COUNTRIES_SMS", "FR"),
            ("DENIED_ASNS", "16509, 14061"),
            ("ALLOWED_ORIGINS", "https://app.example.com/, http://localhost:8787"),
        ])
        .unwrap();
        assert!(config.sms.allowed_countries.contains("GB"));
        assert!(!config.sms.allowed_countries.contains("US"));
        assert!(config.sms.denied_countries.contains("FR"));
        assert!(config.denied_asns.contains(&14061));
        assert_eq!(
            config.allowed_origins,
            Origins::Only(["https://app.example.com".to_owned(), "http://localhost:8787".to_owned()].into())
        );
    }
}
