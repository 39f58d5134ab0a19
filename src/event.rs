//! One structured log line per decision: the raw material of an incident timeline.
//!
//! It carries the masked number, never the number; the client IP, never a token or a
//! secret. The edge writes it with `console.log`, where Workers Logs and `wrangler tail`
//! pick it up.

use crate::pumping::{Figures, Trigger};
use serde::{Deserialize, Serialize};

/// A decision, as logged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Event {
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    pub request_id: String,
    pub route: &'static str,
    pub ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The masked number (`+44******0958`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The number's region (for a protection event: the destination's country, if it is one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The number's prefix (`PREFIX_LENGTH` digits): not personal data, a number block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The keyed hash of the number (`HASH_KEY`): one number's history, without the number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'static str>,
    /// `allow` or `block`.
    pub decision: &'static str,
    /// `ok`, or the contract code of the refusal.
    pub reason: &'static str,
    /// For `rate_limited`: which counter (`ip`, `subnet`, `phone`, `prefix`, `country`, `global`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
    pub status: u16,
    /// In monitor mode: the codes the guard would have refused with, in pipeline order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_block: Vec<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub safelisted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twilio_sid: Option<String>,
    /// The estimated price of a send that went out, in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_usd: Option<f64>,
    /// On a check: whether the code was approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
    /// On a protection event: the block engaged (or lifted) and its figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
    /// For failures: what went wrong, in words (no values from the request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A pumping block in the log: engaged with its figures, or lifted by an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protection {
    /// The destination: a country (`CG`) or a prefix (`+24206`).
    pub dest: String,
    /// `engaged` or `lifted`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
}

impl Event {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    // Written digit by digit: this runs for every request, and the formatting machinery
    // costs more than the date arithmetic.
    let mut out = String::with_capacity(24);
    let mut digits = |value: u64, width: u32, after: char| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (value / 10u64.pow(place) % 10) as u8));
        }
        out.push(after);
    };
    digits(y.clamp(0, 9999) as u64, 4, '-');
    digits(u64::from(m), 2, '-');
    digits(u64::from(d), 2, 'T');
    digits(rem / 3600, 2, ':');
    digits(rem / 60 % 60, 2, ':');
    digits(rem % 60, 2, '.');
    digits(ms % 1000, 3, 'Z');
    out
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` to milliseconds since the Unix epoch.
pub fn parse_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first3 = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = first3.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            // `±HH:MM`, read by bytes so that no input can split a character.
            let o = rest.as_bytes();
            let digit = |i: usize| o.get(i).filter(|b| b.is_ascii_digit()).map(|b| i64::from(b - b'0'));
            if o.len() != 6 || !matches!(o[0], b'+' | b'-') || o[3] != b':' {
                return None;
            }
            let (h, m) = (digit(1)? * 10 + digit(2)?, digit(4)? * 10 + digit(5)?);
            let sign = if o[0] == b'-' { -1 } else { 1 };
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(y, m as u32, d as u32);
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset_min * 60;
    u64::try_from(secs * 1000 + millis).ok()
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_768_053_603_123), "2026-01-10T14:00:03.123Z");
        assert_eq!(utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn utc_parsing_round_trips() {
        for ms in [0, 951_782_400_000, 1_768_053_603_123, 4_102_444_799_999] {
            assert_eq!(parse_utc(&utc(ms)), Some(ms));
        }
        assert_eq!(parse_utc("2026-01-10T14:00:03Z"), Some(1_768_053_603_000));
        assert_eq!(parse_utc("2026-01-10T15:00:03+01:00"), Some(1_768_053_603_000));
        assert_eq!(parse_utc("2026-01-10T14:00:03.5Z"), Some(1_768_053_603_500));
        for bad in [
            "",
            "2026-01-10",
            "2026-13-10T14:00:03Z",
            "2026-01-10T14:00:03",
            "2026-01-10T25:00:03Z",
            "x026-01-10T14:00:03Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
