-- An id per decision, so the decision log can be written idempotently: the edge retries a
-- failed batch with INSERT OR IGNORE, and an operator restoring rows from the console's
-- decision lines (or from a "decision log write failed" line) cannot add a row twice.
-- The id is the first 128 bits (hex) of SHA-256 over the decision's JSON log line.
-- Rows written before this migration keep a NULL id (NULLs never collide in SQLite).
ALTER TABLE events ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (event_id);
