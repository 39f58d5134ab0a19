//! Step 3: the operator's safelist and blocklist, in the [`Store`] (Workers KV).
//!
//! Numbers are stored under their keyed hash, never in clear: `safe:<hash>` and
//! `block:<hash>`, each holding the masked number and when it was added. Blocklisted
//! prefixes (`+242`, `+3712`) are not personal data and are stored as they are
//! (`blockp:+242`). Looking a number up reads its two hash keys and one key per prefix
//! length, in one bulk read.
//!
//! A safelisted number skips the fraud checks (country, number type, network policy,
//! pumping protection) but not the rate limits or the captcha. A blocklist entry wins
//! over the safelist: a number on both is refused.
//!
//! KV is eventually consistent: a change made through the admin API is visible at once
//! where it was made and within about a minute everywhere else.

use crate::mask::{mask, number_hash};
use crate::phone::{parse_e164, Phone};
use crate::ports::{Store, StoreFault};
use serde_json::json;

/// What the lists say about a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listing {
    pub safelisted: bool,
    pub blocklisted: bool,
}

/// Which list an admin call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Safe,
    Block,
}

/// An entry named on the admin API: a whole number, or (blocklist only) a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Number(Phone),
    Prefix(String),
}

/// The safelist key of a number, by its keyed hash ([`number_hash`]).
fn safe_key(hash: &str) -> String {
    format!("safe:{hash}")
}

/// The blocklist key of a number, by its keyed hash.
fn block_key(hash: &str) -> String {
    format!("block:{hash}")
}

fn prefix_key(prefix: &str) -> String {
    format!("blockp:{prefix}")
}

/// The keys to read for `phone`, whose keyed hash is `hash`: safelist, blocklist, then
/// every prefix of it.
pub fn keys(hash: &str, phone: &Phone) -> Vec<String> {
    let digits = &phone.e164[1..];
    let mut keys = vec![safe_key(hash), block_key(hash)];
    keys.extend((1..digits.len()).map(|n| prefix_key(&phone.e164[..=n])));
    keys
}

/// Looks `phone` (keyed hash `hash`, computed once per request) up in both lists.
pub async fn lookup<S: Store>(store: &S, hash: &str, phone: &Phone) -> Result<Listing, StoreFault> {
    let values = store.get_many(&keys(hash, phone)).await?;
    Ok(Listing { safelisted: values[0].is_some(), blocklisted: values[1..].iter().any(Option::is_some) })
}

/// Reads an admin path segment: a valid E.164 number, or for the blocklist a `+` and
/// 1 to 14 digits that is not itself a valid number (a prefix).
pub fn parse_target(list: List, segment: &str) -> Option<Target> {
    if let Ok(phone) = parse_e164(segment) {
        return Some(Target::Number(phone));
    }
    let digits = segment.strip_prefix('+')?;
    let is_prefix =
        list == List::Block && (1..=14).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    is_prefix.then(|| Target::Prefix(segment.to_owned()))
}

fn target_key(list: List, hash_key: &str, target: &Target) -> String {
    match (list, target) {
        (List::Safe, Target::Number(phone)) => safe_key(&number_hash(hash_key, &phone.e164)),
        (List::Block, Target::Number(phone)) => block_key(&number_hash(hash_key, &phone.e164)),
        (_, Target::Prefix(prefix)) => prefix_key(prefix),
    }
}

/// How long an entry is kept: a year (KV needs an expiry; re-adding renews it).
const ENTRY_TTL_S: u64 = 365 * 86_400;

/// Adds an entry. The stored value names the entry as the dashboard shows it.
pub async fn add<S: Store>(
    store: &S,
    hash_key: &str,
    list: List,
    target: &Target,
    now: &str,
) -> Result<(), StoreFault> {
    let shown = match target {
        Target::Number(phone) => mask(phone),
        Target::Prefix(prefix) => prefix.clone(),
    };
    let value = json!({"entry": shown, "added": now}).to_string();
    store.put(&target_key(list, hash_key, target), &value, ENTRY_TTL_S).await
}

/// The entries of a list as the dashboard shows them: `{"entry","added","kind"}`, numbers
/// masked (removing one takes the number itself, as adding it did).
pub async fn entries<S: Store>(store: &S, list: List) -> Result<Vec<serde_json::Value>, StoreFault> {
    let prefixes: &[&str] = match list {
        List::Safe => &["safe:"],
        List::Block => &["block:", "blockp:"],
    };
    let mut out = Vec::new();
    for prefix in prefixes {
        let keys = store.keys(prefix, 1000).await?;
        let values = store.get_many(&keys).await?;
        for value in values.into_iter().flatten() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&value) else { continue };
            let kind = if *prefix == "blockp:" { "prefix" } else { "number" };
            out.push(json!({"entry": value["entry"], "added": value["added"], "kind": kind}));
        }
    }
    Ok(out)
}

pub async fn remove<S: Store>(store: &S, hash_key: &str, list: List, target: &Target) -> Result<(), StoreFault> {
    store.delete(&target_key(list, hash_key, target)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::parse;
    use crate::ports::memory::MemoryStore;
    use futures_executor::block_on;

    const KEY: &str = "list-test-key-0123456789";

    #[test]
    fn targets() {
        assert!(matches!(parse_target(List::Safe, "+447400123456"), Some(Target::Number(_))));
        assert_eq!(parse_target(List::Block, "+242"), Some(Target::Prefix("+242".into())));
        assert_eq!(parse_target(List::Safe, "+242"), None, "the safelist takes whole numbers only");
        for bad in ["447400123456", "+", "+44x", "+123456789012345", "", "+44 74"] {
            assert_eq!(parse_target(List::Block, bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_and_prefixes_are_found() {
        let store = MemoryStore::default();
        let phone = parse("+242061234567", None).unwrap();
        let other = parse("+447400123456", None).unwrap();
        let now = "2026-01-01T00:00:00.000Z";
        let lookup =
            |store: &MemoryStore, phone: &Phone| block_on(lookup(store, &number_hash(KEY, &phone.e164), phone));
        assert_eq!(lookup(&store, &phone).unwrap(), Listing::default());

        let prefix = parse_target(List::Block, "+2420").unwrap();
        block_on(add(&store, KEY, List::Block, &prefix, now)).unwrap();
        assert!(lookup(&store, &phone).unwrap().blocklisted);
        assert!(!lookup(&store, &other).unwrap().blocklisted);
        block_on(remove(&store, KEY, List::Block, &prefix)).unwrap();
        assert!(!lookup(&store, &phone).unwrap().blocklisted);

        let number = Target::Number(other.clone());
        block_on(add(&store, KEY, List::Safe, &number, now)).unwrap();
        assert_eq!(lookup(&store, &other).unwrap(), Listing { safelisted: true, blocklisted: false });
        block_on(add(&store, KEY, List::Block, &number, now)).unwrap();
        assert_eq!(lookup(&store, &other).unwrap(), Listing { safelisted: true, blocklisted: true });
    }

    #[test]
    fn no_number_is_stored_in_clear() {
        let store = MemoryStore::default();
        let phone = parse("+447400123456", None).unwrap();
        block_on(add(&store, KEY, List::Safe, &Target::Number(phone), "t")).unwrap();
        let dump = format!("{:?}", store.snapshot());
        assert!(!dump.contains("7400123456"), "{dump}");
        assert!(dump.contains("+44******3456"));
    }
}
