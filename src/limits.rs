//! Step 5: rate limits. Quotas per scope, counted in time buckets.
//!
//! A [`Quota`] is "at most `max` events in any `window_s` seconds". Each window is split
//! into [`BUCKETS_PER_WINDOW`] buckets; a check counts every bucket that overlaps the last
//! `window_s` seconds, the oldest one whole. That over-counts by at most one bucket, and
//! in exchange:
//!
//! - **no sliding window of `window_s` ever holds more than `max` admitted events**
//!   (the property test in this module checks it), where fixed windows would allow twice
//!   the quota across a boundary;
//! - the wait until the next event would be admitted is exact: the moment enough old
//!   buckets leave the window ([`Counter::wait_ms`]);
//! - a counter is a few dozen bytes however busy the key is, which matters for KV values.
//!
//! The counters live in a [`crate::counters`] backend (Workers KV or a Durable Object);
//! this module is only arithmetic.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

/// Buckets per window: the over-count is at most 1/BUCKETS_PER_WINDOW of a window.
pub const BUCKETS_PER_WINDOW: u64 = 10;

/// At most `max` events in any `window_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Quota {
    pub max: NonZeroU32,
    pub window_s: NonZeroU32,
}

impl Quota {
    pub fn new(max: u32, window_s: u32) -> Option<Quota> {
        Some(Quota { max: NonZeroU32::new(max)?, window_s: NonZeroU32::new(window_s)? })
    }

    /// Parses `20/1h`, `50/1d`, `3/10m`, `100/30s`.
    pub fn parse(text: &str) -> Option<Quota> {
        let (max, window) = text.trim().split_once('/')?;
        let max: u32 = max.trim().parse().ok()?;
        let window = window.trim();
        let split = window.find(|c: char| !c.is_ascii_digit()).unwrap_or(window.len());
        let (n, unit) = window.split_at(split);
        let n: u32 = if n.is_empty() { 1 } else { n.parse().ok()? };
        let unit_s = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
        let window_s = n.checked_mul(unit_s).filter(|&w| w <= 31 * 86_400)?;
        Quota::new(max, window_s)
    }

    fn window_ms(&self) -> u64 {
        u64::from(self.window_s.get()) * 1000
    }

    fn bucket_ms(&self) -> u64 {
        (self.window_ms() / BUCKETS_PER_WINDOW).max(1000)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.window_s.get();
        let (n, unit) = match w {
            w if w % 86_400 == 0 => (w / 86_400, "d"),
            w if w % 3600 == 0 => (w / 3600, "h"),
            w if w % 60 == 0 => (w / 60, "m"),
            w => (w, "s"),
        };
        write!(f, "{}/{n}{unit}", self.max)
    }
}

/// Parses a comma-separated quota list (`20/1h,50/1d`); empty means no limit.
pub fn parse_quotas(text: &str) -> Option<Vec<Quota>> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Quota::parse).collect()
}

/// The event counts of one key, per window, per bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// window_s → (bucket index, count), oldest first.
    #[serde(rename = "w", default)]
    windows: BTreeMap<u32, Vec<(u64, u32)>>,
}

