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
//!
//! The same records and machinery also watch the *client networks* the sends come from
//! (see [`network_dest`]): each ASN, split by whether the number is in the network's own
//! country (`home`) or not (`abroad`). Low-and-slow pumping spreads its sends over the
//! app's own destinations, a few percent above normal each, so no destination spikes and
//! each one's conversion only sags; but the proxies and cloud hosts it sends from carry
//! few real users, so *their* conversion collapses. A network is blocked when its sends
//! of the last `network.window_h` hours (at least `network.min_sends` of them old enough
//! to have been entered) convert below `network.conversion_floor`, or below
//! `network.conversion_drop` of its own normal (the baseline period before the window).
//! A real surge from a network, however large, converts normally and is never blocked.
//! When the cool-down ends the network is judged again on its window, so a network whose
//! codes are still not entered stays blocked until that evidence ages out; an operator's
//! lift also sets the evidence aside (only hours after the lift count).
//!
//! The same long-window judgement also watches every destination (`slow`, with its own
//! thresholds): pumping spread thin over many destinations puts a few sends an hour into
//! each, never enough in fifteen minutes for a spike, but over a day a destination whose
//! codes are not entered shows it (most of all one the app never served, which has no
//! real users to dilute it). A destination whose normal conversion is kept, however busy,
//! is never blocked by it.
//!
//! One case needs less evidence: a destination nobody has ever entered a code for (no
//! approval in the whole baseline period) whose codes are asked by clients abroad. The
//! app's real users of a country are mostly in it; pumping to a country the app never
//! served comes from proxies and cloud hosts elsewhere. Once `unserved_min_sends` of its
//! sends have gone unentered, clients abroad are refused for the cool-down (an
//! `abroad_only` block, trigger `unserved_destination`), while clients in the country are
//! still served: a real new market shows itself by entering codes, which ends it.

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
    /// The client-network detector (same allowance, cool-down and baseline period).
    #[serde(default = "LongWindow::network")]
    pub network: LongWindow,
    /// The long-window judgement of destinations (countries and prefixes).
    #[serde(default = "LongWindow::slow")]
    pub slow: LongWindow,
    /// Matured unentered sends (in the `slow` window) after which clients abroad are
    /// refused a destination nobody ever entered a code for (0: off).
    #[serde(default = "Detector::default_unserved_min_sends")]
    pub unserved_min_sends: u32,
}

/// The settings of a long-window conversion judgement: the client-network detector's,
/// and the slow-pumping judgement of destinations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LongWindow {
    /// Hours of sends whose conversion is judged (1 to 168, at most the baseline period).
    pub window_h: u32,
    /// Fewer matured sends than this in the window are never judged (0: judgement off).
    pub min_sends: u32,
    /// For one never seen in the baseline period before the window: no real users to
    /// dilute an attack, so less evidence suffices (at most `min_sends`).
    pub new_min_sends: u32,
    pub conversion_floor: f64,
    pub conversion_drop: f64,
}

impl LongWindow {
    /// The client-network detector's defaults.
    pub fn network() -> Self {
        LongWindow { window_h: 24, min_sends: 15, new_min_sends: 15, conversion_floor: 0.3, conversion_drop: 0.5 }
    }

    /// The slow-pumping judgement's defaults: stricter than a network's, since a
    /// destination blocked turns away every real user of it (users converting 77% show at
    /// most one approval in twelve sends about once in a million). New destinations get
    /// no lower bar by default: on a fresh deployment, or a replay from an empty state,
    /// every destination is new for the first baseline period, and five unentered codes
    /// in a small country's night are then too easily real users plus a little attack.
    pub fn slow() -> Self {
        LongWindow { window_h: 24, min_sends: 12, new_min_sends: 12, conversion_floor: 0.15, conversion_drop: 0.3 }
    }
}

/// The pumping destination of a client network: its ASN, and whether the number it asks
/// a code for is in the network's own country (`AS3215:home`) or not (`AS3215:abroad`).
/// An unknown IP country counts as home.
pub fn network_dest(asn: u32, abroad: bool) -> String {
    format!("AS{asn}:{}", if abroad { "abroad" } else { "home" })
}

