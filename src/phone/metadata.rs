//! libphonenumber's metadata as static tables (written by `build.rs` from the
//! `phonenumber` crate's own data), and its patterns, compiled on first use.
//!
//! Nothing here runs at start-up: a fresh isolate pays only for the patterns of the
//! regions its requests reach, a dozen or so per region.

use super::pattern::Pattern;
use super::NumberType;
use std::cell::RefCell;
use std::collections::HashMap;

/// A number pattern and the lengths numbers of its kind can have.
#[derive(Debug)]
pub(super) struct Desc {
    pub pattern: &'static str,
    pub lengths: &'static [u8],
    /// Lengths of numbers dialled locally only (no area code).
    pub local: &'static [u8],
}

/// One region's numbering plan: what parsing, validation and classification read.
#[derive(Debug)]
pub(super) struct Region {
    /// ISO 3166-1 alpha-2, or `001` for non-geographic plans.
    pub id: &'static str,
    pub code: u16,
    pub international_prefix: Option<&'static str>,
    pub national_prefix: Option<&'static str>,
    pub prefix_for_parsing: Option<&'static str>,
    pub transform_rule: Option<&'static str>,
    /// For regions sharing a calling code: the leading digits that identify this one.
    pub leading_digits: Option<&'static str>,
    pub general: Desc,
    /// One pattern per number type that has its own, in the order of `build.rs`'s
    /// `KINDS`: fixed line, mobile, toll free, premium rate, shared cost, personal number,
    /// VoIP, pager, UAN, voicemail.
    pub kinds: [Option<Desc>; 10],
}

impl Region {
    /// The pattern of `kind`; `None` for a type this region has no numbers of, and for
    /// `fixed_line_or_mobile` and `unknown`, which are conclusions, not patterns.
    pub fn kind(&self, kind: NumberType) -> Option<&Desc> {
        let at = match kind {
            NumberType::FixedLine => 0,
            NumberType::Mobile => 1,
            NumberType::TollFree => 2,
            NumberType::PremiumRate => 3,
            NumberType::SharedCost => 4,
            NumberType::PersonalNumber => 5,
            NumberType::Voip => 6,
            NumberType::Pager => 7,
            NumberType::Uan => 8,
            NumberType::Voicemail => 9,
            NumberType::FixedLineOrMobile | NumberType::Unknown => return None,
        };
        self.kinds[at].as_ref()
    }
}

include!(concat!(env!("OUT_DIR"), "/phone_metadata.rs"));

/// The regions of a calling code, main region first; `None` if no region has it.
pub(super) fn regions_for_code(code: u16) -> Option<&'static [Region]> {
    let at = BY_CODE.binary_search_by_key(&code, |&(c, _, _)| c).ok()?;
    let (_, first, end) = BY_CODE[at];
    Some(&REGIONS[usize::from(first)..usize::from(end)])
}

/// A geographic region by its (upper-case) ISO code.
pub(super) fn region_by_id(id: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.id == id && r.id != "001")
}

thread_local! {
    /// Each pattern read once per isolate, on first use, and kept (a few hundred of the
    /// metadata's patterns at most are ever used).
    /// Keyed by the pattern's address: every pattern is a `'static` string of the tables
    /// above, so its address names it, and hashing a usize is cheaper than hashing a
    /// pattern of up to a kilobyte on every lookup.
    static PATTERNS: RefCell<HashMap<usize, Option<&'static Pattern>>> = RefCell::default();
}

/// `pattern`, read; `None` if it is outside the syntax `pattern.rs` reads (a unit test
/// checks that no pattern in the metadata is).
pub(super) fn compiled(pattern: &'static str) -> Option<&'static Pattern> {
    PATTERNS.with(|cache| {
        *cache
            .borrow_mut()
            .entry(pattern.as_ptr() as usize)
            .or_insert_with(|| Pattern::parse(pattern).map(|p| &*Box::leak(Box::new(p))))
    })
}

pub(super) fn matches_whole(pattern: &'static str, text: &str) -> bool {
    compiled(pattern).is_some_and(|p| p.matches_whole(text))
}

pub(super) fn match_at_start(pattern: &'static str, text: &str) -> Option<usize> {
    compiled(pattern).and_then(|p| p.match_at_start(text)).map(|(end, _)| end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pattern that does not compile would match nothing: every number of its kind
    /// would silently become invalid. None may fail.
    #[test]
    fn every_pattern_compiles() {
        let mut patterns = 0;
        for region in &REGIONS {
            let descs = std::iter::once(&region.general).chain(region.kinds.iter().flatten());
            let others = [region.international_prefix, region.prefix_for_parsing, region.leading_digits];
            for pattern in descs.map(|d| d.pattern).chain(others.into_iter().flatten()) {
                assert!(compiled(pattern).is_some(), "{}: {pattern}", region.id);
                patterns += 1;
            }
        }
        assert!(patterns > 1500, "{patterns} patterns: the metadata looks truncated");
    }

    #[test]
    fn codes_and_regions() {
        assert_eq!(regions_for_code(44).unwrap()[0].id, "GB", "the main region first");
        assert!(regions_for_code(44).unwrap().iter().any(|r| r.id == "JE"));
        assert_eq!(regions_for_code(1).unwrap()[0].id, "US");
        assert!(regions_for_code(999).is_none());
        assert_eq!(region_by_id("CG").unwrap().code, 242);
        assert!(region_by_id("001").is_none(), "non-geographic plans are not regions");
    }
}
