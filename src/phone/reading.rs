//! Reading a run of digits as (calling code, national number), the way the `phonenumber`
//! crate 0.3.10 reads it (`parser::parse_with`), on the static metadata.
//!
//! This is a port, not a redesign: the guard's answers must not change with the move to
//! build-time metadata, so the crate's steps are followed one for one, its quirks
//! included (they are noted where they matter). `tests/native/phone_differential.rs`
//! holds it to the crate on generated inputs. Input is what `phone::normalise` produced:
//! `+digits` or `digits`, ASCII only.

use super::metadata::{compiled, match_at_start, regions_for_code, Desc, Region};
use super::pattern;

/// The crate's `MIN_LENGTH_FOR_NSN` and `MAX_LENGTH_FOR_NSN`.
const MIN_NSN: usize = 2;
const MAX_NSN: usize = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Plus,
    Idd,
    Number,
    Default,
}

/// The crate's `Descriptor::is_match`: a possible length, and the pattern matching at the
/// start of the number (not necessarily all of it).
fn is_match(desc: &Desc, value: &str) -> bool {
    if !desc.lengths.is_empty() && !desc.lengths.iter().any(|&n| usize::from(n) == value.len()) {
        return false;
    }
    match_at_start(desc.pattern, value).is_some()
}

#[derive(Debug, PartialEq, Eq)]
enum Length {
    Possible,
    TooShort,
    Other,
}

/// The crate's `validator::length` for `Type::Unknown` (the general descriptor).
fn length(region: &Region, national: &str) -> Length {
    let (possible, local) = (region.general.lengths, region.general.local);
    let n = national.len();
    let Some((&min, &max)) = possible.first().zip(possible.last()) else { return Length::Other };
    if local.iter().any(|&l| usize::from(l) == n) || n == usize::from(min) {
        Length::Possible
    } else if n < usize::from(min) {
        Length::TooShort
    } else if n > usize::from(max) {
        Length::Other
    } else if possible.iter().any(|&l| usize::from(l) == n) {
        Length::Possible
    } else {
        Length::Other
    }
}

/// The crate's `validator::number_type` reduced to "has a type": prefix matches, in its
/// order. Only used to pick a region among those sharing a code.
fn has_type(region: &Region, value: &str) -> bool {
    is_match(&region.general, value) && region.kinds.iter().flatten().any(|desc| is_match(desc, value))
}

/// The crate's `validator::source_for`: the region whose rules read a number of `code`.
fn source_for(code: u16, national: &str) -> Option<&'static Region> {
    let regions = regions_for_code(code)?;
    if let [only] = regions {
        return Some(only);
    }
    regions.iter().find(|region| match region.leading_digits {
        Some(pattern) => match_at_start(pattern, national).is_some(),
        None => has_type(region, national),
    })
}

/// The crate's `helper::national_number`: strips the national prefix (and a carrier code)
/// as `national_prefix_for_parsing` and its transform rule say.
fn strip_national_prefix(region: &Region, national: String) -> String {
    let Some(parsing) = region.prefix_for_parsing else {
        return match region.national_prefix {
            Some(prefix) if national.starts_with(prefix) => national[prefix.len()..].to_owned(),
            _ => national,
        };
    };
    let Some((end, caps)) = compiled(parsing).and_then(|p| p.match_at_start(&national)) else { return national };
    // The last group took part in the match (the whole match, when there is no group).
    let last_group = caps.last().is_none_or(Option::is_some);
    match region.transform_rule {
        Some(rule) if last_group => {
            let mut transformed = pattern::expand(rule, &national, end, &caps);
            transformed.push_str(&national[end..]);
            // Kept only if it leaves a viable number viable.
            if is_match(&region.general, &national) && !is_match(&region.general, &transformed) {
                national
            } else {
                transformed
            }
        }
        // The crate compares the number with itself here (`national[start..]` with
        // `start == 0`), so the prefix is always stripped.
        _ => national[end..].to_owned(),
    }
}

/// The crate's `NationalNumber` round trip: a number it cannot hold (all zeros, or a
/// value of 2^56 or more) is an error.
fn national_number(national: String) -> Option<String> {
    let digits = national.trim_start_matches('0');
    let value: u64 = digits.parse().ok()?;
    (value < 1 << 56).then_some(national)
}

/// Reads `input` (`+digits` or `digits`) with `default` as the region of national forms.
pub(super) fn read(input: &str, default: Option<&'static Region>) -> Option<(u16, String)> {
    // `is_viable`: two digits, or at least three after any `+`.
    let digits = input.trim_start_matches('+');
    let viable = if digits.len() == input.len() { digits.len() >= MIN_NSN } else { digits.len() >= 3 };
    if !viable || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }

    // `helper::international_prefix`: a `+`, or the default region's exit code.
    let mut source = if digits.len() == input.len() { Source::Default } else { Source::Plus };
    let mut national = digits.to_owned();
    let idd = default.and_then(|r| r.international_prefix);
    if let Some(end) = idd.and_then(|pattern| match_at_start(pattern, &national)) {
        if !national[end..].starts_with('0') {
            if source != Source::Plus {
                source = Source::Idd;
            }
            national.drain(..end);
        }
    }

    // `helper::country_code`.
    let code = match source {
        Source::Plus | Source::Idd | Source::Number => {
            if national.len() <= MIN_NSN || national.starts_with('0') {
                return None;
            }
            let (len, code) = (1..=3)
                .filter_map(|len| Some((len, national.get(..len)?.parse::<u16>().ok()?)))
                .find(|&(_, code)| regions_for_code(code).is_some())?;
            national.drain(..len);
            code
        }
        Source::Default => {
            let region = default?;
            let code = region.code.to_string();
            if national.starts_with(&code)
                && (!is_match(&region.general, &national) || length(region, &national) != Length::Possible)
            {
                source = Source::Number;
                national.drain(..code.len());
            }
            region.code
        }
    };
    let _ = source;

    // The rules of the default region if there is one (even for a number the exit code
    // sent elsewhere: the crate does so), else of the number's own region.
    let region = default.or_else(|| source_for(code, national.trim_start_matches('0')));
    if let Some(region) = region {
        let mut potential = strip_national_prefix(region, national.clone());
        // The crate strips the plain national prefix a second time (the RU/BY `8` bug that
        // `phone::national_in_region` works around).
        if let Some(prefix) = region.national_prefix {
            if potential.starts_with(prefix) {
                potential.drain(..prefix.len());
            }
        }
        if length(region, &potential) != Length::TooShort {
            national = potential;
        }
    }
    if !(MIN_NSN..=MAX_NSN).contains(&national.len()) {
        return None;
    }
    Some((code, national_number(national)?))
}