/// Whether a pumping destination is a client network (`AS3215:home`) rather than a
/// country or a number prefix (`AS` alone is American Samoa).
pub fn is_network(dest: &str) -> bool {
    dest.strip_prefix("AS").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The ASN of a network destination (`AS3215:home` → 3215).
pub fn network_asn(dest: &str) -> Option<u32> {
    dest.strip_prefix("AS")?.split(':').next()?.parse().ok()
}

/// The protection scope of a destination, as answers and log lines name it: `country`,
/// `prefix` or `network`.
pub fn scope_of(dest: &str) -> &'static str {
    if dest.starts_with('+') {
        "prefix"
    } else if is_network(dest) {
        "network"
    } else {
        "country"
    }
}

/// The network destinations an operator names: `AS3215:home`, `AS3215:abroad`, or
/// `AS3215` for both. `None` if `name` is not one of those forms.
pub fn network_dests(name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix("AS")?;
    let (asn, slice) = match rest.split_once(':') {
        Some((asn, slice)) => (asn, Some(slice)),
        None => (rest, None),
    };
    let valid_asn = !asn.is_empty() && asn.len() <= 10 && asn.bytes().all(|b| b.is_ascii_digit());
    let asn: u32 = asn.parse().ok().filter(|_| valid_asn)?;
    match slice {
        None => Some(vec![network_dest(asn, false), network_dest(asn, true)]),
        Some("home") => Some(vec![network_dest(asn, false)]),
        Some("abroad") => Some(vec![network_dest(asn, true)]),
        Some(_) => None,
    }
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
            network: LongWindow::network(),
            slow: LongWindow::slow(),
            unserved_min_sends: Detector::default_unserved_min_sends(),
        }
    }
}

impl Detector {
    /// Three codes in a row not entered, from users converting 77%, happen about once in
    /// eighty; the block then holds only clients abroad, a few percent of a real market.
    fn default_unserved_min_sends() -> u32 {
        3
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
    /// A client network's sends stopped converting.
    NetworkConversionCollapse,
    /// A destination's sends over the long window stopped converting (slow pumping).
    SlowConversionCollapse,
    /// Clients abroad ask codes for a destination nobody ever entered one for.
    UnservedDestination,
}

/// An active block on a destination.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub engaged_ms: u64,
    pub until_ms: u64,
    pub trigger: Trigger,
    pub figures: Figures,
    /// Refuses only clients abroad (outside the number's country): those in it are served.
    #[serde(default, skip_serializing_if = "is_false")]
    pub abroad_only: bool,
}

impl Block {
    /// A block engaged at `now_ms` for the detector's cool-down, on every client.
    fn engaged(now_ms: u64, detector: &Detector, trigger: Trigger, figures: Figures) -> Block {
        Block {
            engaged_ms: now_ms,
            until_ms: now_ms + u64::from(detector.cooldown_min) * MINUTE_MS,
            trigger,
            figures,
            abroad_only: false,
        }
    }

