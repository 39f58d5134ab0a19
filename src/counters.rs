//! Step 5, storage: the rate-limit counters and the voice gate, behind one operation.
//!
//! A request's counters (per IP, subnet, number, prefix, country and global, and the
//! number's send history) travel together as one [`Op`]: `Check` (read only, before the
//! captcha), `Reserve` (check and count, atomically where the backend can, after the
//! captcha) and `Release` (take a reservation back when Twilio did not send). [`apply`]
//! is the whole logic, a pure function over the stored records; a backend only moves
//! records:
//!
//! - [`KvCounters`] (the default) reads every record in one bulk read and writes the
//!   changed ones back. Workers KV has no atomic increment, is eventually consistent
//!   between locations (up to ~60 s) and takes about one write per second per key, so
//!   under a burst of concurrent requests KV mode lets a few more through than the quota.
//! - The Durable Object backend (`COUNTER_BACKEND = "durable_object"`, in `src/edge/`)
//!   runs the same [`apply`] inside one object whose storage operations are serialised:
//!   exact under any concurrency.

use crate::decision::{Reason, Scope};
use crate::limits::{wait_s, Counter, Quota};
use crate::phone::NumberType;
use crate::ports::{Store, StoreFault, Write};
use crate::pumping::{Block, Detector, Traffic};
use crate::request::Channel;
use crate::voice::{history_ttl_s, Gate, History, Outlook, Refusal};
use serde::{Deserialize, Serialize};

/// One counter a request touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// A rate limit: `quotas` on the events under `key`.
    Limit { scope: Scope, key: String, quotas: Vec<Quota> },
    /// The number's send history and the voice gate.
    Gate { key: String, gate: Gate, channel: Channel, kind: NumberType },
    /// A spend cap: `quotas` in mills, each send weighing its price.
    Cap { key: String, quotas: Vec<Quota>, weight: u32 },
    /// A destination's traffic and pumping block: `dest` is a country (`GB`), a number
    /// prefix (`+44740012`) or a client network (`AS2856:home`, see `pumping::network_dest`).
    /// `abroad`: the client is outside the number's country (some blocks refuse only those).
    Traffic {
        key: String,
        dest: String,
        detector: Detector,
        #[serde(default)]
        abroad: bool,
    },
}

impl Entry {
    pub fn key(&self) -> &str {
        match self {
            Entry::Limit { key, .. }
            | Entry::Gate { key, .. }
            | Entry::Cap { key, .. }
            | Entry::Traffic { key, .. } => key,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Would the request be admitted? Writes nothing.
    Check,
    /// Admit and count it, or refuse it. With `force` (monitor mode) it is counted even
    /// when refused, so the counters keep describing real traffic.
    Reserve { force: bool },
    /// Take back the reservation made at `at_ms`.
    Release { at_ms: u64 },
    /// A code was approved: count it for the destinations' conversion.
    Approve,
    /// An operator lifts the destinations' pumping blocks.
    Lift,
}

/// A batch of counter work for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub action: Action,
    pub now_ms: u64,
    pub entries: Vec<Entry>,
}

/// What the counters say, and after a reservation what the number's history allows next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub verdict: Verdict,
    pub outlook: Option<Outlook>,
    /// Blocks this operation engaged, with the destination and the figures.
    #[serde(default)]
    pub engaged: Vec<(String, Block)>,
}

/// Whether the request fits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Admit,
    /// A quota is full: the scope with the longest wait, and that wait.
    Limited {
        scope: Scope,
        retry_after_s: u64,
    },
    /// A call asked for before the voice gate opened.
    CallLocked {
        required: u32,
        sent: u32,
    },
    /// A destination is under a pumping block (`abroad_only`: one that refuses only
    /// clients outside the number's country).
    Protected {
        dest: String,
        #[serde(default)]
        abroad_only: bool,
    },
    /// A spend cap is reached.
    Capped,
}

