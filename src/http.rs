//! Plain HTTP types between the edge and the core, and CORS.
//!
//! The Workers layer copies what the core needs out of a `worker::Request` into an
//! [`Incoming`] and turns the core's [`Outgoing`] back into a `worker::Response`; routing,
//! bodies, headers and problem documents are all decided here, natively testable.

use crate::config::{Config, Origins};
use crate::decision::Reason;
use crate::policy::ClientNetwork;

/// The parts of a request the guard reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incoming {
    pub method: String,
    pub path: String,
    pub query: String,
    pub origin: Option<String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// `Access-Control-Request-Method`, present on CORS preflights.
    pub preflight_method: Option<String>,
    /// The body, or `None` if the edge refused to read it (declared larger than the
    /// limit).
    pub body: Option<Vec<u8>>,
    pub client: ClientNetwork,
    /// A unique id for this request (`cf-ray` on Cloudflare).
    pub request_id: String,
}

/// The path and the query of a serialised absolute URL (`https://host/p/a?q=1#f` gives
/// `/p/a` and `q=1`), without parsing it again: the runtime has already validated it.
pub fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let (rest, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = before_query.find('/').map_or("/", |i| &before_query[i..]);
    (path, query)
}

/// The response, ready for the edge to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Outgoing {
    pub fn json(status: u16, body: &serde_json::Value) -> Outgoing {
        Outgoing {
            status,
            headers: vec![("content-type", "application/json".to_owned()), ("cache-control", "no-store".to_owned())],
            body: body.to_string(),
        }
    }

    pub fn text(status: u16, content_type: &str, body: String) -> Outgoing {
        Outgoing {
            status,
            headers: vec![("content-type", content_type.to_owned()), ("cache-control", "no-store".to_owned())],
            body,
        }
    }

    pub fn empty(status: u16) -> Outgoing {
        Outgoing { status, headers: vec![("cache-control", "no-store".to_owned())], body: String::new() }
    }

    /// The problem+json answer for `reason`, with `Retry-After` and `Allow` where they apply.
    pub fn problem(reason: &Reason) -> Outgoing {
        let mut out = Outgoing {
            status: reason.status(),
            headers: vec![
                ("content-type", "application/problem+json".to_owned()),
                ("cache-control", "no-store".to_owned()),
            ],
            body: reason.problem(),
        };
        if let Some(wait) = reason.retry_after_s() {
            out.headers.push(("retry-after", wait.to_string()));
        }
        if let Reason::MethodNotAllowed { allow } = reason {
            out.headers.push(("allow", (*allow).to_owned()));
        }
        if let Reason::Unauthorized = reason {
            out.headers.push(("www-authenticate", "Bearer".to_owned()));
        }
        out
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Whether `origin` may call the API from a browser.
pub fn origin_allowed(config: &Config, origin: &str) -> bool {
    match &config.allowed_origins {
        Origins::Any => true,
        Origins::Only(set) => set.contains(origin),
    }
}

/// Adds the CORS headers an allowed origin gets. Other origins get none, so the browser
/// withholds the response from the page.
pub fn add_cors(config: &Config, origin: Option<&str>, out: &mut Outgoing) {
    out.headers.push(("vary", "Origin".to_owned()));
    let Some(origin) = origin.filter(|o| origin_allowed(config, o)) else {
        return;
    };
    out.headers.push(("access-control-allow-origin", origin.to_owned()));
    out.headers.push(("access-control-expose-headers", "Retry-After".to_owned()));
}

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub fn preflight(config: &Config, origin: Option<&str>) -> Outgoing {
    let mut out = Outgoing::empty(204);
    add_cors(config, origin, &mut out);
    if out.header("access-control-allow-origin").is_some() {
        out.headers.push(("access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS".to_owned()));
        out.headers.push(("access-control-allow-headers", "Content-Type, Authorization".to_owned()));
        out.headers.push(("access-control-max-age", "86400".to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls_split_into_path_and_query() {
        for (url, path, query) in [
            ("https://example.com/", "/", ""),
            ("https://example.com", "/", ""),
            ("https://example.com/v1/verifications", "/v1/verifications", ""),
            ("https://example.com/foo?a=1&b=/x", "/foo", "a=1&b=/x"),
            ("https://example.com/foo#/frag?x", "/foo", ""),
            ("https://example.com:8080/foo?x#y", "/foo", "x"),
            ("https://example.com/a%3F%23%2Fb?c", "/a%3F%23%2Fb", "c"),
            ("https://example.com?query", "/", "query"),
            ("https://example.com#frag", "/", ""),
            ("http://127.0.0.1:8787/v1/admin/events?from=1&cursor=a?b", "/v1/admin/events", "from=1&cursor=a?b"),
        ] {
            assert_eq!(split_url(url), (path, query), "{url}");
        }
    }
}
