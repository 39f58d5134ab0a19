//! The operator's API under `/v1/admin/`: bearer-token authentication and the list
//! routes.
//!
//! Without an `ADMIN_TOKEN` secret every admin route answers `404`, as if it did not
//! exist. With one, a request must carry `Authorization: Bearer <token>`; the comparison
//! is constant-time over SHA-256 digests, so neither the content nor the length of the
//! token leaks through timing.

use crate::decision::Reason;
use crate::lists::{self, List};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `authorization` carries the admin token. `Err` is the answer to give.
pub fn authorize(admin_token: Option<&str>, authorization: Option<&str>) -> Result<(), Reason> {
    let Some(expected) = admin_token else {
        return Err(Reason::NotFound("no such route".into()));
    };
    let presented = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .unwrap_or("");
    let equal = Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes()));
    if bool::from(equal) && !presented.is_empty() {
        Ok(())
    } else {
        Err(Reason::Unauthorized)
    }
}

/// An admin route, once the path is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `PUT` or `DELETE` `/v1/admin/{safelist|blocklist}/{entry}`.
    ListEntry {
        list: List,
        entry: String,
    },
    /// `GET /v1/admin/{safelist|blocklist}`: the entries.
    List {
        list: List,
    },
    /// `GET /v1/admin/events`.
    Events,
    /// `GET /v1/admin/stats`.
    Stats,
    /// `GET /v1/admin/incidents`.
    Incidents,
    /// `DELETE /v1/admin/blocks/{dest}`: lift a pumping block (`CG`, `+24206`, `AS3215:abroad`).
    Block {
        dest: String,
    },
    Unknown,
}

/// Reads an admin path. The entry segment is percent-decoded (`%2B44...` is `+44...`).
pub fn route(path: &str) -> Route {
    let rest = path.strip_prefix("/v1/admin/").unwrap_or("");
    match rest {
        "events" => return Route::Events,
        "stats" => return Route::Stats,
        "incidents" => return Route::Incidents,
        "safelist" => return Route::List { list: List::Safe },
        "blocklist" => return Route::List { list: List::Block },
        _ => {}
    }
    let mut parts = rest.splitn(2, '/');
    let list = match parts.next() {
        Some("safelist") => List::Safe,
        Some("blocklist") => List::Block,
        Some("blocks") => {
            return match parts.next().and_then(percent_decode) {
                Some(dest) if is_destination(&dest) => Route::Block { dest },
                _ => Route::Unknown,
            }
        }
        _ => return Route::Unknown,
    };
    match parts.next().and_then(percent_decode) {
        Some(entry) if !entry.is_empty() && !entry.contains('/') => Route::ListEntry { list, entry },
        _ => Route::Unknown,
    }
}

/// Reads a list entry, answering `invalid_phone` for anything that is not a number (or,
/// on the blocklist, a prefix).
pub fn target(list: List, entry: &str) -> Result<lists::Target, Reason> {
    lists::parse_target(list, entry).ok_or_else(|| {
        Reason::InvalidPhone(match list {
            List::Safe => "the safelist takes whole numbers in E.164 form (+, country code, digits)".into(),
            List::Block => "the blocklist takes numbers in E.164 form or prefixes such as +242".into(),
        })
    })
}

/// A pumping destination: an ISO region (`CG`), `+` and up to 14 digits, or a client
/// network (`AS3215`, `AS3215:home`, `AS3215:abroad`).
fn is_destination(dest: &str) -> bool {
    if crate::pumping::network_dests(dest).is_some() {
        return true;
    }
    match dest.strip_prefix('+') {
        Some(digits) => (1..=14).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        None => crate::phone::region_id(dest).is_some() && dest.bytes().all(|b| b.is_ascii_uppercase()),
    }
}

/// `%XX` decoding of one path segment; `None` for malformed escapes or invalid UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let token = Some("0123456789abcdef-admin");
        assert!(authorize(token, Some("Bearer 0123456789abcdef-admin")).is_ok());
        let cases = [
            None,
            Some(""),
            Some("Bearer "),
            Some("Bearer 0123456789abcdef-admiN"),
            Some("Basic 0123456789abcdef-admin"),
        ];
        for header in cases {
            assert_eq!(authorize(token, header).unwrap_err().code(), "unauthorized", "{header:?}");
        }
        assert_eq!(authorize(None, Some("Bearer anything")).unwrap_err().code(), "not_found");
    }

    #[test]
    fn routes() {
        assert_eq!(
            route("/v1/admin/safelist/%2B447400123456"),
            Route::ListEntry { list: List::Safe, entry: "+447400123456".into() }
        );
        assert_eq!(route("/v1/admin/blocklist/+242"), Route::ListEntry { list: List::Block, entry: "+242".into() });
        assert_eq!(route("/v1/admin/events"), Route::Events);
        assert_eq!(route("/v1/admin/blocks/CG"), Route::Block { dest: "CG".into() });
        assert_eq!(route("/v1/admin/blocks/%2B24206"), Route::Block { dest: "+24206".into() });
        assert_eq!(route("/v1/admin/blocks/AS3215:abroad"), Route::Block { dest: "AS3215:abroad".into() });
        assert_eq!(route("/v1/admin/blocks/AS3215"), Route::Block { dest: "AS3215".into() });
        assert_eq!(route("/v1/admin/blocks/AS3215:away"), Route::Unknown);
        assert_eq!(route("/v1/admin/blocks/AS"), Route::Block { dest: "AS".into() }, "American Samoa");
        assert_eq!(route("/v1/admin/blocks/cg"), Route::Unknown);
        assert_eq!(route("/v1/admin/blocks/ZZ"), Route::Unknown);
        assert_eq!(route("/v1/admin/safelist"), Route::List { list: List::Safe });
        assert_eq!(route("/v1/admin/blocklist"), Route::List { list: List::Block });
        for unknown in [
            "/v1/admin/",
            "/v1/admin/safelist/",
            "/v1/admin/other/+1",
            "/v1/admin/blocklist/%zz",
            "/v1/admin/blocklist/a/b",
        ] {
            assert_eq!(route(unknown), Route::Unknown, "{unknown}");
        }
    }
}
