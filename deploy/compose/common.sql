-- Schema shared by both databases of the compose demo (run first by the postgres image's
-- /docker-entrypoint-initdb.d). The drift is planted by staging.sql and production.sql.

CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'new',
    placed_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE schema_migrations (
    version  bigint PRIMARY KEY,
    applied  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_migrations (version) VALUES (20260101000000), (20260201000000);

INSERT INTO customers (email, name)
SELECT 'customer' || i || '@example.com', 'Customer ' || i FROM generate_series(1, 200) AS i;
INSERT INTO orders (customer_id, status)
SELECT 1 + (i % 200), CASE WHEN i % 3 = 0 THEN 'shipped' ELSE 'new' END FROM generate_series(1, 1000) AS i;

-- driftwarden reads through this role only: catalogs and row counts, nothing else.
CREATE ROLE driftwarden_ro LOGIN PASSWORD 'driftwarden_ro';
GRANT CONNECT ON DATABASE shop TO driftwarden_ro;
GRANT USAGE ON SCHEMA public TO driftwarden_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO driftwarden_ro;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO driftwarden_ro;
GRANT pg_read_all_settings TO driftwarden_ro;
