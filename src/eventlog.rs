//! The decision log (D1) and what the admin API reads out of it: filtered, paginated
//! events (JSON, NDJSON or CSV), statistics, and incidents found automatically.
//!
//! The edge writes every decision to D1 after the response (`wait_until`); the core only
//! describes the rows, builds the read queries as SQL with bound parameters (so D1 does
//! the filtering), and turns rows into answers. Incidents are reconstructed from the log
//! alone: the timeline a root-cause analysis asks for.

use crate::event::{parse_utc, utc, Event, Protection};
use crate::ports::StoreFault;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The columns of `events` (see `migrations/`), in insert order.
pub const COLUMNS: [&str; 24] = [
    "event_id",
    "ts",
    "time",
    "request_id",
    "route",
    "ip",
    "ip_country",
    "asn",
    "phone",
    "phone_hash",
    "country",
    "prefix",
    "number_type",
    "channel",
    "decision",
    "reason",
    "status",
    "would_block",
    "safelisted",
    "twilio_sid",
    "price_usd",
    "approved",
    "protection",
    "detail",
];

/// A value bound to a SQL parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Sql {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// A decision's id in the log: the first 128 bits (hex) of SHA-256 over its JSON log
/// line. The same decision always gets the same id, so the row can be written again (a
/// retry, an operator restoring rows from the console) without ever being written twice.
pub fn event_id(event: &Event) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(event.to_json().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The `INSERT` for one event, with its parameters in [`COLUMNS`] order. `OR IGNORE` on
/// the unique `event_id`: inserting a decision that is already there changes nothing.
pub fn insert(event: &Event) -> (String, Vec<Sql>) {
    let text = |v: &Option<String>| v.clone().map_or(Sql::Null, Sql::Text);
    let ts = parse_utc(&event.time).unwrap_or(0);
    let params = vec![
        Sql::Text(event_id(event)),
        Sql::Int(ts as i64),
        Sql::Text(event.time.clone()),
        Sql::Text(event.request_id.clone()),
        Sql::Text(event.route.to_owned()),
        Sql::Text(event.ip.clone()),
        text(&event.ip_country),
        event.asn.map_or(Sql::Null, |a| Sql::Int(i64::from(a))),
        text(&event.phone),
        text(&event.phone_hash),
        text(&event.country),
        text(&event.prefix),
        event.number_type.map_or(Sql::Null, |t| Sql::Text(t.to_owned())),
        event.channel.map_or(Sql::Null, |c| Sql::Text(c.to_owned())),
        Sql::Text(event.decision.to_owned()),
        Sql::Text(event.reason.to_owned()),
        Sql::Int(i64::from(event.status)),
        if event.would_block.is_empty() { Sql::Null } else { Sql::Text(event.would_block.join(",")) },
        Sql::Int(i64::from(event.safelisted)),
        text(&event.twilio_sid),
        event.price_usd.map_or(Sql::Null, Sql::Real),
        event.approved.map_or(Sql::Null, |a| Sql::Int(i64::from(a))),
        event.protection.as_ref().map_or(Sql::Null, |p| Sql::Text(serde_json::to_string(p).unwrap_or_default())),
        text(&event.detail),
    ];
    let marks = vec!["?"; COLUMNS.len()].join(",");
    (format!("INSERT OR IGNORE INTO events ({}) VALUES ({marks})", COLUMNS.join(",")), params)
}

/// Writes batches of inserts to the decision log. A batch is all or nothing (a D1 batch
/// is one transaction).
#[allow(async_fn_in_trait)]
pub trait EventSink {
    async fn write(&self, batch: &[(String, Vec<Sql>)]) -> Result<(), StoreFault>;
    /// Called before the retry (the edge waits a moment there).
    async fn pause(&self) {}
}

/// Attempts per batch: the write, and one retry. Safe because every insert is idempotent.
pub const WRITE_ATTEMPTS: u32 = 2;

/// A batch the log did not take after [`WRITE_ATTEMPTS`] attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteFailure {
    pub attempts: u32,
    pub fault: String,
    /// The console line that says so, carrying every row (see [`failure_line`]).
    pub line: String,
}

