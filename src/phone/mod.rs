//! Step 2: turn what a person typed into a validated E.164 number with a region and a type.
//!
//! Validity and number types come from Google's libphonenumber metadata, as the
//! `phonenumber` crate carries it, prepared at build time (`build.rs`, [`metadata`]) so a
//! fresh isolate has no database to build; digits are read as that crate reads them
//! ([`reading`]). Before that we normalise the forms people actually type: a `tel:` URI,
//! any Unicode decimal digits (fullwidth, Arabic-Indic, Devanagari...), a fullwidth plus,
//! and the `00` / `011` international prefixes. Letters are refused outright: vanity
//! numbers and extensions are not something an OTP should be sent to.
//!
//! The worker and `otp-guard phone` both call [`parse`]: one core, one answer.

mod metadata;
mod pattern;
mod reading;

use metadata::{matches_whole, Region};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Inputs longer than this (in characters) are refused before any parsing work.
pub const MAX_INPUT_CHARS: usize = 64;

/// The most digits an E.164 number has (ITU-T E.164, section 6.1).
pub const MAX_E164_DIGITS: usize = 15;

/// A number that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+` followed by the country calling code and the national number.
    pub e164: String,
    /// ISO 3166-1 alpha-2 region of the number (`GB`, `US`...), or `001` for
    /// non-geographic numbering plans.
    pub region: String,
    /// The country calling code (`44` for `+44`).
    pub calling_code: u16,
    /// The libphonenumber classification.
    pub kind: NumberType,
}

/// Why an input is not a number we will send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    Empty,
    TooLong,
    /// Letters, extensions or symbols that have no place in a phone number.
    BadCharacters,
    /// A national number with no region to read it in.
    NeedsCountry,
    /// The region given as the default is not an ISO code libphonenumber knows.
    UnknownCountry,
    /// Parsed, but not a valid number anywhere.
    Invalid,
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhoneError::Empty => "the phone number is empty",
            PhoneError::TooLong => "the phone number is too long",
            PhoneError::BadCharacters => "the phone number contains characters that are not digits",
            PhoneError::NeedsCountry => {
                "the phone number is in national format: give it with its + country code, or send `country`"
            }
            PhoneError::UnknownCountry => "`country` is not a known ISO 3166-1 alpha-2 region",
            PhoneError::Invalid => "this is not a valid phone number",
        })
    }
}

