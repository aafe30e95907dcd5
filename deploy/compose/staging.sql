-- Staging, with planted drift against production:
--   * orders_customer_id_idx is missing (a migration's index was dropped by hand);
--   * orders.total_cents was never added, and its migration is missing;
--   * customers.name has a different type;
--   * a debugging table exists only here.
ALTER TABLE customers ALTER COLUMN name TYPE varchar(100);
CREATE TABLE debug_requests (
    id    bigserial PRIMARY KEY,
    body  text
);
GRANT SELECT ON debug_requests TO driftwarden_ro;
