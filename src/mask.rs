//! Masking: the only form in which a phone number leaves the guard.
//!
//! A masked number keeps the country calling code and the last four digits
//! (`+44******3456`): enough for a person to recognise their own number and for an
//! operator to see the destination, not enough to recover it.

use crate::phone::Phone;

/// `+` and the calling code, a star per hidden digit, the last four digits.
pub fn mask(phone: &Phone) -> String {
    let code = phone.calling_code.to_string();
    let national = &phone.e164[1 + code.len()..];
    let shown = national.len().min(4);
    let hidden = national.len() - shown;
    let mut out = String::with_capacity(phone.e164.len());
    out.push('+');
    out.push_str(&code);
    out.extend(std::iter::repeat_n('*', hidden));
    out.push_str(&national[hidden..]);
    out
}

/// A keyed hash of a number (HMAC-SHA256 under `HASH_KEY`, 128 bits in hex): follows one
/// number through counters and the decision log without storing it, and cannot be
/// reversed by enumerating the numbering plan without the key.
pub fn number_hash(hash_key: &str, e164: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(hash_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"number\0");
    mac.update(e164.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in &mac.finalize().into_bytes()[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::parse;

    #[test]
    fn keeps_calling_code_and_last_four() {
        let cases =
            [("+447400123456", "+44******3456"), ("+12015550123", "+1******0123"), ("+242061234567", "+242*****4567")];
        for (input, expected) in cases {
            assert_eq!(mask(&parse(input, None).unwrap()), expected, "{input}");
        }
    }

    #[test]
    fn number_hash_is_keyed_and_stable() {
        let a = number_hash("key-one-0123456789", "+447400123456");
        assert_eq!(a, number_hash("key-one-0123456789", "+447400123456"));
        assert_ne!(a, number_hash("key-two-0123456789", "+447400123456"));
        assert_ne!(a, number_hash("key-one-0123456789", "+447400123457"));
        assert_eq!(a.len(), 32);
    }
}