/// libphonenumber's number types, with the stable names used in config and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    FixedLine,
    Mobile,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    PersonalNumber,
    Voip,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl NumberType {
    /// Every type, in the order config documentation lists them.
    pub const ALL: [NumberType; 12] = [
        NumberType::FixedLine,
        NumberType::Mobile,
        NumberType::FixedLineOrMobile,
        NumberType::TollFree,
        NumberType::PremiumRate,
        NumberType::SharedCost,
        NumberType::PersonalNumber,
        NumberType::Voip,
        NumberType::Pager,
        NumberType::Uan,
        NumberType::Voicemail,
        NumberType::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::FixedLine => "fixed_line",
            NumberType::Mobile => "mobile",
            NumberType::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberType::TollFree => "toll_free",
            NumberType::PremiumRate => "premium_rate",
            NumberType::SharedCost => "shared_cost",
            NumberType::PersonalNumber => "personal_number",
            NumberType::Voip => "voip",
            NumberType::Pager => "pager",
            NumberType::Uan => "uan",
            NumberType::Voicemail => "voicemail",
            NumberType::Unknown => "unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<NumberType> {
        NumberType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether a text message can reach this kind of line. Fixed lines cannot, which is
    /// why the voice gate lets them be called directly.
    pub fn receives_sms(self) -> bool {
        !matches!(self, NumberType::FixedLine)
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `input`, reading national formats in `default_region` (ISO alpha-2) if given.
pub fn parse(input: &str, default_region: Option<&str>) -> Result<Phone, PhoneError> {
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(PhoneError::TooLong);
    }
    let region = match default_region {
        Some(code) => Some(region(code).ok_or(PhoneError::UnknownCountry)?),
        None => None,
    };
    let normalised = normalise(input, region)?;
    let (calling_code, national) = match normalised.strip_prefix('+') {
        // An international number is read without the default region: the crate would
        // otherwise strip that region's national prefix from it.
        Some(digits) => split_calling_code(digits).or_else(|| reading::read(&normalised, None).filter(recognised)),
        None => {
            let region = region.ok_or(PhoneError::NeedsCountry)?;
            reading::read(&normalised, Some(region))
                .filter(recognised)
                .or_else(|| national_in_region(&normalised, region))
        }
    }
    .ok_or(PhoneError::Invalid)?;
    let (meta, kind) = region_and_type(calling_code, &national).ok_or(PhoneError::Invalid)?;
    let e164 = format!("+{calling_code}{national}");
    // E.164 allows 15 digits. libphonenumber's patterns admit a few longer national
    // numbers (Germany, Japan...) that no SMS route takes: they are refused here, before
    // any counter or upstream sees them (found by the phone fuzz target).
    if e164.len() > MAX_E164_DIGITS + 1 {
        return Err(PhoneError::Invalid);
    }
    Ok(Phone { e164, region: meta.id.to_owned(), calling_code, kind })
}

fn recognised((code, national): &(u16, String)) -> bool {
    region_and_type(*code, national).is_some()
}

/// `+` digits read literally: the first one to three digits that name a calling code,
/// and the rest as the national number. Used first for international input because the
/// crate strips a leading `8` from Russian and Belarusian numbers that have none.
fn split_calling_code(digits: &str) -> Option<(u16, String)> {
    (1..=3).filter(|&n| digits.len() > n).find_map(|n| {
        let code: u16 = digits[..n].parse().ok()?;
        let national = &digits[n..];
        region_and_type(code, national).map(|_| (code, national.to_owned()))
    })
}

/// A national number read in `region` by stripping its national prefix once (or not at
/// all, where the prefix is part of the number): the fallback for the crate's double
/// stripping of `8` in Russia and Belarus.
fn national_in_region(digits: &str, region: &Region) -> Option<(u16, String)> {
    let code = region.code;
    let stripped = region.national_prefix.and_then(|prefix| digits.strip_prefix(prefix));
    stripped
        .into_iter()
        .chain([digits])
        .find(|national| region_and_type(code, national).is_some())
        .map(|national| (code, national.to_owned()))
}

/// The region of a number within its calling code, and its type; `None` if no region of
/// that code recognises it (libphonenumber's definition of an invalid number).
///
/// As libphonenumber does for codes shared by several regions (+1, +7, +44...): a region
/// whose leading digits match wins, otherwise the first region that gives the number a
/// type. Leading zeros are kept (see [`classify`]).
fn region_and_type(code: u16, national: &str) -> Option<(&'static Region, NumberType)> {
    if national.is_empty() || national.len() > 17 {
        return None;
    }
    let regions = metadata::regions_for_code(code)?;
    let typed = |region: &'static Region| {
        if !matches_entirely(&region.general, national) {
            return None;
        }
        Some((region, classify(region, national))).filter(|(_, kind)| *kind != NumberType::Unknown)
    };
    if let [only] = regions {
        return typed(only);
    }
    let by_leading_digits = regions.iter().find(|region| {
        region.leading_digits.is_some_and(|pattern| metadata::match_at_start(pattern, national).is_some())
    });
    by_leading_digits.and_then(typed).or_else(|| regions.iter().find_map(typed))
}

/// libphonenumber's `matchesEntirely` with the descriptor's possible lengths.
fn matches_entirely(desc: &metadata::Desc, national: &str) -> bool {
    if !desc.lengths.is_empty() && !desc.lengths.iter().any(|&n| usize::from(n) == national.len()) {
        return false;
    }
    matches_whole(desc.pattern, national)
}

/// libphonenumber's type classification, in its order of precedence, applied to the
/// national number *with* its leading zeros.
///
/// `phonenumber` 0.3.10 validates with the leading zeros but classifies without them
/// (`PhoneNumber::number_type` reads `NationalNumber::value()`), so every number whose
/// national significant number starts with 0 (Congo's mobiles, Italy's fixed lines,
/// Côte d'Ivoire...) came back `unknown`. This applies the same rules to the right digits.
fn classify(region: &Region, national: &str) -> NumberType {
    let matches = |kind: NumberType| region.kind(kind).is_some_and(|desc| matches_entirely(desc, national));
    let special = [
        NumberType::PremiumRate,
        NumberType::TollFree,
        NumberType::SharedCost,
        NumberType::Voip,
        NumberType::PersonalNumber,
        NumberType::Pager,
        NumberType::Uan,
        NumberType::Voicemail,
    ];
    if let Some(kind) = special.into_iter().find(|&kind| matches(kind)) {
        return kind;
    }
    if matches(NumberType::FixedLine) {
        let same_patterns = match (region.kind(NumberType::FixedLine), region.kind(NumberType::Mobile)) {
            (Some(fixed), Some(mobile)) => fixed.pattern == mobile.pattern,
            _ => false,
        };
        return if same_patterns || matches(NumberType::Mobile) {
            NumberType::FixedLineOrMobile
        } else {
            NumberType::FixedLine
        };
    }
    if matches(NumberType::Mobile) {
        return NumberType::Mobile;
    }
    NumberType::Unknown
}

/// Parses an E.164 string as it arrives on the admin API: `+` and digits only.
pub fn parse_e164(input: &str) -> Result<Phone, PhoneError> {
    if !input.starts_with('+') || !input[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhoneError::Invalid);
    }
    let phone = parse(input, None)?;
    if phone.e164 != input {
        return Err(PhoneError::Invalid);
    }
    Ok(phone)
}