/// Writes one request's events to the log: one batch, retried once (the inserts are
/// idempotent, so a batch that was committed but reported as failed is not doubled).
/// Returns the attempts it took.
pub async fn append<W: EventSink>(sink: &W, events: &[Event]) -> Result<u32, WriteFailure> {
    let batch: Vec<(String, Vec<Sql>)> = events.iter().map(insert).collect();
    let mut attempt = 1;
    loop {
        match sink.write(&batch).await {
            Ok(()) => return Ok(attempt),
            Err(fault) if attempt >= WRITE_ATTEMPTS => {
                let line = failure_line(events, attempt, &fault.0);
                return Err(WriteFailure { attempts: attempt, fault: fault.0, line });
            }
            Err(_) => {
                sink.pause().await;
                attempt += 1;
            }
        }
    }
}

/// [`insert`] with its values written inline as SQL literals: a statement an operator can
/// run as it is (`wrangler d1 execute OTP_GUARD_DB --remote --command '...'`). Text is
/// quoted with its single quotes doubled (SQLite strings have no other escape).
pub fn restore_sql(event: &Event) -> String {
    let (sql, params) = insert(event);
    let literal = |p: &Sql| match p {
        Sql::Null => "NULL".to_owned(),
        Sql::Int(i) => i.to_string(),
        Sql::Real(r) if r.is_finite() => format!("{r:?}"),
        Sql::Real(_) => "NULL".to_owned(),
        Sql::Text(t) => format!("'{}'", t.replace('\'', "''")),
    };
    let values = params.iter().map(literal).collect::<Vec<_>>().join(",");
    let marks = vec!["?"; COLUMNS.len()].join(",");
    sql.replace(&format!("VALUES ({marks})"), &format!("VALUES ({values})"))
}

/// The console line for a batch the log lost: the fault, the decisions' ids, the
/// statements that put the rows back (idempotent: a row that did get in is not doubled),
/// and the decisions themselves, field for field as on their decision lines. It holds
/// nothing the decision lines do not (numbers only masked or hashed).
pub fn failure_line(events: &[Event], attempts: u32, fault: &str) -> String {
    let request_id = events.first().map(|e| e.request_id.as_str()).unwrap_or_default();
    json!({
        "error": "decision log write failed",
        "attempts": attempts,
        "fault": fault,
        "request_id": request_id,
        "event_ids": events.iter().map(event_id).collect::<Vec<_>>(),
        "restore": "these rows are not in D1; each event is also printed in full on its decision line (same \
                    request_id); run each statement of `sql` (wrangler d1 execute OTP_GUARD_DB --remote --command): \
                    INSERT OR IGNORE on event_id, so running one twice adds nothing",
        "sql": events.iter().map(restore_sql).collect::<Vec<_>>(),
        "events": events,
    })
    .to_string()
}

/// A stored event, as read back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: i64,
    /// See [`event_id`]; `None` for rows written before `migrations/0002_event_id.sql`.
    #[serde(default)]
    pub event_id: Option<String>,
    pub ts: i64,
    pub time: String,
    pub request_id: String,
    pub route: String,
    pub ip: Option<String>,
    pub ip_country: Option<String>,
    pub asn: Option<i64>,
    pub phone: Option<String>,
    pub phone_hash: Option<String>,
    pub country: Option<String>,
    pub prefix: Option<String>,
    pub number_type: Option<String>,
    pub channel: Option<String>,
    pub decision: String,
    pub reason: String,
    pub status: i64,
    pub would_block: Option<String>,
    pub safelisted: Option<i64>,
    pub twilio_sid: Option<String>,
    pub price_usd: Option<f64>,
    pub approved: Option<i64>,
    pub protection: Option<String>,
    pub detail: Option<String>,
}

impl Row {
    fn protection(&self) -> Option<Protection> {
        self.protection.as_deref().and_then(|p| serde_json::from_str(p).ok())
    }

    fn is_send(&self) -> bool {
        self.route == "send" && self.decision == "allow"
    }

    fn is_approval(&self) -> bool {
        self.route == "check" && self.approved == Some(1)
    }