impl Verdict {
    /// The refusal, if any, as a contract reason.
    pub fn refusal(&self) -> Option<Reason> {
        match self {
            Verdict::Admit => None,
            Verdict::Limited { scope, retry_after_s } => {
                Some(Reason::RateLimited { scope: *scope, retry_after_s: *retry_after_s })
            }
            Verdict::CallLocked { required, sent } => {
                Some(Refusal::CallLocked { required: *required, sent: *sent }.into())
            }
            Verdict::Protected { dest, abroad_only } => {
                let scope = crate::pumping::scope_of(dest);
                let detail = if scope == "network" {
                    "verifications from this network are paused: its recent codes were not entered, as in SMS pumping"
                        .to_owned()
                } else if *abroad_only {
                    format!(
                        "verifications to {dest} from outside its country are paused: nobody has entered a code sent there, as in SMS pumping"
                    )
                } else {
                    format!("verifications to {dest} are paused: the traffic looks like SMS pumping")
                };
                Some(Reason::Paused { scope, detail })
            }
            Verdict::Capped => Some(Reason::ProtectionEngaged("the estimated spend cap is reached".into())),
        }
    }
}

/// The counter logic on stored records: reads them through `read` (`None`: no record),
/// returns the tally and the records to write back (none for `Check`, or for a refused,
/// unforced `Reserve`). The Durable Object backend's entry point; [`KvCounters`] runs
/// [`apply_records`] on records it has already parsed.
pub fn apply(op: &Op, read: impl Fn(&str) -> Option<String>) -> (Tally, Vec<Write>) {
    let mut records: Vec<Record> =
        op.entries.iter().map(|entry| Record::parse(entry, read(entry.key()).as_deref(), op.now_ms)).collect();
    let (tally, changed) = apply_records(op, &mut records);
    let writes = changed.into_iter().map(|i| records[i].write(&op.entries[i])).collect();
    (tally, writes)
}