/// Looks up an ISO 3166-1 alpha-2 code of a region with a numbering plan,
/// case-insensitively, and returns it in upper case.
pub fn region_id(code: &str) -> Option<&'static str> {
    region(code).map(|r| r.id)
}

fn region(code: &str) -> Option<&'static Region> {
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    metadata::region_by_id(&code.to_ascii_uppercase())
}

/// Whether numbers of this region dial `011` to leave the country (the North American
/// Numbering Plan). Elsewhere `011` is a national number, and the crate knows each
/// region's own international prefix.
fn dials_011(region: Option<&Region>) -> bool {
    region.is_none_or(|r| r.code == 1)
}

/// Reduces the accepted input forms to `+digits` or national `digits`.
///
/// Accepted: an optional `tel:` scheme, any Unicode decimal digits, `+` (or fullwidth
/// `＋`), and the separators people type: spaces, `-`, `.`, `/`, parentheses. Anything
/// else, letters and `;ext=` included, is refused.
fn normalise(input: &str, region: Option<&Region>) -> Result<String, PhoneError> {
    let trimmed = input.trim();
    let body = strip_prefix_ignore_case(trimmed, "tel:").unwrap_or(trimmed);
    let mut out = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '+' | '＋' if out.is_empty() => out.push('+'),
            c if c.is_whitespace() => {}
            '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF0D}' => {}
            c => match decimal_digit(c) {
                Some(d) => out.push(char::from(b'0' + d)),
                None => return Err(PhoneError::BadCharacters),
            },
        }
    }
    if out.is_empty() || out == "+" {
        return Err(PhoneError::Empty);
    }
    if let Some(rest) = out.strip_prefix("00") {
        return Ok(format!("+{rest}"));
    }
    if dials_011(region) {
        if let Some(rest) = out.strip_prefix("011") {
            return Ok(format!("+{rest}"));
        }
    }
    Ok(out)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The value of a Unicode decimal digit (general category Nd), for the scripts a phone
/// number is realistically typed in. Each block is ten code points from its zero.
fn decimal_digit(c: char) -> Option<u8> {
    const ZEROS: [u32; 24] = [
        0x0030,  // ASCII
        0x0660,  // Arabic-Indic
        0x06F0,  // Extended Arabic-Indic (Persian, Urdu)
        0x07C0,  // NKo
        0x0966,  // Devanagari
        0x09E6,  // Bengali
        0x0A66,  // Gurmukhi
        0x0AE6,  // Gujarati
        0x0B66,  // Oriya
        0x0BE6,  // Tamil
        0x0C66,  // Telugu
        0x0CE6,  // Kannada
        0x0D66,  // Malayalam
        0x0DE6,  // Sinhala
        0x0E50,  // Thai
        0x0ED0,  // Lao
        0x0F20,  // Tibetan
        0x1040,  // Myanmar
        0x17E0,  // Khmer
        0x1810,  // Mongolian
        0x1946,  // Limbu
        0x19D0,  // New Tai Lue
        0xFF10,  // Fullwidth
        0x1D7CE, // Mathematical bold (a common copy-paste artefact)
    ];
    let cp = u32::from(c);
    ZEROS.iter().find(|&&zero| (zero..zero + 10).contains(&cp)).map(|&zero| (cp - zero) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_from_other_scripts_become_ascii() {
        assert_eq!(decimal_digit('٤'), Some(4));
        assert_eq!(decimal_digit('۹'), Some(9));
        assert_eq!(decimal_digit('५'), Some(5));
        assert_eq!(decimal_digit('０'), Some(0));
        assert_eq!(decimal_digit('a'), None);
        assert_eq!(decimal_digit('²'), None);
    }

    #[test]
    fn international_prefixes_become_plus() {
        assert_eq!(normalise("0044 7700 900958", None).unwrap(), "+447700900958");
        assert_eq!(normalise("011 44 7700 900958", None).unwrap(), "+447700900958");
        let us = region("US");
        assert_eq!(normalise("011 44 7700 900958", us).unwrap(), "+447700900958");
        let gb = region("GB");
        assert_eq!(normalise("01144 7700", gb).unwrap(), "011447700");
    }

    #[test]
    fn letters_and_extensions_are_refused() {
        assert_eq!(normalise("1-800-FLOWERS", None), Err(PhoneError::BadCharacters));
        assert_eq!(normalise("tel:+44-7700-900958;ext=1", None), Err(PhoneError::BadCharacters));
        assert_eq!(normalise("  +  ", None), Err(PhoneError::Empty));
    }
}
