//! libphonenumber's patterns, read into a small tree and matched by backtracking.
//!
//! The metadata's patterns use a tiny part of regular-expression syntax (checked over all
//! of them by a unit test): digits, `\d`, classes of digits (`[2-46-9]`), groups
//! (`(?:…)`, and capturing `(…)` in the national-prefix rules), alternation, `?`,
//! `{n}`, `{n,m}`, and `$`. A general regex engine spends most of its time here building
//! automata: with `regex-lite`, compiling one region's patterns on first use cost ~11 ms
//! of a fresh isolate's first send. Reading a pattern into this tree is a single pass,
//! and matching it against a number of at most a few dozen digits is a short walk.
//!
//! Semantics are the `regex` crate's (which the `phonenumber` crate uses): leftmost-first
//! (alternatives in order, quantifiers greedy), so a prefix match and its capture groups
//! are the ones that crate finds. `tests/native/phone_differential.rs` compares whole
//! parses against the crate on tens of thousands of inputs.

/// One node of a pattern.
#[derive(Debug)]
enum Node {
    /// One digit from the set (bit `d` for digit `d`).
    Digits(u16),
    /// `$`: the end of the text.
    End,
    /// `(?:…)`, or `(…)` with its capture index.
    Group(Vec<Vec<Node>>, Option<usize>),
    /// `x?`, `x{n}`, `x{n,m}`: greedy.
    Repeat(Box<Node>, u8, u8),
}

/// A parsed pattern: alternatives of sequences, and its number of capture groups.
#[derive(Debug)]
pub(super) struct Pattern {
    alternatives: Vec<Vec<Node>>,
    groups: usize,
}

/// A capture group's span in the text, or `None` if it did not take part in the match.
pub(super) type Span = Option<(usize, usize)>;

impl Pattern {
    /// Reads `source`, or `None` if it uses syntax outside the subset above.
    pub(super) fn parse(source: &str) -> Option<Pattern> {
        let mut reader = Reader { bytes: source.as_bytes(), at: 0, groups: 0 };
        let alternatives = reader.alternatives()?;
        (reader.at == reader.bytes.len()).then_some(Pattern { alternatives, groups: reader.groups })
    }

    /// Whether the whole of `text` matches.
    pub(super) fn matches_whole(&self, text: &str) -> bool {
        let mut caps = vec![None; self.groups];
        let text = text.as_bytes();
        alternatives(&self.alternatives, text, 0, &mut caps, &mut |end, _| end == text.len())
    }

    /// The end of the match that starts at the beginning of `text`, with the spans of
    /// the capture groups (index 0 is group 1).
    pub(super) fn match_at_start(&self, text: &str) -> Option<(usize, Vec<Span>)> {
        let mut caps = vec![None; self.groups];
        let mut found = None;
        alternatives(&self.alternatives, text.as_bytes(), 0, &mut caps, &mut |end, caps| {
            found = Some((end, caps.to_vec()));
            true
        });
        found
    }
}

/// What to do once a node has matched up to a position: `true` ends the search.
type Next<'a> = &'a mut dyn FnMut(usize, &mut [Span]) -> bool;

fn alternatives(alts: &[Vec<Node>], text: &[u8], at: usize, caps: &mut [Span], next: Next) -> bool {
    alts.iter().any(|seq| sequence(seq, text, at, caps, next))
}

fn sequence(seq: &[Node], text: &[u8], at: usize, caps: &mut [Span], next: Next) -> bool {
    match seq.split_first() {
        None => next(at, caps),
        Some((first, rest)) => node(first, text, at, caps, &mut |end, caps| sequence(rest, text, end, caps, next)),
    }
}

fn node(node: &Node, text: &[u8], at: usize, caps: &mut [Span], next: Next) -> bool {
    match node {
        Node::Digits(set) => match text.get(at) {
            Some(b @ b'0'..=b'9') if set & (1 << (b - b'0')) != 0 => next(at + 1, caps),
            _ => false,
        },
        Node::End => at == text.len() && next(at, caps),
        Node::Group(alts, capture) => alternatives(alts, text, at, caps, &mut |end, caps| match *capture {
            None => next(end, caps),
            Some(index) => {
                let before = caps[index];
                caps[index] = Some((at, end));
                if next(end, caps) {
                    return true;
                }
                caps[index] = before;
                false
            }
        }),
        Node::Repeat(inner, min, max) => repeat(inner, *min, *max, 0, text, at, caps, next),
    }
}