    /// Whether this row concerns destination `dest` (a country or a prefix).
    fn touches(&self, dest: &str) -> bool {
        if dest.starts_with('+') {
            self.prefix.as_deref().is_some_and(|p| p.starts_with(dest) || dest.starts_with(p))
        } else {
            self.country.as_deref() == Some(dest)
        }
    }
}

/// The filters of `GET /v1/admin/events` (and the time range of stats and incidents).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub country: Option<String>,
    pub prefix: Option<String>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub route: Option<String>,
    /// Rows past this id (the `next_cursor` of the previous page): after it oldest
    /// first, before it newest first.
    pub after_id: Option<i64>,
    /// Newest first (`order=desc`), for "recent events" views.
    pub newest_first: bool,
    pub limit: u32,
}

/// The largest page, and the most rows stats and incidents read at once.
pub const MAX_PAGE: u32 = 1000;
pub const MAX_SCAN: u32 = 50_000;

/// Why a query string was refused.
pub type QueryError = String;

impl Query {
    /// Reads `since`, `until` (RFC 3339 or ms since the epoch), `country`, `prefix`,
    /// `decision`, `reason`, `route`, `cursor`, `limit`.
    pub fn parse(query: &str, default_limit: u32, max_limit: u32) -> Result<Query, QueryError> {
        let mut q = Query { limit: default_limit, ..Query::default() };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let time =
                |v: &str| v.parse::<u64>().ok().or_else(|| parse_utc(v)).ok_or(format!("`{key}` must be a time"));
            let word = |v: &str, max: usize| {
                let ok = !v.is_empty()
                    && v.len() <= max
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
                ok.then(|| v.to_owned()).ok_or(format!("`{key}` is not a valid value"))
            };
            match key.as_ref() {
                "since" => q.since_ms = Some(time(&value)?),
                "until" => q.until_ms = Some(time(&value)?),
                "country" => q.country = Some(word(&value, 3)?.to_ascii_uppercase()),
                "prefix" => q.prefix = Some(word(&value, 16)?),
                "decision" => q.decision = Some(word(&value, 16)?),
                "reason" => q.reason = Some(word(&value, 32)?),
                "route" => q.route = Some(word(&value, 16)?),
                "cursor" => q.after_id = Some(value.parse().map_err(|_| "`cursor` must be a number".to_owned())?),
                "limit" => {
                    q.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=max_limit).contains(n))
                        .ok_or(format!("`limit` must be from 1 to {max_limit}"))?
                }
                "order" => {
                    q.newest_first = match value.as_ref() {
                        "asc" => false,
                        "desc" => true,
                        _ => return Err("`order` must be asc or desc".to_owned()),
                    }
                }
                "format" => {}
                other => return Err(format!("unknown parameter `{}`", other.chars().take(32).collect::<String>())),
            }
        }
        Ok(q)
    }

    /// The `SELECT`, oldest first, with bound parameters.
    pub fn to_sql(&self) -> (String, Vec<Sql>) {
        let mut clauses = Vec::new();
        let mut params = Vec::new();
        let mut push = |clause: &str, value: Sql| {
            clauses.push(clause.to_owned());
            params.push(value);
        };
        if let Some(v) = self.since_ms {
            push("ts >= ?", Sql::Int(v as i64));
        }
        if let Some(v) = self.until_ms {
            push("ts < ?", Sql::Int(v as i64));
        }
        if let Some(v) = &self.country {
            push("country = ?", Sql::Text(v.clone()));
        }
        if let Some(v) = &self.prefix {
            push("prefix LIKE ? || '%'", Sql::Text(v.clone()));
        }
        if let Some(v) = &self.decision {
            push("decision = ?", Sql::Text(v.clone()));
        }
        if let Some(v) = &self.reason {
            push("reason = ?", Sql::Text(v.clone()));
        }
        if let Some(v) = &self.route {
            push("route = ?", Sql::Text(v.clone()));
        }
        if let Some(v) = self.after_id {
            push(if self.newest_first { "id < ?" } else { "id > ?" }, Sql::Int(v));
        }
        let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        params.push(Sql::Int(i64::from(self.limit)));
        let order = if self.newest_first { "DESC" } else { "ASC" };
        (format!("SELECT * FROM events{filter} ORDER BY id {order} LIMIT ?"), params)
    }

    /// The same filter applied in memory (tests and replay).
    pub fn matches(&self, row: &Row) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.as_ref().is_none_or(|w| have.as_ref() == Some(w));
        self.since_ms.is_none_or(|s| row.ts >= s as i64)
            && self.until_ms.is_none_or(|u| row.ts < u as i64)
            && eq(&self.country, &row.country)
            && self.prefix.as_ref().is_none_or(|p| row.prefix.as_deref().is_some_and(|rp| rp.starts_with(p.as_str())))
            && self.decision.as_ref().is_none_or(|d| &row.decision == d)
            && self.reason.as_ref().is_none_or(|r| &row.reason == r)
            && self.route.as_ref().is_none_or(|r| &row.route == r)
            && self.after_id.is_none_or(|a| if self.newest_first { row.id < a } else { row.id > a })
    }
}

