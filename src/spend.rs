//! Step 6 (part): estimated spend, and the caps on it.
//!
//! The bill is the strongest pumping signal there is, and the one that matters. Each send
//! is priced from a configurable table (USD per SMS and per call, by calling code, with a
//! default), and the estimate is counted like a rate limit whose events weigh their
//! price, in tenths of a cent. Over a cap, new sends are refused with
//! `protection_engaged` until the window moves on; safelisted numbers are exempt.

use crate::request::Channel;
use std::collections::BTreeMap;

/// USD prices in tenths of a cent ("mills"), so counters stay integers.
pub type Mills = u32;

/// Prices per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub sms: Mills,
    pub call: Mills,
    pub whatsapp: Mills,
}

/// The price table: a default and overrides by calling code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    pub default: Price,
    pub by_code: BTreeMap<u16, Price>,
}

impl PriceTable {
    pub fn price(&self, calling_code: u16, channel: Channel) -> Mills {
        let p = self.by_code.get(&calling_code).unwrap_or(&self.default);
        match channel {
            Channel::Sms => p.sms,
            Channel::Call => p.call,
            Channel::Whatsapp => p.whatsapp,
        }
    }

    /// Parses `sms=0.05,call=0.10; 242:sms=0.35,call=0.75; ...`. The first group, without a
    /// calling code, is the default; a code's group overrides only what it names.
    pub fn parse(text: &str) -> Option<PriceTable> {
        let mut default = Price { sms: 50, call: 100, whatsapp: 50 };
        let mut by_code = BTreeMap::new();
        for group in text.split(';').map(str::trim).filter(|g| !g.is_empty()) {
            let (code, prices) = match group.split_once(':') {
                Some((code, prices)) => {
                    (Some(code.trim().parse::<u16>().ok().filter(|c| (1..=999).contains(c))?), prices)
                }
                None => (None, group),
            };
            let mut price = default;
            for item in prices.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let (channel, usd) = item.split_once('=')?;
                let mills = usd_to_mills(usd.trim())?;
                match channel.trim() {
                    "sms" => price.sms = mills,
                    "call" => price.call = mills,
                    "whatsapp" => price.whatsapp = mills,
                    _ => return None,
                }
            }
            match code {
                Some(code) => {
                    by_code.insert(code, price);
                }
                None => default = price,
            }
        }
        Some(PriceTable { default, by_code })
    }
}

/// `0.05` → 50 mills. At most three decimals, at most $1000.
pub fn usd_to_mills(usd: &str) -> Option<Mills> {
    let (whole, frac) = usd.split_once('.').unwrap_or((usd, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 3
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<3}").parse().ok()? };
    (whole <= 1_000_000).then(|| whole * 1000 + frac)
}

pub fn mills_to_usd(mills: u64) -> f64 {
    mills as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        let table = PriceTable::parse("sms=0.05,call=0.1; 242:sms=0.35,call=0.75; 371:call=0.4").unwrap();
        assert_eq!(table.price(44, Channel::Sms), 50);
        assert_eq!(table.price(242, Channel::Sms), 350);
        assert_eq!(table.price(242, Channel::Call), 750);
        assert_eq!(table.price(371, Channel::Sms), 50, "overrides only what it names");
        assert_eq!(table.price(371, Channel::Call), 400);
        for bad in ["sms=abc", "sms=0.0001", "fax=0.1", "9999:sms=0.1", "x:sms=1", "sms"] {
            assert_eq!(PriceTable::parse(bad), None, "{bad}");
        }
        assert_eq!(usd_to_mills("12"), Some(12_000));
        assert_eq!(usd_to_mills(".5"), Some(500));
        assert_eq!(usd_to_mills(""), None);
    }
}