impl Counter {
    /// The buckets of `quota` that overlap the window ending at `now_ms`.
    fn live<'a>(&'a self, quota: &Quota, now_ms: u64) -> impl Iterator<Item = (u64, u32)> + 'a {
        let (bucket, window) = (quota.bucket_ms(), quota.window_ms());
        let start = now_ms.saturating_sub(window);
        self.windows
            .get(&quota.window_s.get())
            .into_iter()
            .flatten()
            .copied()
            .filter(move |&(index, _)| (index + 1) * bucket > start)
    }

    /// Events counted against `quota` at `now_ms`.
    pub fn count(&self, quota: &Quota, now_ms: u64) -> u32 {
        self.live(quota, now_ms).map(|(_, n)| n).sum()
    }

    /// `None` if one more event fits `quota` now; otherwise the exact milliseconds until
    /// it would (when enough of the oldest buckets have left the window).
    pub fn wait_ms(&self, quota: &Quota, now_ms: u64) -> Option<u64> {
        let mut remaining = self.count(quota, now_ms);
        let max = quota.max.get();
        if remaining < max {
            return None;
        }
        for (index, n) in self.live(quota, now_ms) {
            remaining -= n;
            if remaining < max {
                let leaves_at = (index + 1) * quota.bucket_ms() + quota.window_ms();
                return Some(leaves_at - now_ms);
            }
        }
        // Unreachable for a consistent counter: every bucket eventually leaves.
        Some(quota.window_ms())
    }

    /// Adds `delta` events at `at_ms` (negative to release a reservation) and drops
    /// buckets that no longer matter.
    pub fn add(&mut self, quota: &Quota, at_ms: u64, delta: i32) {
        let bucket = quota.bucket_ms();
        let index = at_ms / bucket;
        let start = at_ms.saturating_sub(quota.window_ms());
        let buckets = self.windows.entry(quota.window_s.get()).or_default();
        buckets.retain(|&(i, _)| (i + 1) * bucket > start);
        match buckets.iter_mut().find(|(i, _)| *i == index) {
            Some((_, n)) => *n = n.saturating_add_signed(delta),
            None if delta > 0 => {
                buckets.push((index, delta as u32));
                buckets.sort_unstable();
            }
            None => {}
        }
        buckets.retain(|&(_, n)| n > 0);
    }

    /// Adds (`sign` 1) or subtracts (-1) every bucket of `other`; buckets that reach zero
    /// are dropped. Shards of one counter add up to the counter (see `counters::KvCounters`).
    pub fn merge(&mut self, other: &Counter, sign: i64) {
        for (window, theirs) in &other.windows {
            let mine = self.windows.entry(*window).or_default();
            for &(index, n) in theirs {
                match mine.iter_mut().find(|(i, _)| *i == index) {
                    Some((_, m)) => *m = (i64::from(*m) + sign * i64::from(n)).clamp(0, i64::from(u32::MAX)) as u32,
                    None if sign > 0 => mine.push((index, n)),
                    None => {}
                }
            }
            mine.retain(|&(_, n)| n > 0);
            mine.sort_unstable();
        }
        self.windows.retain(|_, buckets| !buckets.is_empty());
    }

    /// Whether nothing is counted any more (the record may be deleted).
    pub fn is_empty(&self) -> bool {
        self.windows.values().all(Vec::is_empty)
    }
}

/// Whether one more event fits every quota; if not, the longest exact wait in seconds.
pub fn wait_s(counter: &Counter, quotas: &[Quota], now_ms: u64) -> Option<u64> {
    quotas.iter().filter_map(|q| counter.wait_ms(q, now_ms)).max().map(|ms| ms.div_ceil(1000))
}

/// The /24 (IPv4) or /64 (IPv6) network of an address, as `203.0.113.0/24` or
/// `2001:db8:1:2::/64`. `None` for something that is not an IP address.
pub fn subnet(ip: &str) -> Option<String> {
    use std::net::IpAddr;
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        IpAddr::V6(v6) => {
            // An IPv4-mapped IPv6 address is grouped as the IPv4 address it is.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return subnet(&v4.to_string());
            }
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            Some(format!("{net}/64"))
        }
    }
}