/// Reads the decision log.
#[allow(async_fn_in_trait)]
pub trait EventLog {
    async fn query(&self, query: &Query) -> Result<Vec<Row>, StoreFault>;
}

/// The log in memory: native tests, and the tables replay builds.
#[derive(Debug, Default)]
pub struct MemoryLog(pub std::cell::RefCell<Vec<Row>>);

impl MemoryLog {
    pub fn append(&self, event: &Event) {
        let mut rows = self.0.borrow_mut();
        let id = rows.len() as i64 + 1;
        rows.push(row_of(id, event));
    }
}

/// The row an event becomes.
pub fn row_of(id: i64, e: &Event) -> Row {
    Row {
        id,
        event_id: Some(event_id(e)),
        ts: parse_utc(&e.time).unwrap_or(0) as i64,
        time: e.time.clone(),
        request_id: e.request_id.clone(),
        route: e.route.to_owned(),
        ip: Some(e.ip.clone()),
        ip_country: e.ip_country.clone(),
        asn: e.asn.map(i64::from),
        phone: e.phone.clone(),
        phone_hash: e.phone_hash.clone(),
        country: e.country.clone(),
        prefix: e.prefix.clone(),
        number_type: e.number_type.map(str::to_owned),
        channel: e.channel.map(str::to_owned),
        decision: e.decision.to_owned(),
        reason: e.reason.to_owned(),
        status: i64::from(e.status),
        would_block: (!e.would_block.is_empty()).then(|| e.would_block.join(",")),
        safelisted: Some(i64::from(e.safelisted)),
        twilio_sid: e.twilio_sid.clone(),
        price_usd: e.price_usd,
        approved: e.approved.map(i64::from),
        protection: e.protection.as_ref().map(|p| serde_json::to_string(p).unwrap_or_default()),
        detail: e.detail.clone(),
    }
}

impl EventLog for MemoryLog {
    async fn query(&self, query: &Query) -> Result<Vec<Row>, StoreFault> {
        let rows = self.0.borrow();
        let matching = rows.iter().filter(|r| query.matches(r));
        let page: Vec<Row> = if query.newest_first {
            matching.rev().take(query.limit as usize).cloned().collect()
        } else {
            matching.take(query.limit as usize).cloned().collect()
        };
        Ok(page)
    }
}

impl<T: EventLog + ?Sized> EventLog for &T {
    async fn query(&self, query: &Query) -> Result<Vec<Row>, StoreFault> {
        (**self).query(query).await
    }
}

