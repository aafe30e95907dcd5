-- driftwarden store, format 1 (SQLite). Timestamps are RFC 3339 UTC text with microseconds,
-- fixed width, so they sort as text and read the same on every backend.

-- Marks the database as a driftwarden store; `open` refuses a database with tables but no marker.
CREATE TABLE driftwarden_store (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO driftwarden_store (key, value) VALUES ('format', '1');

-- Canonical trees, stored once per content hash (most collections change nothing).
CREATE TABLE trees (
    hash TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

-- One row per distinct content of a source; an unchanged collection only moves last_seen_at.
CREATE TABLE snapshots (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    environment      TEXT NOT NULL,
    source           TEXT NOT NULL,
    hash             TEXT NOT NULL REFERENCES trees (hash),
    taken_at         TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL,
    leaves           BIGINT NOT NULL
);
CREATE INDEX snapshots_by_source ON snapshots (environment, source, id);
CREATE INDEX snapshots_by_hash ON snapshots (hash);

-- Findings and their lifecycle; body is the finding as JSON.
CREATE TABLE findings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    source        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    path          TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,
    body          TEXT NOT NULL,
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL,
    resolved_at   TEXT,
    resolution    TEXT
);
-- At most one open finding per identity, whatever a crash interrupted.
CREATE UNIQUE INDEX findings_one_open ON findings (kind, scope, source, fingerprint)
    WHERE resolved_at IS NULL;
CREATE INDEX findings_by_scope ON findings (kind, scope, source);

-- "A deploy of ENV is under way": changes inside a window are expected.
CREATE TABLE deploy_windows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX deploy_windows_by_end ON deploy_windows (ends_at);
