//! Step 6: automatic pumping protection. Per destination (a country, a number prefix),
//! volume against its own learned baseline and OTP conversion against its own normal.
//!
//! SMS pumping shows as a spike of sends to a destination together with a collapse of
//! conversion (codes approved / codes sent): the numbers belong to the attacker's
//! partner, and nobody types the codes in. A real surge of real users raises volume but
//! keeps conversion. So the detector engages a block on a destination when, over the
//! recent window:
//!
//! - volume is at least `spike_factor` times its baseline (and at least `min_sends`), and
//!   conversion is below `conversion_drop` of its normal (or below `conversion_floor` when
//!   there is no normal yet); or
//! - the destination had no traffic at all in the baseline period and now has
//!   `min_sends` sends whose conversion is below the floor: sudden volume to somewhere
//!   never seen before.
//!
//! Codes sent in the last `allowance_min` minutes are left out of the conversion: their
//! users may not have typed them yet. A block lasts `cooldown_min` and lifts by itself;
//! an operator can lift it earlier. Every engagement carries the figures that triggered
//! it, for the log and the incident timeline.

use serde::{Deserialize, Serialize};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
/// Fine buckets: five minutes, kept for two hours.
const FINE_MS: u64 = 5 * MINUTE_MS;
const FINE_KEEP: u64 = 24;

/// The detector's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// The recent window whose volume is compared (minutes, a multiple of 5, ≤ 60).
    pub window_min: u32,
    pub spike_factor: f64,
    pub min_sends: u32,
    pub conversion_drop: f64,
    pub conversion_floor: f64,
    pub allowance_min: u32,
    pub cooldown_min: u32,
    pub baseline_days: u32,
}

impl Default for Detector {
    fn default() -> Self {
        Detector {
            window_min: 15,
            spike_factor: 5.0,
            min_sends: 20,
            conversion_drop: 0.3,
            conversion_floor: 0.1,
            allowance_min: 10,
            cooldown_min: 30,
            baseline_days: 7,
        }
    }
}

/// The figures behind an engagement (or an assessment that did not engage).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Sends in the recent window.
    pub window_sends: u32,
    /// The baseline's average sends per window of the same length.
    pub baseline_per_window: f64,
    /// Approved / matured sends in the last hour (None: no matured sends).
    pub conversion_now: Option<f64>,
    /// Approved / sent over the baseline period (None: too few sends to say).
    pub conversion_normal: Option<f64>,
}

/// Why the detector engaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    SpikeWithConversionCollapse,
    NewDestination,
}

/// An active block on a destination.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub engaged_ms: u64,
    pub until_ms: u64,
    pub trigger: Trigger,
    pub figures: Figures,
}

/// Sends and approvals to one destination, in hourly buckets (the baseline) and
/// five-minute buckets (the recent past); and its block, if any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// (hour index, sends, approvals), oldest first.
    #[serde(default)]
    h: Vec<(u64, u32, u32)>,
    /// (five-minute index, sends, approvals), oldest first.
    #[serde(default)]
    m: Vec<(u64, u32, u32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<Block>,
}

fn bump(buckets: &mut Vec<(u64, u32, u32)>, index: u64, sends: u32, approvals: u32) {
    match buckets.last_mut() {
        Some(last) if last.0 == index => {
            last.1 = last.1.saturating_add(sends);
            last.2 = last.2.saturating_add(approvals);
        }
        _ => {
            buckets.push((index, sends, approvals));
            buckets.sort_unstable_by_key(|b| b.0);
        }
    }
}

impl Traffic {
    fn prune(&mut self, now_ms: u64, detector: &Detector) {
        let keep_hours = u64::from(detector.baseline_days) * 24 + 2;
        let hour = now_ms / HOUR_MS;
        self.h.retain(|b| b.0 + keep_hours > hour);
        let fine = now_ms / FINE_MS;
        self.m.retain(|b| b.0 + FINE_KEEP > fine);
        if self.block.is_some_and(|b| b.until_ms <= now_ms) {
            self.block = None;
        }
    }

    pub fn record_send(&mut self, now_ms: u64, detector: &Detector) {
        self.prune(now_ms, detector);
        bump(&mut self.h, now_ms / HOUR_MS, 1, 0);
        bump(&mut self.m, now_ms / FINE_MS, 1, 0);
    }

    pub fn record_approval(&mut self, now_ms: u64, detector: &Detector) {
        self.prune(now_ms, detector);
        bump(&mut self.h, now_ms / HOUR_MS, 0, 1);
        bump(&mut self.m, now_ms / FINE_MS, 0, 1);
    }

