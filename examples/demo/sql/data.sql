-- Demo rows. `driftwarden demo` replaces the @NAME@ placeholders with each environment's
-- counts (see src/cli/demo.rs), so staging is a slightly smaller copy of production.

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @PRODUCTS@)
INSERT INTO products (id, sku, name, price_cents, active)
SELECT i, printf('SKU-%04d', i), 'Product ' || i, 500 + (i * 137) % 9500, 1 FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @INVENTORY@)
INSERT INTO inventory (product_id, on_hand, reserved, updated_at)
SELECT i, (i * 7) % 100, i % 3, '2026-11-01' FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @CUSTOMERS@)
INSERT INTO customers (email, full_name, phone, created_at)
SELECT 'customer' || i || '@@EMAIL_DOMAIN@', 'Customer ' || i, printf('+1555%07d', i), '2026-01-01' FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @ORDERS@)
INSERT INTO orders (customer_id, status, total_cents, placed_at)
SELECT 1 + (i * 31) % @CUSTOMERS@, CASE i % 4 WHEN 0 THEN 'pending' WHEN 1 THEN 'paid' WHEN 2 THEN 'shipped' ELSE 'cancelled' END,
       0, printf('2026-%02d-%02d', 1 + i % 12, 1 + i % 28) FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @ORDER_ITEMS@)
INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
SELECT 1 + (i - 1) % @ORDERS@, 1 + (i - 1) / @ORDERS@, 1 + i % 5, 500 + (i * 53) % 4000 FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @AUDIT_LOG@)
INSERT INTO audit_log (entity, entity_id, action, at)
SELECT 'order', 1 + i % @ORDERS@, 'status:paid', '2026-11-01' FROM n;