/// The counter logic on parsed records, one per entry, changed in place: the tally and
/// the indices of the entries whose records must be written back.
fn apply_records(op: &Op, records: &mut [Record]) -> (Tally, Vec<usize>) {
    let now = op.now_ms;

    match op.action {
        Action::Approve | Action::Lift => {
            let mut changed = Vec::new();
            for (i, (entry, record)) in op.entries.iter().zip(records.iter_mut()).enumerate() {
                if let (Entry::Traffic { detector, .. }, Record::Traffic(t)) = (entry, record) {
                    if op.action == Action::Approve {
                        t.record_approval(now, detector);
                    } else {
                        t.lift_at(now);
                    }
                    changed.push(i);
                }
            }
            return (Tally { verdict: Verdict::Admit, outlook: None, engaged: Vec::new() }, changed);
        }
        Action::Check | Action::Reserve { .. } | Action::Release { .. } => {}
    }

    // The verdict, in precedence: pumping block, spend cap, locked call, longest wait.
    let mut protected: Option<(String, bool)> = None;
    let mut capped = false;
    let mut locked = None;
    let mut longest: Option<(Scope, u64)> = None;
    for (entry, record) in op.entries.iter().zip(records.iter()) {
        let mut limited = |scope: Scope, wait: u64| {
            if longest.is_none_or(|(_, w)| wait > w) {
                longest = Some((scope, wait));
            }
        };
        match (entry, record) {
            (Entry::Limit { scope, quotas, .. }, Record::Counter(c)) => {
                if let Some(wait) = wait_s(c, quotas, now) {
                    limited(*scope, wait);
                }
            }
            (Entry::Gate { gate, channel, kind, .. }, Record::History(h)) => {
                match h.admit(gate, *channel, *kind, now) {
                    Ok(()) => {}
                    Err(Refusal::Wait(wait)) => limited(Scope::Phone, wait),
                    Err(refusal @ Refusal::CallLocked { .. }) => locked = Some(refusal),
                }
            }
            (Entry::Cap { quotas, weight, .. }, Record::Counter(c)) => {
                // Over the cap if this send's weight would not fit.
                capped |= quotas.iter().any(|q| c.count(q, now).saturating_add(*weight) > q.max.get());
            }
            (Entry::Traffic { dest, abroad, .. }, Record::Traffic(t)) if protected.is_none() => {
                if let Some(block) = t.active_block(now).filter(|b| b.refuses(*abroad)) {
                    protected = Some((dest.clone(), block.abroad_only));
                }
            }
            _ => {}
        }
    }
    let verdict = match (protected, capped, locked, longest) {
        (Some((dest, abroad_only)), ..) => Verdict::Protected { dest, abroad_only },
        (None, true, ..) => Verdict::Capped,
        (None, false, Some(Refusal::CallLocked { required, sent }), _) => Verdict::CallLocked { required, sent },
        (None, false, _, Some((scope, retry_after_s))) => Verdict::Limited { scope, retry_after_s },
        _ => Verdict::Admit,
    };
    let untouched = |verdict| (Tally { verdict, outlook: None, engaged: Vec::new() }, Vec::new());
    let (delta, at) = match op.action {
        Action::Check => return untouched(verdict),
        Action::Reserve { force } if force || verdict == Verdict::Admit => (1, now),
        Action::Reserve { .. } => return untouched(verdict),
        Action::Release { at_ms } => (-1, at_ms),
        Action::Approve | Action::Lift => unreachable!("handled above"),
    };

    // A reservation first asks the detector whether this send completes a pumping
    // pattern; if so the block is stored and the send refused, and nothing is counted.
    if delta > 0 {
        let mut engaged = Vec::new();
        let mut changed = Vec::new();
        for (i, (entry, record)) in op.entries.iter().zip(records.iter_mut()).enumerate() {
            if let (Entry::Traffic { dest, detector, abroad, .. }, Record::Traffic(t)) = (entry, record) {
                let mut with_send = t.clone();
                with_send.record_send(at, detector);
                if let Some(block) = with_send.judge(dest, at, detector, *abroad) {
                    t.block = Some(block);
                    engaged.push((dest.clone(), block));
                    changed.push(i);
                }
            }
        }
        if let Some((dest, block)) = engaged.first() {
            let verdict = Verdict::Protected { dest: dest.clone(), abroad_only: block.abroad_only };
            return (Tally { verdict, outlook: None, engaged }, changed);
        }
    }

    let mut outlook = None;
    for (entry, record) in op.entries.iter().zip(records.iter_mut()) {
        match (entry, record) {
            (Entry::Limit { quotas, .. }, Record::Counter(c)) => {
                for quota in quotas {
                    c.add(quota, at, delta);
                }
            }
            (Entry::Cap { quotas, weight, .. }, Record::Counter(c)) => {
                let weight = i32::try_from(*weight).unwrap_or(i32::MAX);
                for quota in quotas {
                    c.add(quota, at, delta * weight);
                }
            }
            (Entry::Gate { gate, channel, .. }, Record::History(h)) => {
                if delta > 0 {
                    outlook = Some(h.record(gate, *channel, at));
                } else {
                    h.unrecord(*channel, at);
                }
            }
            // A released send stays in the traffic figures: it was an attempt.
            (Entry::Traffic { detector, .. }, Record::Traffic(t)) if delta > 0 => t.record_send(at, detector),
            _ => {}
        }
    }
    (Tally { verdict, outlook, engaged: Vec::new() }, (0..records.len()).collect())
}

/// One entry's stored record, parsed.
#[derive(Debug, Clone)]
enum Record {
    Counter(Counter),
    History(History),
    Traffic(Traffic),
}

impl Record {
    /// The entry's record from its stored text (`None` or unreadable: an empty record).
    fn parse(entry: &Entry, raw: Option<&str>, now: u64) -> Record {
        fn read<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> T {
            raw.and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default()
        }
        match entry {
            Entry::Limit { .. } | Entry::Cap { .. } => Record::Counter(read(raw)),
            Entry::Gate { gate, .. } => Record::History(read::<History>(raw).recent(now, history_ttl_s(gate))),
            Entry::Traffic { .. } => Record::Traffic(read(raw)),
        }
    }

    /// Adds (`sign` 1) or subtracts (-1) `other`: shards of one record add up to it.
    /// (A number's history is never sharded.)
    fn merge(&mut self, other: &Record, sign: i64) {
        match (self, other) {
            (Record::Counter(a), Record::Counter(b)) => a.merge(b, sign),
            (Record::Traffic(a), Record::Traffic(b)) => a.merge(b, sign),
            _ => {}
        }
    }

