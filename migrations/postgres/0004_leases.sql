-- Leases shared by daemon replicas on one store: who collects each source group, who sends
-- alerts for each sink, and each replica's own heartbeat (`replica/<id>`). A lease is held
-- while `expires_at` (fixed-width RFC 3339 UTC text, like every time in the store) is in the
-- future; its holder renews it, and anyone may take it once it has expired.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX leases_by_holder ON leases (holder);