    /// The active block at `now_ms`, if any.
    pub fn active_block(&self, now_ms: u64) -> Option<Block> {
        self.block.filter(|b| b.until_ms > now_ms)
    }

    pub fn lift(&mut self) {
        self.block = None;
    }

    /// Adds (`sign` 1) or subtracts (-1) `other`'s buckets; the block with the later end
    /// wins. Shards of one destination add up to it (see `counters::KvCounters`).
    pub fn merge(&mut self, other: &Traffic, sign: i64) {
        fn merge_buckets(mine: &mut Vec<(u64, u32, u32)>, theirs: &[(u64, u32, u32)], sign: i64) {
            let clamp = |x: i64| x.clamp(0, i64::from(u32::MAX)) as u32;
            for &(index, sends, approvals) in theirs {
                match mine.iter_mut().find(|b| b.0 == index) {
                    Some(b) => {
                        b.1 = clamp(i64::from(b.1) + sign * i64::from(sends));
                        b.2 = clamp(i64::from(b.2) + sign * i64::from(approvals));
                    }
                    None if sign > 0 => mine.push((index, sends, approvals)),
                    None => {}
                }
            }
            mine.retain(|b| b.1 > 0 || b.2 > 0);
            mine.sort_unstable_by_key(|b| b.0);
        }
        merge_buckets(&mut self.h, &other.h, sign);
        merge_buckets(&mut self.m, &other.m, sign);
        if sign > 0 {
            self.block = match (self.block, other.block) {
                (Some(a), Some(b)) => Some(if b.until_ms > a.until_ms { b } else { a }),
                (a, b) => a.or(b),
            };
        }
    }

