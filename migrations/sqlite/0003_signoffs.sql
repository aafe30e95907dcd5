-- Release sign-offs: who declared which snapshots of a pair fit to ship, and what they accepted.
-- body is the sign-off as JSON (snapshot ids and hashes, finding fingerprints, acceptances).
CREATE TABLE signoffs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    pair      TEXT NOT NULL,
    signed_by TEXT NOT NULL,
    at        TEXT NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX signoffs_by_pair ON signoffs (pair, id);
