-- The decision log: one row per decision the guard takes (and per pumping block engaged
-- or lifted). Numbers appear only masked (`phone`) and as a keyed hash (`phone_hash`);
-- never a token or a secret. Written after each response; read by /v1/admin/*.
CREATE TABLE IF NOT EXISTS events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  ts          INTEGER NOT NULL,           -- milliseconds since the Unix epoch (UTC)
  time        TEXT    NOT NULL,           -- the same instant, RFC 3339
  request_id  TEXT    NOT NULL,
  route       TEXT    NOT NULL,           -- send, check, admin, protection, config
  ip          TEXT,
  ip_country  TEXT,
  asn         INTEGER,
  phone       TEXT,                       -- masked: +44******3456
  phone_hash  TEXT,                       -- HMAC-SHA256(HASH_KEY, E.164), 128 bits hex
  country     TEXT,                       -- the number's region (or a blocked destination)
  prefix      TEXT,                       -- the number's first PREFIX_LENGTH digits
  number_type TEXT,
  channel     TEXT,
  decision    TEXT    NOT NULL,           -- allow, block, engage, lift
  reason      TEXT    NOT NULL,           -- ok, or the contract code
  status      INTEGER NOT NULL,
  would_block TEXT,                       -- monitor mode: comma-separated codes
  safelisted  INTEGER NOT NULL DEFAULT 0,
  twilio_sid  TEXT,
  price_usd   REAL,                       -- estimated price of a send that went out
  approved    INTEGER,                    -- on a check: 1 approved, 0 not
  protection  TEXT,                       -- JSON: a block engaged or lifted, with its figures
  detail      TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_country_ts ON events (country, ts);
CREATE INDEX IF NOT EXISTS events_prefix_ts ON events (prefix, ts);
CREATE INDEX IF NOT EXISTS events_route_ts ON events (route, ts);