    /// The text to store, or `None` when nothing is left (the key is deleted).
    fn value(&self) -> Option<String> {
        let text = |empty: bool, json: serde_json::Result<String>| if empty { None } else { json.ok() };
        match self {
            Record::Counter(c) => text(c.is_empty(), serde_json::to_string(c)),
            Record::History(h) => text(h.sms_ms.is_empty(), serde_json::to_string(h)),
            Record::Traffic(t) => text(t.is_empty(), serde_json::to_string(t)),
        }
    }

    /// The write that stores this record, with its entry's TTL.
    fn write(&self, entry: &Entry) -> Write {
        Write { key: entry.key().to_owned(), value: self.value(), ttl_s: ttl_s(entry) }
    }
}

/// How long an entry's record is kept after its last write.
fn ttl_s(entry: &Entry) -> u64 {
    match entry {
        Entry::Limit { quotas, .. } | Entry::Cap { quotas, .. } => {
            let longest = quotas.iter().map(|q| u64::from(q.window_s.get())).max().unwrap_or(0);
            longest + longest / 10 + 60
        }
        Entry::Gate { gate, .. } => history_ttl_s(gate),
        Entry::Traffic { detector, .. } => u64::from(detector.baseline_days + 1) * 86_400,
    }
}

/// A counter backend.
#[allow(async_fn_in_trait)]
pub trait Counters {
    async fn run(&self, op: &Op) -> Result<Tally, StoreFault>;
}

/// Shards of a hot record in KV mode.
pub const HOT_SHARDS: u64 = 8;

/// Whether `key` is written by sends to many numbers at once (global, per-country, and
/// the traffic of each country and each client network), and so would meet KV's
/// one-write-per-second-per-key limit.
fn is_hot(key: &str) -> bool {
    key == "n:global"
        || key == "s:global"
        || key.starts_with("n:country:")
        || key.starts_with("s:country:")
        || (key.starts_with("t:") && !key.starts_with("t:+"))
}

/// Counters in a [`Store`] (Workers KV on the edge, memory in tests and replay): one bulk
/// read, then the changed records written back. Not atomic across concurrent requests.
///
/// Records every send touches (the global counters, each country's) are split into
/// [`HOT_SHARDS`] keys: a read sums the shards, a write goes to one of them (chosen by the
/// time), so the busiest key takes an eighth of the writes. KV allows about one write per
/// second per key; sharded, the guard's busiest keys stay under that up to ~8 sends a
/// second. Above that, choose the Durable Object backend.
#[derive(Debug)]
pub struct KvCounters<'a, S> {
    store: &'a S,
    shards: u64,
}

impl<'a, S> KvCounters<'a, S> {
    /// Hot records sharded, as Workers KV needs.
    pub fn new(store: &'a S) -> Self {
        KvCounters { store, shards: HOT_SHARDS }
    }

    /// Every record in one key: for stores without a per-key write limit (replay's
    /// in-memory store), where shards would only cost time.
    pub fn unsharded(store: &'a S) -> Self {
        KvCounters { store, shards: 1 }
    }
}