    /// Whether nothing is left worth keeping.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty() && self.m.is_empty() && self.block.is_none()
    }

    /// The figures at `now_ms`.
    pub fn figures(&self, now_ms: u64, detector: &Detector) -> Figures {
        let fine_now = now_ms / FINE_MS;
        let window_buckets = u64::from(detector.window_min.div_ceil(5).clamp(1, 12));
        let window_sends = self.m.iter().filter(|b| b.0 + window_buckets > fine_now).map(|b| b.1).sum();

        // Conversion now: approvals in the last hour over sends of the last hour that
        // are older than the allowance.
        let allowance_buckets = u64::from(detector.allowance_min).div_ceil(5);
        let last_hour = |b: &&(u64, u32, u32)| b.0 + 12 > fine_now;
        let matured: u32 =
            self.m.iter().filter(last_hour).filter(|b| b.0 + allowance_buckets <= fine_now).map(|b| b.1).sum();
        let approved: u32 = self.m.iter().filter(last_hour).map(|b| b.2).sum();
        let conversion_now = (matured > 0).then(|| (f64::from(approved) / f64::from(matured)).min(1.0));

        // Baseline: the baseline period up to two hours ago (so the event being judged is
        // not part of its own normal).
        let hour_now = now_ms / HOUR_MS;
        let baseline: Vec<_> = self
            .h
            .iter()
            .filter(|b| b.0 + 2 <= hour_now && b.0 + u64::from(detector.baseline_days) * 24 + 2 > hour_now)
            .collect();
        let (sends, approvals) =
            baseline.iter().fold((0u64, 0u64), |(s, a), b| (s + u64::from(b.1), a + u64::from(b.2)));
        let hours = f64::from(detector.baseline_days * 24);
        let windows_per_hour = 60.0 / f64::from(window_buckets as u32 * 5);
        let baseline_per_window = sends as f64 / hours / windows_per_hour;
        let conversion_normal = (sends >= 20).then(|| (approvals as f64 / sends as f64).min(1.0));
        Figures { window_sends, baseline_per_window, conversion_now, conversion_normal }
    }

    /// Judges the destination at `now_ms`: `Some` engagement if pumping is seen.
    pub fn assess(&self, now_ms: u64, detector: &Detector) -> Option<Block> {
        let f = self.figures(now_ms, detector);
        if f.window_sends < detector.min_sends {
            return None;
        }
        let collapsed = match (f.conversion_now, f.conversion_normal) {
            (Some(now), Some(normal)) => now < normal * detector.conversion_drop || now < detector.conversion_floor,
            (Some(now), None) => now < detector.conversion_floor,
            // No matured sends yet: too early to say anything about conversion.
            (None, _) => false,
        };
        let never_seen = f.baseline_per_window == 0.0;
        let spike = f.window_sends as f64 >= detector.spike_factor * f.baseline_per_window;
        let trigger = match () {
            _ if never_seen && collapsed => Trigger::NewDestination,
            _ if spike && collapsed => Trigger::SpikeWithConversionCollapse,
            _ => return None,
        };
        Some(Block {
            engaged_ms: now_ms,
            until_ms: now_ms + u64::from(detector.cooldown_min) * MINUTE_MS,
            trigger,
            figures: f,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped defaults: the tests describe the product as configured out of the box.
    static D: std::sync::LazyLock<Detector> = std::sync::LazyLock::new(Detector::default);
    const DAY0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    /// A week of steady traffic: `per_hour` sends an hour, `conversion` of them approved.
    fn baseline(per_hour: u32, conversion: f64) -> Traffic {
        let mut t = Traffic::default();
        for hour in 0..7 * 24 {
            for i in 0..per_hour {
                let at = DAY0 + hour * HOUR_MS + u64::from(i) * (HOUR_MS / u64::from(per_hour));
                t.record_send(at, &D);
                if f64::from(i) < f64::from(per_hour) * conversion {
                    t.record_approval(at + 60_000, &D);
                }
            }
        }
        t
    }

    /// `n` sends spread over `minutes` from `start`, `converted` of them approved 1 min later.
    fn burst(t: &mut Traffic, start: u64, minutes: u64, n: u32, converted: u32) {
        for i in 0..n {
            let at = start + u64::from(i) * minutes * MINUTE_MS / u64::from(n);
            t.record_send(at, &D);
            if i < converted {
                t.record_approval(at + MINUTE_MS, &D);
            }
        }
    }

    #[test]
    fn a_spike_with_collapsed_conversion_engages() {
        let mut t = baseline(8, 0.75);
        let start = DAY0 + 7 * 24 * HOUR_MS;
        burst(&mut t, start, 40, 200, 2);
        let now = start + 40 * MINUTE_MS;
        let block = t.assess(now, &D).expect("pumping is seen");
        assert_eq!(block.trigger, Trigger::SpikeWithConversionCollapse);
        assert!(block.figures.window_sends >= 45, "{:?}", block.figures);
        assert!((block.figures.baseline_per_window - 2.0).abs() < 0.1);
        assert!(block.figures.conversion_now.unwrap() < 0.05);
        assert!((block.figures.conversion_normal.unwrap() - 0.75).abs() < 0.05);
        assert_eq!(block.until_ms, now + 30 * MINUTE_MS);
    }

    #[test]
    fn a_real_surge_is_not_blocked() {
        let mut t = baseline(8, 0.75);
        let start = DAY0 + 7 * 24 * HOUR_MS;
        burst(&mut t, start, 60, 400, 300);
        for minute in (15..=60).step_by(5) {
            assert_eq!(t.assess(start + minute * MINUTE_MS, &D), None, "minute {minute}");
        }
    }

    #[test]
    fn codes_not_yet_entered_are_allowed_for() {
        // A burst in the last few minutes: none of it is mature, so no verdict on conversion.
        let mut t = baseline(8, 0.75);
        let start = DAY0 + 7 * 24 * HOUR_MS;
        burst(&mut t, start, 8, 100, 0);
        assert_eq!(t.assess(start + 8 * MINUTE_MS, &D), None);
        // Ten minutes on, those codes have had their chance.
        assert!(t.assess(start + 14 * MINUTE_MS, &D).is_some());
    }

    #[test]
    fn a_destination_never_seen_before() {
        let mut t = Traffic::default();
        let start = DAY0;
        burst(&mut t, start, 15, 30, 0);
        let block = t.assess(start + 15 * MINUTE_MS, &D).expect("new destination");
        assert_eq!(block.trigger, Trigger::NewDestination);
        // The same volume to a new destination whose users do convert is a campaign.
        let mut t = Traffic::default();
        burst(&mut t, start, 15, 30, 24);
        assert_eq!(t.assess(start + 15 * MINUTE_MS, &D), None);
    }

    #[test]
    fn small_volumes_are_never_judged() {
        let mut t = Traffic::default();
        burst(&mut t, DAY0, 15, 19, 0);
        assert_eq!(t.assess(DAY0 + 15 * MINUTE_MS, &D), None);
    }

    #[test]
    fn blocks_expire_and_lift() {
        let mut t = Traffic::default();
        burst(&mut t, DAY0, 15, 30, 0);
        let now = DAY0 + 15 * MINUTE_MS;
        t.block = t.assess(now, &D);
        assert!(t.active_block(now + 29 * MINUTE_MS).is_some());
        assert!(t.active_block(now + 30 * MINUTE_MS).is_none());
        t.lift();
        assert!(t.active_block(now).is_none());
    }

    #[test]
    fn records_stay_small() {
        let t = baseline(50, 0.8);
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.len() < 6_000, "{} bytes", json.len());
    }
}