/// `inner` matched `count` times so far, ending at `at`: greedily one more, else stop.
#[allow(clippy::too_many_arguments)]
fn repeat(inner: &Node, min: u8, max: u8, count: u8, text: &[u8], at: usize, caps: &mut [Span], next: Next) -> bool {
    if count < max {
        let more = node(inner, text, at, caps, &mut |end, caps| {
            // An empty iteration past the minimum cannot lead anywhere new.
            (end > at || count < min) && repeat(inner, min, max, count + 1, text, end, caps, next)
        });
        if more {
            return true;
        }
    }
    count >= min && next(at, caps)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    groups: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn alternatives(&mut self) -> Option<Vec<Vec<Node>>> {
        let mut alts = vec![self.sequence()?];
        while self.eat(b'|') {
            alts.push(self.sequence()?);
        }
        Some(alts)
    }

    fn sequence(&mut self) -> Option<Vec<Node>> {
        let mut seq = Vec::new();
        while let Some(byte) = self.peek() {
            if byte == b'|' || byte == b')' {
                break;
            }
            let atom = self.atom()?;
            seq.push(self.quantified(atom)?);
        }
        Some(seq)
    }

    fn atom(&mut self) -> Option<Node> {
        let byte = self.peek()?;
        self.at += 1;
        match byte {
            b'0'..=b'9' => Some(Node::Digits(1 << (byte - b'0'))),
            b'\\' if self.eat(b'd') => Some(Node::Digits(0x3ff)),
            b'$' => Some(Node::End),
            b'[' => self.class(),
            b'(' => {
                let capture = if self.eat(b'?') {
                    self.eat(b':').then_some(None)?
                } else {
                    self.groups += 1;
                    Some(self.groups - 1)
                };
                let alts = self.alternatives()?;
                self.eat(b')').then_some(Node::Group(alts, capture))
            }
            _ => None,
        }
    }

    /// A class of digits and digit ranges, after its `[`.
    fn class(&mut self) -> Option<Node> {
        let mut set = 0u16;
        loop {
            let low = self.peek()?;
            self.at += 1;
            match low {
                b']' if set != 0 => return Some(Node::Digits(set)),
                b'0'..=b'9' if self.peek() == Some(b'-') && self.bytes.get(self.at + 1) != Some(&b']') => {
                    self.at += 1;
                    let high = self.peek().filter(|h| h.is_ascii_digit() && *h >= low)?;
                    self.at += 1;
                    (low..=high).for_each(|d| set |= 1 << (d - b'0'));
                }
                b'0'..=b'9' => set |= 1 << (low - b'0'),
                b'\\' if self.eat(b'd') => set |= 0x3ff,
                _ => return None,
            }
        }
    }

    fn quantified(&mut self, atom: Node) -> Option<Node> {
        if self.eat(b'?') {
            return Some(Node::Repeat(Box::new(atom), 0, 1));
        }
        if !self.eat(b'{') {
            return Some(atom);
        }
        let min = self.number()?;
        let max = if self.eat(b',') { self.number()? } else { min };
        (self.eat(b'}') && min <= max && max > 0).then(|| Node::Repeat(Box::new(atom), min, max))
    }

    fn number(&mut self) -> Option<u8> {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at]).ok()?.parse().ok()
    }
}

/// `rule` (`$1`, `8$1`, `${2}`…) with each `$n` replaced by group n's text, as the `regex`
/// crate's `Captures::expand` does (`$` then the longest run of name characters; a
/// group that did not match, or does not exist, gives nothing; `$$` is a `$`).
pub(super) fn expand(rule: &str, text: &str, end: usize, caps: &[Span]) -> String {
    let group = |name: &str| -> &str {
        match name.parse::<usize>() {
            Ok(0) => &text[..end],
            Ok(n) => caps.get(n - 1).copied().flatten().map_or("", |(s, e)| &text[s..e]),
            Err(_) => "",
        }
    };
    let mut out = String::new();
    let mut rest = rule;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some((name, after)) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
            out.push_str(group(name));
            rest = after;
        } else {
            let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(group(&rest[..len]));
            }
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches_whole(text)
    }

    #[test]
    fn the_subset_matches_as_a_regex_does() {
        assert!(whole("[2-9]\\d{9}|3\\d{6}", "2025550123"));
        assert!(whole("[2-9]\\d{9}|3\\d{6}", "3123456"));
        assert!(!whole("[2-9]\\d{9}|3\\d{6}", "1025550123"));
        assert!(!whole("[2-9]\\d{9}", "20255501234"));
        assert!(whole("800\\d{5}(?:\\d{3})?", "80012345"));
        assert!(whole("800\\d{5}(?:\\d{3})?", "80012345678"));
        assert!(!whole("800\\d{5}(?:\\d{3})?", "8001234567"));
        assert!(whole("8\\d{7,8}", "812345678"));
        assert!(!whole("8\\d{7,8}", "8123456"));
        assert!(whole("[13-5]", "4") && !whole("[13-5]", "2"));
        assert!(whole("[\\d]", "7"));
    }

    #[test]
    fn prefix_matches_are_leftmost_first_with_their_groups() {
        let p = Pattern::parse("([2-9]\\d{6})$|1").unwrap();
        assert_eq!(p.match_at_start("2345678"), Some((7, vec![Some((0, 7))])));
        assert_eq!(p.match_at_start("12345678"), Some((1, vec![None])));
        assert_eq!(p.match_at_start("23456789"), None);
        // Alternatives in order, not the longest: the regex crate's `find` gives "0".
        assert_eq!(Pattern::parse("0|00").unwrap().match_at_start("0012").map(|m| m.0), Some(1));
        // Greedy quantifiers.
        assert_eq!(Pattern::parse("0(1\\d)?").unwrap().match_at_start("0123"), Some((3, vec![Some((1, 3))])));
        assert_eq!(Pattern::parse("0(1\\d)?").unwrap().match_at_start("0234"), Some((1, vec![None])));
    }

    #[test]
    fn syntax_outside_the_subset_is_refused() {
        for bad in ["a", "\\w", "[a-z]", "(?i)1", "1*", "1+", "(1", "1)", "[]", "[9-1]", "1{}", "1{3,2}", "^1"] {
            assert!(Pattern::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rules_expand_like_the_regex_crate() {
        let caps = [Some((1, 4)), None];
        assert_eq!(expand("8$1", "0123", 4, &caps), "8123");
        assert_eq!(expand("$1", "0123", 4, &caps), "123");
        assert_eq!(expand("$2x", "0123", 4, &caps), "", "`2x` is one name, and no such group");
        assert_eq!(expand("${1}9", "0123", 4, &caps), "1239");
        assert_eq!(expand("$$1", "0123", 4, &caps), "$1");
    }
}