impl<S: Store> Counters for KvCounters<'_, S> {
    async fn run(&self, op: &Op) -> Result<Tally, StoreFault> {
        let hot = |key: &str| self.shards > 1 && is_hot(key);
        // Each entry's keys, built once: its own key, or all its shards (`key#0`...).
        let key_sets: Vec<Vec<String>> = op
            .entries
            .iter()
            .map(|e| {
                let key = e.key();
                if !hot(key) {
                    return vec![key.to_owned()];
                }
                (0..self.shards)
                    .map(|i| {
                        let mut shard = String::with_capacity(key.len() + 3);
                        shard.push_str(key);
                        shard.push('#');
                        match char::from_digit(i as u32, 10) {
                            Some(digit) => shard.push(digit),
                            None => shard.push_str(&i.to_string()),
                        }
                        shard
                    })
                    .collect()
            })
            .collect();
        let keys: Vec<String> = key_sets.iter().flatten().cloned().collect();
        let mut values = crate::ports::boxed(self.store.get_many(&keys)).await?.into_iter();

        // Every stored text is parsed once. A hot entry keeps its shards (`None`: no such
        // key) and its record is their sum; `before` is that sum as read.
        let now = op.now_ms;
        let mut records = Vec::with_capacity(op.entries.len());
        let mut shards: Vec<Vec<Option<Record>>> = Vec::with_capacity(op.entries.len());
        for (entry, set) in op.entries.iter().zip(&key_sets) {
            let mut parsed: Vec<Option<Record>> =
                set.iter().map(|_| values.next().flatten().map(|raw| Record::parse(entry, Some(&raw), now))).collect();
            if hot(entry.key()) {
                let mut total = Record::parse(entry, None, now);
                for shard in parsed.iter().flatten() {
                    total.merge(shard, 1);
                }
                records.push(total);
                shards.push(parsed);
            } else {
                records.push(parsed.pop().flatten().unwrap_or_else(|| Record::parse(entry, None, now)));
                shards.push(Vec::new());
            }
        }
        let before: Vec<Option<Record>> =
            op.entries.iter().zip(&records).map(|(e, r)| hot(e.key()).then(|| r.clone())).collect();

        let (tally, changed) = apply_records(op, &mut records);

        let target = (op.now_ms % self.shards) as usize;
        let lifted = matches!(op.action, Action::Lift);
        let mut writes = Vec::new();
        for i in changed {
            let (entry, after) = (&op.entries[i], &records[i]);
            let Some(before) = &before[i] else {
                writes.push(after.write(entry));
                continue;
            };
            // A hot record: the change (after - before) goes to one shard; a lifted block
            // is cleared from all of them.
            for (s, own) in shards[i].iter().enumerate() {
                if s != target && !lifted {
                    continue;
                }
                let mut shard = own.clone().unwrap_or_else(|| Record::parse(entry, None, now));
                if s == target {
                    shard.merge(after, 1);
                    shard.merge(before, -1);
                    // A block engaged by this operation lands in this shard.
                    if let (Record::Traffic(t), Record::Traffic(a), Record::Traffic(b)) = (&mut shard, after, before) {
                        if a.block.is_some() && a.block != b.block {
                            t.block = a.block;
                        }
                    }
                }
                if let (true, Record::Traffic(t)) = (lifted, &mut shard) {
                    t.lift();
                }
                let value = shard.value();
                if value.is_some() || own.is_some() {
                    writes.push(Write { key: key_sets[i][s].clone(), value, ttl_s: ttl_s(entry) });
                }
            }
        }
        crate::ports::boxed(self.store.write_many(&writes)).await?;
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::memory::MemoryStore;
    use futures_executor::block_on;

    fn limit(scope: Scope, key: &str, quotas: &str) -> Entry {
        Entry::Limit { scope, key: key.into(), quotas: crate::limits::parse_quotas(quotas).unwrap() }
    }

    fn op(action: Action, now_ms: u64, entries: &[Entry]) -> Op {
        Op { action, now_ms, entries: entries.to_vec() }
    }

    #[test]
    fn reserve_counts_and_refuses_with_the_longest_wait() {
        let store = MemoryStore::default();
        let counters = KvCounters::new(&store);
        let entries = [limit(Scope::Ip, "ip", "2/1m"), limit(Scope::Global, "all", "3/1h")];
        let t = 3_600_000_000;
        for i in 0..2 {
            let v = block_on(counters.run(&op(Action::Reserve { force: false }, t + i, &entries))).unwrap().verdict;
            assert_eq!(v, Verdict::Admit);
        }
        let v = block_on(counters.run(&op(Action::Check, t + 2, &entries))).unwrap().verdict;
        assert_eq!(v, Verdict::Limited { scope: Scope::Ip, retry_after_s: 66 });
        // A minute later the IP window is clear; one more fills the hour, then it says so.
        let later = t + 70_000;
        let v = block_on(counters.run(&op(Action::Reserve { force: false }, later, &entries))).unwrap().verdict;
        assert_eq!(v, Verdict::Admit);
        let v = block_on(counters.run(&op(Action::Check, later + 1, &entries))).unwrap().verdict;
        assert_eq!(v, Verdict::Limited { scope: Scope::Global, retry_after_s: 3600 + 360 - 70 });
    }

    #[test]
    fn check_writes_nothing_and_release_undoes() {
        let store = MemoryStore::default();
        let counters = KvCounters::new(&store);
        let entries = [limit(Scope::Phone, "p", "1/1h")];
        block_on(counters.run(&op(Action::Check, 1000, &entries))).unwrap();
        assert!(store.is_empty());
        block_on(counters.run(&op(Action::Reserve { force: false }, 1000, &entries))).unwrap();
        assert!(block_on(counters.run(&op(Action::Check, 2000, &entries))).unwrap().verdict.refusal().is_some());
        block_on(counters.run(&op(Action::Release { at_ms: 1000 }, 3000, &entries))).unwrap();
        assert!(block_on(counters.run(&op(Action::Check, 4000, &entries))).unwrap().verdict.refusal().is_none());
        assert!(store.is_empty(), "an empty counter is deleted");
    }

    #[test]
    fn refused_reserve_counts_only_when_forced() {
        let store = MemoryStore::default();
        let counters = KvCounters::new(&store);
        let entries = [limit(Scope::Ip, "ip", "1/1h")];
        block_on(counters.run(&op(Action::Reserve { force: false }, 1000, &entries))).unwrap();
        let before = store.snapshot();
        let v = block_on(counters.run(&op(Action::Reserve { force: false }, 2000, &entries))).unwrap().verdict;
        assert!(v.refusal().is_some());
        assert_eq!(store.snapshot(), before);
        let v = block_on(counters.run(&op(Action::Reserve { force: true }, 2000, &entries))).unwrap().verdict;
        assert!(v.refusal().is_some(), "monitor mode still learns the verdict");
        assert_ne!(store.snapshot(), before);
    }

    #[test]
    fn the_gate_travels_with_the_limits() {
        let store = MemoryStore::default();
        let counters = KvCounters::new(&store);
        let gate = Gate { attempts: 3, min_delay_s: 30 };
        let sms = Entry::Gate { key: "g".into(), gate, channel: Channel::Sms, kind: NumberType::Mobile };
        let call = Entry::Gate { key: "g".into(), gate, channel: Channel::Call, kind: NumberType::Mobile };
        let v = block_on(counters.run(&op(Action::Check, 0, std::slice::from_ref(&call)))).unwrap().verdict;
        assert_eq!(v, Verdict::CallLocked { required: 3, sent: 0 });
        let t = block_on(counters.run(&op(Action::Reserve { force: false }, 0, std::slice::from_ref(&sms)))).unwrap();
        let outlook = Outlook { sms_attempts: 1, call_available: false, retry_after_s: 30 };
        assert_eq!(t, Tally { verdict: Verdict::Admit, outlook: Some(outlook), engaged: vec![] });
        let v =
            block_on(counters.run(&op(Action::Check, 10_000, &[sms, limit(Scope::Ip, "ip", "1/1s")]))).unwrap().verdict;
        assert_eq!(v, Verdict::Limited { scope: Scope::Phone, retry_after_s: 20 });
    }

    #[test]
    fn hot_records_are_sharded_and_still_exact_in_sequence() {
        let store = MemoryStore::default();
        let counters = KvCounters::new(&store);
        let entries = [limit(Scope::Global, "n:global", "5/1h"), limit(Scope::Ip, "n:ip:1", "100/1h")];
        let mut admitted = 0;
        for i in 0..20u64 {
            let t = block_on(counters.run(&op(Action::Reserve { force: false }, 1_000_000 + i * 7, &entries))).unwrap();
            admitted += u32::from(t.verdict == Verdict::Admit);
        }
        assert_eq!(admitted, 5, "the shards add up to the quota");
        let snapshot = store.snapshot();
        let shards = snapshot.keys().filter(|k| k.starts_with("n:global#")).count();
        assert!(shards > 1, "writes were spread over shards: {snapshot:?}");
        assert!(!snapshot.contains_key("n:global"));
        assert!(snapshot.contains_key("n:ip:1"), "cold keys are not sharded");
        // A release takes the reservation back from the merged total.
        block_on(counters.run(&op(Action::Release { at_ms: 1_000_000 }, 1_000_200, &entries))).unwrap();
        let t = block_on(counters.run(&op(Action::Check, 1_000_300, &entries))).unwrap();
        assert_eq!(t.verdict, Verdict::Admit);
    }

    #[test]
    fn a_failing_store_is_a_fault() {
        let store = MemoryStore::failing();
        let v = block_on(KvCounters::new(&store).run(&op(Action::Check, 0, &[limit(Scope::Ip, "ip", "1/1h")])));
        assert!(v.is_err());
    }
}
