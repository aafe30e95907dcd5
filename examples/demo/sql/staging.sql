-- Staging, with the drift a busy team lets in: a migration that never ran (the missing
-- index), a hand-edited column type, an extra column from an unreleased branch, and a view
-- patched in place.

CREATE TABLE customers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL COLLATE NOCASE,
    full_name  TEXT NOT NULL,
    phone      VARCHAR(20),
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE UNIQUE INDEX customers_email_key ON customers (email);

CREATE TABLE orders (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id   INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total_cents   INTEGER NOT NULL DEFAULT 0,
    placed_at     TEXT NOT NULL,
    discount_code TEXT
);
CREATE INDEX orders_open_idx ON orders (placed_at) WHERE status <> 'shipped';

CREATE VIEW order_totals AS
SELECT o.id AS order_id,
       o.customer_id,
       SUM(i.quantity * i.unit_price_cents) AS total_cents
FROM orders AS o
JOIN order_items AS i ON i.order_id = o.id
WHERE o.status <> 'cancelled'
GROUP BY o.id, o.customer_id;

CREATE TRIGGER orders_status_audit AFTER UPDATE OF status ON orders
BEGIN
    INSERT INTO audit_log (entity, entity_id, action, at)
    VALUES ('order', NEW.id, 'status:' || NEW.status, datetime('now'));
END;