/// Rows as CSV, header first. Fields are quoted where they need it, and a leading
/// `=`, `+`, `-` or `@` is neutralised so a spreadsheet does not run it as a formula.
pub fn to_csv(rows: &[Row]) -> String {
    let header = [
        "id",
        "time",
        "route",
        "ip",
        "ip_country",
        "asn",
        "phone",
        "country",
        "prefix",
        "number_type",
        "channel",
        "decision",
        "reason",
        "status",
        "would_block",
        "twilio_sid",
        "price_usd",
        "approved",
        "detail",
    ];
    let cell = |v: String| {
        let v = if v.starts_with(['=', '-', '@'])
            || (v.starts_with('+') && !v[1..].bytes().all(|b| b.is_ascii_digit() || b == b'*'))
        {
            format!("'{v}")
        } else {
            v
        };
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v
        }
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut out = header.join(",") + "\n";
    for r in rows {
        let fields = [
            r.id.to_string(),
            r.time.clone(),
            r.route.clone(),
            opt(&r.ip),
            opt(&r.ip_country),
            r.asn.map(|a| a.to_string()).unwrap_or_default(),
            opt(&r.phone),
            opt(&r.country),
            opt(&r.prefix),
            opt(&r.number_type),
            opt(&r.channel),
            r.decision.clone(),
            r.reason.clone(),
            r.status.to_string(),
            opt(&r.would_block),
            opt(&r.twilio_sid),
            r.price_usd.map(|p| format!("{p:.3}")).unwrap_or_default(),
            r.approved.map(|a| a.to_string()).unwrap_or_default(),
            opt(&r.detail),
        ];
        out.push_str(&fields.into_iter().map(cell).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// Blocks in force at `now_ms`: engaged, not expired, not lifted since.
pub fn active_blocks(rows: &[Row], now_ms: u64) -> Vec<Value> {
    let mut latest: BTreeMap<String, (Protection, &Row)> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.route == "protection") {
        if let Some(p) = row.protection() {
            latest.insert(p.dest.clone(), (p, row));
        }
    }
    latest
        .into_values()
        .filter(|(p, _)| p.action == "engaged" && p.until.as_deref().and_then(parse_utc).is_some_and(|u| u > now_ms))
        .map(|(p, row)| json!({"dest": p.dest, "engaged": row.time, "until": p.until, "trigger": p.trigger, "figures": p.figures}))
        .collect()
}

/// `GET /v1/admin/stats`: counts per country, channel and reason; conversion and
/// estimated spend per country; spend in the last hour and day; active blocks.
pub fn stats(rows: &[Row], now_ms: u64) -> Value {
    #[derive(Default)]
    struct Dest {
        requests: u64,
        sent: u64,
        blocked: u64,
        approved: u64,
        spend: f64,
    }
    let mut countries: BTreeMap<String, Dest> = BTreeMap::new();
    // Hourly series per country, for the dashboard's charts: hour → country → counts.
    let mut series: BTreeMap<String, BTreeMap<String, [u64; 3]>> = BTreeMap::new();
    let mut channels: BTreeMap<String, u64> = BTreeMap::new();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let (mut spend_hour, mut spend_day) = (0.0, 0.0);
    for r in rows.iter().filter(|r| r.route == "send" || r.route == "check") {
        let country = r.country.clone().unwrap_or_else(|| "unknown".into());
        let hour = format!("{}:00:00Z", r.time.get(..13).unwrap_or(""));
        let point = series.entry(hour).or_default().entry(country.clone()).or_default();
        match (r.route.as_str(), r.decision.as_str()) {
            ("send", "allow") => point[0] += 1,
            ("send", _) => point[1] += 1,
            _ if r.is_approval() => point[2] += 1,
            _ => {}
        }
        let d = countries.entry(country).or_default();
        if r.route == "send" {
            d.requests += 1;
            *reasons.entry(r.reason.clone()).or_default() += 1;
            if let Some(c) = &r.channel {
                *channels.entry(c.clone()).or_default() += 1;
            }
            if r.is_send() {
                d.sent += 1;
                let price = r.price_usd.unwrap_or(0.0);
                d.spend += price;
                let age = now_ms as i64 - r.ts;
                if age < 3_600_000 {
                    spend_hour += price;
                }
                if age < 86_400_000 {
                    spend_day += price;
                }
            } else {
                d.blocked += 1;
            }
        } else if r.is_approval() {
            d.approved += 1;
        }
    }
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let per_country: BTreeMap<_, _> = countries
        .into_iter()
        .map(|(c, d)| {
            let conversion = (d.sent > 0).then(|| round(d.approved as f64 / d.sent as f64));
            (
                c,
                json!({"requests": d.requests, "sent": d.sent, "blocked": d.blocked, "approved": d.approved,
                       "conversion": conversion, "estimated_spend_usd": round(d.spend)}),
            )
        })
        .collect();
    json!({
        "from": rows.first().map(|r| r.time.clone()),
        "to": rows.last().map(|r| r.time.clone()),
        "events": rows.len(),
        "countries": per_country,
        "channels": channels,
        "reasons": reasons,
        "estimated_spend_usd": {"last_hour": round(spend_hour), "last_day": round(spend_day)},
        "series": series.into_iter().map(|(hour, per_country)| json!({
            "hour": hour,
            "countries": per_country.into_iter().map(|(c, [sent, blocked, approved])| {
                (c, json!({"sent": sent, "blocked": blocked, "approved": approved}))
            }).collect::<BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
        "active_blocks": active_blocks(rows, now_ms),
    })
}

/// `GET /v1/admin/incidents`: the pumping incidents in the log, each with its timeline.
///
/// An incident starts where the guard first engaged a block (less the detector's window,
/// when the spike began) and groups every engagement within the next two hours; it ends
/// at the last refused or sent request to its destinations while blocks were in force.
/// For each: destinations, sends and conversion before (the day before) and during,
/// estimated cost of what was sent during it, and the guard's actions with their times.
pub fn incidents(rows: &[Row], window_min: u32) -> Value {
    const MERGE_MS: i64 = 2 * 3_600_000;
    let engagements: Vec<(&Row, Protection)> =
        rows.iter().filter(|r| r.route == "protection").filter_map(|r| r.protection().map(|p| (r, p))).collect();
    let mut groups: Vec<Vec<&(&Row, Protection)>> = Vec::new();
    for e in engagements.iter().filter(|(_, p)| p.action == "engaged") {
        match groups.last_mut() {
            Some(group) if e.0.ts - group[0].0.ts <= MERGE_MS => group.push(e),
            _ => groups.push(vec![e]),
        }
    }
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let list: Vec<Value> = groups
        .iter()
        .map(|group| {
            let dests: BTreeSet<String> = group.iter().map(|(_, p)| p.dest.clone()).collect();
            let first = group[0].0.ts;
            let start = first - i64::from(window_min) * 60_000;
            let last_until = group
                .iter()
                .filter_map(|(_, p)| p.until.as_deref().and_then(parse_utc))
                .max()
                .map_or(first, |u| u as i64);
            let touches = |r: &Row| dests.iter().any(|d| r.touches(d));
            let during: Vec<&Row> = rows.iter().filter(|r| r.ts >= start && r.ts <= last_until && touches(r)).collect();
            let end = during.iter().filter(|r| r.route == "send").map(|r| r.ts).max().unwrap_or(first);
            let before: Vec<&Row> =
                rows.iter().filter(|r| r.ts >= start - 86_400_000 && r.ts < start && touches(r)).collect();
            let conversion = |rs: &[&Row]| {
                let sent = rs.iter().filter(|r| r.is_send()).count();
                let approved = rs.iter().filter(|r| r.is_approval()).count();
                (sent > 0).then(|| round(approved as f64 / sent as f64))
            };
            let sends = during.iter().filter(|r| r.is_send()).count();
            let refused = during.iter().filter(|r| r.route == "send" && r.decision == "block").count();
            let cost: f64 = during.iter().filter(|r| r.is_send()).filter_map(|r| r.price_usd).sum();
            let mut actions: Vec<Value> = engagements
                .iter()
                .filter(|(r, p)| r.ts >= first && r.ts <= end.max(last_until) && dests.contains(&p.dest))
                .map(|(r, p)| {
                    json!({"time": r.time, "action": p.action, "dest": p.dest, "trigger": p.trigger,
                                     "until": p.until, "figures": p.figures})
                })
                .collect();
            if let Some(r) = during.iter().find(|r| r.reason == "protection_engaged" && r.route == "send") {
                actions.push(json!({"time": r.time, "action": "first_refusal", "dest": r.country}));
            }
            actions.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
            let ips: BTreeSet<&str> = during.iter().filter_map(|r| r.ip.as_deref()).collect();
            let asns: BTreeSet<i64> = during.iter().filter_map(|r| r.asn).collect();
            json!({
                "start": utc(start.max(0) as u64),
                "end": utc(end.max(first) as u64),
                "destinations": dests,
                "requests": during.iter().filter(|r| r.route == "send").count(),
                "sends": sends,
                "refused": refused,
                "conversion_before": conversion(&before),
                "conversion_during": conversion(&during),
                "estimated_cost_usd": round(cost),
                "distinct_ips": ips.len(),
                "asns": asns,
                "actions": actions,
            })
        })
        .collect();
    json!({"incidents": list})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_bound_sql() {
        let q =
            Query::parse("since=2026-01-10T14:00:00Z&country=cg&reason=rate_limited&cursor=40&limit=10", 100, MAX_PAGE)
                .unwrap();
        let (sql, params) = q.to_sql();
        assert_eq!(
            sql,
            "SELECT * FROM events WHERE ts >= ? AND country = ? AND reason = ? AND id > ? ORDER BY id ASC LIMIT ?"
        );
        assert_eq!(
            params,
            vec![
                Sql::Int(1_768_053_600_000),
                Sql::Text("CG".into()),
                Sql::Text("rate_limited".into()),
                Sql::Int(40),
                Sql::Int(10)
            ]
        );
        for bad in ["limit=0", "limit=5000", "since=yesterday", "country=G'B", "cursor=x", "evil=1", "reason=a%20b"] {
            assert!(Query::parse(bad, 100, MAX_PAGE).is_err(), "{bad}");
        }
    }

    /// A log that refuses its first `fail` batches; with `commit_anyway`, a refused batch
    /// is committed all the same (the write went through, the answer was lost). Rows are
    /// keyed as `INSERT OR IGNORE` keys them: by `event_id`.
    #[derive(Default)]
    struct FlakySink {
        fail: std::cell::Cell<u32>,
        commit_anyway: bool,
        writes: std::cell::Cell<u32>,
        pauses: std::cell::Cell<u32>,
        rows: std::cell::RefCell<BTreeMap<String, Vec<Sql>>>,
    }

    impl EventSink for FlakySink {
        async fn write(&self, batch: &[(String, Vec<Sql>)]) -> Result<(), StoreFault> {
            self.writes.set(self.writes.get() + 1);
            let failing = self.fail.get() > 0;
            if !failing || self.commit_anyway {
                for (sql, params) in batch {
                    assert!(sql.starts_with("INSERT OR IGNORE INTO events (event_id,"), "{sql}");
                    let Sql::Text(id) = &params[0] else { panic!("event_id first") };
                    self.rows.borrow_mut().entry(id.clone()).or_insert_with(|| params.clone());
                }
            }
            if failing {
                self.fail.set(self.fail.get() - 1);
                return Err(StoreFault("D1_ERROR: database is locked".into()));
            }
            Ok(())
        }

        async fn pause(&self) {
            self.pauses.set(self.pauses.get() + 1);
        }
    }

    fn decisions() -> Vec<Event> {
        let base = Event {
            time: "2026-01-10T14:00:03.120Z".into(),
            request_id: "8f2c".into(),
            route: "send",
            ip: "203.0.113.7".into(),
            phone: Some("+44******3456".into()),
            decision: "block",
            reason: "upstream_error",
            status: 502,
            detail: Some("Twilio did not answer in time".into()),
            ..Event::default()
        };
        let protection =
            Event { route: "protection", decision: "engage", reason: "protection_engaged", ..base.clone() };
        vec![base, protection]
    }

    #[test]
    fn the_insert_is_idempotent_on_a_content_id() {
        let [a, b] = <[Event; 2]>::try_from(decisions()).unwrap();
        let (sql, params) = insert(&a);
        assert!(sql.starts_with("INSERT OR IGNORE INTO events (event_id,ts,time,"), "{sql}");
        assert_eq!(params.len(), COLUMNS.len());
        assert_eq!(params[0], Sql::Text(event_id(&a)));
        assert_eq!(event_id(&a).len(), 32);
        assert_eq!(event_id(&a), event_id(&a.clone()), "the same decision, the same id");
        assert_ne!(event_id(&a), event_id(&b), "two decisions of one request, two ids");
        let later = Event { time: "2026-01-10T14:00:03.121Z".into(), ..a.clone() };
        assert_ne!(event_id(&a), event_id(&later));
        assert_eq!(row_of(1, &a).event_id, Some(event_id(&a)));
    }

    #[test]
    fn restore_statements_inline_every_value_quoted() {
        let mut event = decisions().remove(0);
        event.detail = Some("it's '); DROP TABLE events; --".into());
        event.price_usd = Some(0.05);
        let sql = restore_sql(&event);
        let id = event_id(&event);
        assert!(sql.starts_with("INSERT OR IGNORE INTO events (event_id,ts,time,"), "{sql}");
        assert!(
            sql.contains(&format!("VALUES ('{id}',1768053603120,'2026-01-10T14:00:03.120Z','8f2c','send'")),
            "{sql}"
        );
        assert!(sql.contains(",'it''s ''); DROP TABLE events; --')"), "{sql}");
        assert!(sql.contains(",0.05,") && sql.contains(",NULL,") && !sql.contains('?'), "{sql}");
    }

    #[test]
    fn a_failed_batch_is_retried_once_and_never_doubled() {
        use crate::ports::memory::block_on;
        let events = decisions();
        // Written at once.
        let sink = FlakySink::default();
        assert_eq!(block_on(append(&sink, &events)), Ok(1));
        assert_eq!((sink.writes.get(), sink.pauses.get(), sink.rows.borrow().len()), (1, 0, 2));

        // Refused once: the retry writes it, after a pause.
        let sink = FlakySink { fail: 1.into(), ..FlakySink::default() };
        assert_eq!(block_on(append(&sink, &events)), Ok(2));
        assert_eq!((sink.writes.get(), sink.pauses.get(), sink.rows.borrow().len()), (2, 1, 2));

        // Committed, but reported as failed: the retry adds nothing.
        let sink = FlakySink { fail: 1.into(), commit_anyway: true, ..FlakySink::default() };
        assert_eq!(block_on(append(&sink, &events)), Ok(2));
        assert_eq!(sink.rows.borrow().len(), 2);

        // Refused twice: no third attempt, and the failure carries every row.
        let sink = FlakySink { fail: 5.into(), ..FlakySink::default() };
        let failure = block_on(append(&sink, &events)).unwrap_err();
        assert_eq!((sink.writes.get(), sink.rows.borrow().len()), (WRITE_ATTEMPTS, 0));
        assert_eq!((failure.attempts, failure.fault.as_str()), (2, "D1_ERROR: database is locked"));
        let line: Value = serde_json::from_str(&failure.line).unwrap();
        assert_eq!(line["error"], "decision log write failed");
        assert_eq!(line["request_id"], "8f2c");
        assert_eq!(line["fault"], "D1_ERROR: database is locked");
        assert!(line["restore"].as_str().unwrap().contains("decision line"), "{line}");
        assert_eq!(line["event_ids"], json!(events.iter().map(event_id).collect::<Vec<_>>()));
        assert_eq!(line["sql"], json!(events.iter().map(restore_sql).collect::<Vec<_>>()));
        // Each event exactly as its decision line printed it: enough to rebuild the row.
        for (i, event) in events.iter().enumerate() {
            let printed: Value = serde_json::from_str(&event.to_json()).unwrap();
            assert_eq!(line["events"][i], printed);
        }
    }

    #[test]
    fn csv_is_quoted_and_formula_safe() {
        let row = Row {
            id: 1,
            time: "t".into(),
            route: "send".into(),
            decision: "block".into(),
            reason: "x".into(),
            detail: Some("=HYPERLINK(\"x\"), and more".into()),
            phone: Some("+44******3456".into()),
            ..Row::default()
        };
        let csv = to_csv(&[row]);
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\"), and more\""), "{csv}");
        assert!(csv.contains(",+44******3456,"), "{csv}");
    }
}
