-- Production: the baseline the demo checks staging against.

CREATE TABLE customers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL COLLATE NOCASE,
    full_name  TEXT NOT NULL,
    phone      TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE UNIQUE INDEX customers_email_key ON customers (email);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total_cents INTEGER NOT NULL DEFAULT 0,
    placed_at   TEXT NOT NULL
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_open_idx ON orders (placed_at) WHERE status <> 'shipped';

CREATE VIEW order_totals AS
SELECT o.id AS order_id,
       o.customer_id,
       SUM(i.quantity * i.unit_price_cents) AS total_cents
FROM orders AS o
JOIN order_items AS i ON i.order_id = o.id
GROUP BY o.id, o.customer_id;

CREATE TRIGGER orders_status_audit AFTER UPDATE OF status ON orders
BEGIN
    INSERT INTO audit_log (entity, entity_id, action, at)
    VALUES ('order', NEW.id, 'status:' || NEW.status, datetime('now'));
END;
