-- Production: the index that staging lacks, and a migration staging has not run.
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
ALTER TABLE orders ADD COLUMN total_cents bigint NOT NULL DEFAULT 0;
INSERT INTO schema_migrations (version) VALUES (20260301000000);
-- Production holds more data (row counts within the rules' ratio are expected).
INSERT INTO orders (customer_id, status)
SELECT 1 + (i % 200), 'shipped' FROM generate_series(1, 500) AS i;