    /// Whether the block refuses a client abroad (`true`) or in the number's country.
    pub fn refuses(&self, abroad: bool) -> bool {
        abroad || !self.abroad_only
    }
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
    /// When an operator last lifted the block: the long window's evidence before it is
    /// set aside.
    #[serde(default, skip_serializing_if = "is_zero")]
    since_ms: u64,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

fn is_false(x: &bool) -> bool {
    !*x
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
        // A lift older than every bucket kept sets nothing aside any more.
        if self.since_ms / HOUR_MS + keep_hours <= hour {
            self.since_ms = 0;
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

    /// An operator's lift at `now_ms`: the block goes, and the long window's evidence so
    /// far is set aside (only hours that start after the lift are judged).
    pub fn lift_at(&mut self, now_ms: u64) {
        self.lift();
        self.since_ms = self.since_ms.max(now_ms);
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
            self.since_ms = self.since_ms.max(other.since_ms);
            self.block = match (self.block, other.block) {
                (Some(a), Some(b)) => Some(if b.until_ms > a.until_ms { b } else { a }),
                (a, b) => a.or(b),
            };
        }
    }

    /// Whether nothing is left worth keeping. An operator's lift is: in a sharded record
    /// it may be all that the shard the lift wrote to holds.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty() && self.m.is_empty() && self.block.is_none() && self.since_ms == 0
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

    /// Judges `dest` (a country, a prefix or a client network) at `now_ms`, for a send
    /// from a client `abroad` (outside the number's country) or not.
    pub fn judge(&self, dest: &str, now_ms: u64, detector: &Detector, abroad: bool) -> Option<Block> {
        if is_network(dest) {
            self.assess_long(now_ms, &detector.network, Trigger::NetworkConversionCollapse, detector)
        } else {
            self.assess(now_ms, detector)
                .or_else(|| self.assess_long(now_ms, &detector.slow, Trigger::SlowConversionCollapse, detector))
                .or_else(|| if abroad { self.assess_unserved(now_ms, detector) } else { None })
        }
    }

    /// The judgement of a destination nobody ever entered a code for (see the module
    /// doc): `Some` block on clients abroad once `unserved_min_sends` of its sends in the
    /// slow window have matured unentered.
    pub fn assess_unserved(&self, now_ms: u64, detector: &Detector) -> Option<Block> {
        if detector.unserved_min_sends == 0 || self.h.iter().any(|b| b.2 > 0) {
            return None;
        }
        let f = self.long_figures(now_ms, &detector.slow, detector);
        (f.window_sends >= detector.unserved_min_sends)
            .then(|| Block { abroad_only: true, ..Block::engaged(now_ms, detector, Trigger::UnservedDestination, f) })
    }

    /// The long window's figures at `now_ms`: the matured sends of the last
    /// `window.window_h` hours, their conversion, and the normal from the baseline period
    /// before that window.
    pub fn long_figures(&self, now_ms: u64, window: &LongWindow, detector: &Detector) -> Figures {
        let hour_now = now_ms / HOUR_MS;
        let keep_hours = u64::from(detector.baseline_days) * 24;
        let window_h = u64::from(window.window_h).clamp(1, keep_hours);
        // After an operator's lift only the hours that start after it count.
        let since_hour = self.since_ms.div_ceil(HOUR_MS);
        let in_window = |b: &&(u64, u32, u32)| b.0 + window_h > hour_now && b.0 >= since_hour;
        let (sends, approved) = self.h.iter().filter(in_window).fold((0u32, 0u32), |(s, a), b| (s + b.1, a + b.2));
        // Codes sent in the allowance may not have been typed yet.
        let fine_now = now_ms / FINE_MS;
        let allowance_buckets = u64::from(detector.allowance_min).div_ceil(5);
        let fresh: u32 = self
            .m
            .iter()
            .filter(|b| b.0 + allowance_buckets > fine_now && b.0 * FINE_MS >= since_hour * HOUR_MS)
            .map(|b| b.1)
            .sum();
        let matured = sends.saturating_sub(fresh);
        let conversion_now = (matured > 0).then(|| (f64::from(approved) / f64::from(matured)).min(1.0));
        let baseline = self.h.iter().filter(|b| b.0 + window_h <= hour_now && b.0 + keep_hours + 2 > hour_now);
        let (base_sends, base_approved) =
            baseline.fold((0u64, 0u64), |(s, a), b| (s + u64::from(b.1), a + u64::from(b.2)));
        let base_hours = (keep_hours - window_h).max(1) as f64;
        Figures {
            window_sends: matured,
            baseline_per_window: base_sends as f64 / base_hours * window_h as f64,
            conversion_now,
            conversion_normal: (base_sends >= 20).then(|| (base_approved as f64 / base_sends as f64).min(1.0)),
        }
    }

    /// The long-window judgement at `now_ms`: `Some` engagement, with `trigger`, if the
    /// sends of the window stopped converting (see the module doc).
    pub fn assess_long(
        &self,
        now_ms: u64,
        window: &LongWindow,
        trigger: Trigger,
        detector: &Detector,
    ) -> Option<Block> {
        if window.min_sends == 0 {
            return None;
        }
        let f = self.long_figures(now_ms, window, detector);
        let never_seen = f.baseline_per_window == 0.0;
        let needed = if never_seen { window.new_min_sends.clamp(1, window.min_sends) } else { window.min_sends };
        let now = f.conversion_now.filter(|_| f.window_sends >= needed)?;
        let collapsed = now < window.conversion_floor
            || f.conversion_normal.is_some_and(|normal| now < normal * window.conversion_drop);
        collapsed.then(|| Block::engaged(now_ms, detector, trigger, f))
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
        Some(Block::engaged(now_ms, detector, trigger, f))
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

    /// `n` sends from one network spread over `hours` from `start`, every `converted_every`-th
    /// one approved a minute later (0: none).
    fn network_sends(t: &mut Traffic, start: u64, hours: u64, n: u32, converted_every: u32) {
        for i in 0..n {
            let at = start + u64::from(i) * hours * HOUR_MS / u64::from(n);
            t.record_send(at, &D);
            if converted_every > 0 && i % converted_every == 0 {
                t.record_approval(at + MINUTE_MS, &D);
            }
        }
    }

    #[test]
    fn a_network_whose_codes_are_not_entered_is_blocked_then_released() {
        // A proxy network sending a code every ten minutes, none of them entered: slow,
        // far under every per-key limit.
        let mut t = Traffic::default();
        network_sends(&mut t, DAY0, 4, 24, 0);
        // Two hours in: 12 sends, fewer than 15: too few to judge.
        assert_eq!(t.judge("AS7552:abroad", DAY0 + 2 * HOUR_MS, &D, false), None);
        let now = DAY0 + 4 * HOUR_MS;
        let block = t.judge("AS7552:abroad", now, &D, false).expect("a network that never converts");
        assert_eq!(block.trigger, Trigger::NetworkConversionCollapse);
        assert_eq!(block.figures.window_sends, 24, "{:?}", block.figures);
        assert_eq!(block.figures.conversion_now, Some(0.0));
        assert_eq!(block.until_ms, now + 30 * MINUTE_MS);
        // The same record judged as a destination is no spike (too few sends in any fifteen
        // minutes): only the slow judgement sees it, and with its higher bar of evidence.
        assert_eq!(t.assess(now, &D), None);
        assert_eq!(t.judge("VN", now, &D, false).map(|b| b.trigger), Some(Trigger::SlowConversionCollapse));
        // An operator's lift sets the evidence aside; a day later it has aged out anyway.
        let mut lifted = t.clone();
        lifted.block = Some(block);
        lifted.lift_at(now);
        assert!(lifted.active_block(now).is_none());
        assert_eq!(lifted.judge("AS7552:abroad", now + MINUTE_MS, &D, false), None);
        assert_eq!(t.judge("AS7552:abroad", now + 25 * HOUR_MS, &D, false), None);
    }

    #[test]
    fn a_real_surge_from_a_network_is_not_blocked() {
        // A residential network with a normal week, then a campaign: ten times the volume
        // in an afternoon, converting as usual.
        let start = DAY0 + 7 * 24 * HOUR_MS;
        let mut converted = baseline(20, 0.8);
        // 3 in 4 converted, approved two minutes after the send.
        for i in 0..600u64 {
            let at = start + i * 3 * HOUR_MS / 600;
            converted.record_send(at, &D);
            if i % 4 != 0 {
                converted.record_approval(at + 2 * MINUTE_MS, &D);
            }
        }
        for minute in (20..=180).step_by(20) {
            assert_eq!(converted.judge("AS7922:home", start + minute * MINUTE_MS, &D, false), None, "minute {minute}");
        }
        let f = converted.long_figures(start + 3 * HOUR_MS, &D.network, &D);
        assert!((f.conversion_normal.unwrap() - 0.8).abs() < 0.05, "{f:?}");
        assert!(f.window_sends > 500, "{f:?}");
    }

    #[test]
    fn a_network_whose_conversion_halves_against_its_normal() {
        // Normal 0.8 over the week; then a day converting 1 in 3: above the floor, under
        // half of the normal.
        let mut t = baseline(10, 0.8);
        let start = DAY0 + 7 * 24 * HOUR_MS;
        for i in 0..40u64 {
            let at = start + i * 30 * MINUTE_MS;
            t.record_send(at, &D);
            if i % 3 == 0 {
                t.record_approval(at + MINUTE_MS, &D);
            }
        }
        let block = t.judge("AS3215:home", start + 25 * HOUR_MS, &D, false).expect("conversion halved");
        let f = block.figures;
        assert!(f.conversion_now.unwrap() > D.network.conversion_floor, "{f:?}");
        assert!((f.conversion_normal.unwrap() - 0.8).abs() < 0.05, "{f:?}");
        // Turned off, nothing is judged.
        let off = Detector { network: LongWindow { min_sends: 0, ..D.network }, ..*D };
        assert_eq!(t.judge("AS3215:home", start + 25 * HOUR_MS, &off, false), None);
    }

    #[test]
    fn slow_pumping_to_a_destination_is_blocked_after_enough_evidence() {
        // A quiet destination (two sends an hour, half of them entered) for a week, then a
        // quiet day; then three sends an hour, none entered: never a spike, never enough
        // in fifteen minutes.
        let start = DAY0 + 8 * 24 * HOUR_MS;
        let mut t = baseline(2, 0.5);
        network_sends(&mut t, start, 4, 11, 0);
        let four_hours = start + 4 * HOUR_MS;
        assert_eq!(t.assess(four_hours, &D), None);
        // Eleven matured sends: fewer than twelve, not judged yet.
        assert_eq!(t.judge("KG", four_hours, &D, false), None);
        network_sends(&mut t, four_hours, 1, 3, 0);
        let now = four_hours + HOUR_MS;
        let block = t.judge("KG", now, &D, false).expect("a destination whose codes are no longer entered");
        assert_eq!(block.trigger, Trigger::SlowConversionCollapse);
        assert!(block.figures.window_sends >= 12, "{:?}", block.figures);
        assert!(block.figures.conversion_now.unwrap() < 0.15, "{:?}", block.figures);
        assert!(block.figures.conversion_normal.is_some(), "{:?}", block.figures);
        assert_eq!(block.until_ms, now + 30 * MINUTE_MS);
        // Turned off, nothing is judged.
        let off = Detector { slow: LongWindow { min_sends: 0, ..D.slow }, ..*D };
        assert_eq!(t.judge("KG", now, &off, false), None);
        // An operator's lift sets the evidence aside.
        let mut lifted = t.clone();
        lifted.block = Some(block);
        lifted.lift_at(now);
        assert_eq!(lifted.judge("KG", now + MINUTE_MS, &D, false), None);

        // A destination never seen before, with a lower bar for new destinations
        // (`PUMPING_SLOW_NEW_MIN_SENDS = 5`): five unentered codes suffice, four do not;
        // a destination with a baseline still needs twelve.
        let eager = Detector { slow: LongWindow { new_min_sends: 5, ..D.slow }, ..*D };
        let mut new = Traffic::default();
        network_sends(&mut new, start, 2, 4, 0);
        assert_eq!(new.judge("TJ", start + 3 * HOUR_MS, &eager, false), None);
        network_sends(&mut new, start + 3 * HOUR_MS, 1, 1, 0);
        let block = new.judge("TJ", start + 4 * HOUR_MS, &eager, false).expect("a new destination that never converts");
        assert_eq!((block.trigger, block.figures.window_sends), (Trigger::SlowConversionCollapse, 5));
        assert_eq!(new.judge("TJ", start + 4 * HOUR_MS, &D, false), None, "the default bar is twelve");
        assert_eq!(t.judge("KG", four_hours, &eager, false), None, "not new: twelve needed");
    }

    #[test]
    fn a_destination_nobody_entered_a_code_for_is_refused_to_clients_abroad() {
        let start = DAY0 + 8 * 24 * HOUR_MS;
        let mut t = Traffic::default();
        network_sends(&mut t, start, 1, 2, 0);
        let hour = start + HOUR_MS;
        assert_eq!(t.judge("TJ", hour, &D, true), None, "two unentered codes are not enough");
        network_sends(&mut t, hour, 1, 1, 0);
        let now = hour + HOUR_MS;
        let block = t.judge("TJ", now, &D, true).expect("three unentered codes, asked from abroad");
        assert_eq!((block.trigger, block.abroad_only), (Trigger::UnservedDestination, true));
        assert_eq!((block.figures.window_sends, block.figures.conversion_now), (3, Some(0.0)));
        assert_eq!(block.until_ms, now + 30 * MINUTE_MS);
        assert!(block.refuses(true) && !block.refuses(false), "clients in the country are served");
        // Asked from the country itself, the same evidence is not enough.
        assert_eq!(t.judge("TJ", now, &D, false), None);
        // Turned off, nothing.
        assert_eq!(t.judge("TJ", now, &Detector { unserved_min_sends: 0, ..*D }, true), None);
        // One code entered in the baseline period makes it a served destination.
        let mut served = t.clone();
        served.record_approval(start + MINUTE_MS, &D);
        assert_eq!(served.judge("TJ", now, &D, true), None);
        // Other blocks refuse every client; the record keeps `abroad_only` only when set.
        assert!(t
            .assess_long(now, &LongWindow { min_sends: 3, ..D.slow }, Trigger::SlowConversionCollapse, &D)
            .is_some_and(|b| b.refuses(false)));
        let json = serde_json::to_string(&block).unwrap();
        assert!(json.contains(r#""abroad_only":true"#), "{json}");
        let old: Block = serde_json::from_str(&json.replace(r#","abroad_only":true"#, "")).unwrap();
        assert!(!old.abroad_only, "a block stored before the field refuses everyone");
    }

    #[test]
    fn a_destination_whose_users_convert_is_never_blocked_slowly() {
        // A quiet destination with a normal week, then a busy day converting as usual,
        // and a day with a slow attack on top that only sags its conversion (77% to 60%).
        let start = DAY0 + 7 * 24 * HOUR_MS;
        let mut t = baseline(4, 0.77);
        network_sends(&mut t, start, 24, 200, 2);
        for hour in (1..=24).step_by(3) {
            assert_eq!(t.judge("PT", start + hour * HOUR_MS, &D, false), None, "hour {hour}");
        }
        let mut sagging = baseline(4, 0.77);
        for i in 0..120u64 {
            let at = start + i * 12 * MINUTE_MS;
            sagging.record_send(at, &D);
            if i % 5 < 3 {
                sagging.record_approval(at + MINUTE_MS, &D);
            }
        }
        assert_eq!(sagging.judge("PT", start + 24 * HOUR_MS, &D, false), None);
        // A new destination whose first users convert: a market opening, not an attack.
        let mut new = Traffic::default();
        network_sends(&mut new, start, 6, 40, 2);
        assert_eq!(new.judge("ES", start + 6 * HOUR_MS, &D, false), None);
    }

    #[test]
    fn network_names() {
        assert_eq!(network_dest(3215, false), "AS3215:home");
        assert_eq!(network_dest(3215, true), "AS3215:abroad");
        assert_eq!(network_asn("AS3215:abroad"), Some(3215));
        assert_eq!(network_dests("AS3215"), Some(vec!["AS3215:home".to_owned(), "AS3215:abroad".to_owned()]));
        assert_eq!(network_dests("AS3215:abroad"), Some(vec!["AS3215:abroad".to_owned()]));
        for bad in ["AS", "AS:home", "AS12x", "AS1:away", "AS99999999999", "3215", "+3215"] {
            assert_eq!(network_dests(bad), None, "{bad}");
        }
        assert_eq!((scope_of("CG"), scope_of("+24206"), scope_of("AS1:home")), ("country", "prefix", "network"));
        assert_eq!(scope_of("AS"), "country", "American Samoa");
    }

    #[test]
    fn records_stay_small() {
        let t = baseline(50, 0.8);
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.len() < 6_000, "{} bytes", json.len());
    }
}
