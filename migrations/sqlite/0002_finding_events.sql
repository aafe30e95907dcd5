-- Finding events (opened, resolved), written in the same transaction as the finding itself:
-- the durable outbox that event sinks (webhooks) read with a per-sink cursor.
CREATE TABLE finding_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_id BIGINT NOT NULL,
    event      TEXT NOT NULL,
    at         TEXT NOT NULL
);

-- How far each sink has delivered (the last event id it confirmed).
CREATE TABLE sink_cursors (
    sink          TEXT PRIMARY KEY,
    last_event_id BIGINT NOT NULL
);