/// The first `digits` digits of an E.164 number (after the `+`): the block of numbers
/// that sequential-number pumping walks through. Never more than all but the last three
/// digits, so a prefix (which is logged and stored in clear) is never a whole number.
pub fn prefix(e164: &str, digits: usize) -> String {
    let body = e164.trim_start_matches('+');
    format!("+{}", &body[..digits.min(body.len().saturating_sub(3))])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quota {
        Quota::parse(text).unwrap()
    }

    #[test]
    fn quotas_parse() {
        assert_eq!(q("20/1h"), Quota::new(20, 3600).unwrap());
        assert_eq!(q(" 50 / 1d "), Quota::new(50, 86_400).unwrap());
        assert_eq!(q("3/10m"), Quota::new(3, 600).unwrap());
        assert_eq!(q("1/h"), Quota::new(1, 3600).unwrap());
        for bad in ["", "20", "0/1h", "20/0h", "20/1w", "x/1h", "20/h1", "-1/1h", "1/999d"] {
            assert_eq!(Quota::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_quotas("20/1h, 50/1d").unwrap().len(), 2);
        assert_eq!(parse_quotas("").unwrap(), vec![]);
        assert_eq!(parse_quotas("20/1h,nope"), None);
        assert_eq!(q("20/1h").to_string(), "20/1h");
        assert_eq!(q("3/90s").to_string(), "3/90s");
    }

    #[test]
    fn window_edges_and_exact_wait() {
        // 3 per 100 s: buckets of 10 s.
        let quota = q("3/100s");
        let mut c = Counter::default();
        let t0 = 1_000_000_000; // a bucket boundary
        for i in 0..3 {
            assert_eq!(c.wait_ms(&quota, t0 + i * 1000), None);
            c.add(&quota, t0 + i * 1000, 1);
        }
        // Full: the first bucket [t0, t0+10 s) leaves the window at t0 + 110 s.
        assert_eq!(c.wait_ms(&quota, t0 + 5_000), Some(105_000));
        assert_eq!(c.wait_ms(&quota, t0 + 109_999), Some(1));
        assert_eq!(c.wait_ms(&quota, t0 + 110_000), None);
        assert_eq!(wait_s(&c, &[quota], t0 + 5_001), Some(105), "rounded up to whole seconds");
    }

    #[test]
    fn the_longest_wait_wins() {
        let quotas = [q("2/10s"), q("3/1h")];
        let mut c = Counter::default();
        let t0 = 36_000_000_000;
        for i in 0..3 {
            c.add(&quotas[0], t0 + i * 20_000, 1);
            c.add(&quotas[1], t0 + i * 20_000, 1);
        }
        // The 10 s window is clear; the hour is full until its first 6-minute bucket leaves.
        assert_eq!(wait_s(&c, &quotas, t0 + 60_000), Some(3600 + 360 - 60));
    }

    #[test]
    fn release_undoes_a_reservation() {
        let quota = q("1/1h");
        let mut c = Counter::default();
        c.add(&quota, 5_000, 1);
        assert!(c.wait_ms(&quota, 6_000).is_some());
        c.add(&quota, 5_000, -1);
        assert_eq!(c.wait_ms(&quota, 6_000), None);
        assert!(c.is_empty());
    }

    #[test]
    fn old_buckets_are_pruned() {
        let quota = q("5/1m");
        let mut c = Counter::default();
        for i in 0..100 {
            c.add(&quota, i * 7_000, 1);
        }
        assert!(c.windows[&60].len() <= BUCKETS_PER_WINDOW as usize + 1);
    }

    #[test]
    fn subnets_group_neighbours() {
        let cases = [
            ("203.0.113.7", Some("203.0.113.0/24")),
            ("203.0.113.250", Some("203.0.113.0/24")),
            ("2001:db8:1:2:3:4:5:6", Some("2001:db8:1:2::/64")),
            ("2001:0db8:0001:0002:ffff::1", Some("2001:db8:1:2::/64")),
            ("::ffff:198.51.100.9", Some("198.51.100.0/24")),
            ("not-an-ip", None),
            ("", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(subnet(ip).as_deref(), expected, "{ip}");
        }
        assert_ne!(subnet("2001:db8:1:2::1"), subnet("2001:db8:1:3::1"));
    }

    #[test]
    fn prefixes_group_sequential_numbers() {
        assert_eq!(prefix("+447400123456", 8), "+44740012");
        assert_eq!(prefix("+447400123499", 8), "+44740012");
        assert_eq!(prefix("+12015550123", 8), "+12015550");
        assert_eq!(prefix("+33612345678", 11), "+33612345", "a prefix never holds a whole number");
        assert_eq!(prefix("+1201", 8), "+1");
    }

    /// The guarantee: replaying any sequence of attempts, admitting each one the limiter
    /// admits, never puts more than `max` admitted events in any window of `window_s`.
    #[test]
    fn never_more_than_the_quota_in_any_window() {
        use proptest::prelude::*;
        let config = ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(
            max in 1u32..8,
            window_s in 1u32..400,
            gaps in proptest::collection::vec(0u64..50_000, 1..300),
            start in 0u64..10_000_000_000,
        )| {
            let quota = Quota::new(max, window_s).unwrap();
            let mut counter = Counter::default();
            let mut admitted = Vec::new();
            let mut now = start;
            for gap in gaps {
                now += gap;
                if counter.wait_ms(&quota, now).is_none() {
                    counter.add(&quota, now, 1);
                    admitted.push(now);
                }
            }
            let window = u64::from(window_s) * 1000;
            for (i, &t) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|&&u| u < t + window).count();
                prop_assert!(in_window as u32 <= max, "{in_window} events in [{t}, {t}+{window}) for {quota}");
            }
        });
    }

    /// The wait is exact: admitted at `now + wait`, refused one millisecond earlier.
    #[test]
    fn the_wait_is_exact() {
        use proptest::prelude::*;
        let config = ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(
            max in 1u32..6,
            window_s in 1u32..400,
            gaps in proptest::collection::vec(0u64..20_000, 1..100),
        )| {
            let quota = Quota::new(max, window_s).unwrap();
            let mut counter = Counter::default();
            let mut now = 1_000_000_000u64;
            for gap in gaps {
                now += gap;
                match counter.wait_ms(&quota, now) {
                    None => counter.add(&quota, now, 1),
                    Some(wait) => {
                        prop_assert!(wait > 0);
                        prop_assert!(counter.wait_ms(&quota, now + wait - 1).is_some());
                        prop_assert_eq!(counter.wait_ms(&quota, now + wait), None);
                    }
                }
            }
        });
    }
}
