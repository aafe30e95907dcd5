//! SQL fragments shared by the catalog queries, as macros so every query stays one
//! `&'static str` (nothing is spliced in at run time).

/// Namespaces that hold user objects: not the system catalogs, TOAST or temporary schemas.
/// `$n` is the alias of `pg_namespace` in the query.
macro_rules! user_namespace {
    ($n:literal) => {
        concat!(
            " ",
            $n,
            ".nspname NOT IN ('pg_catalog', 'information_schema')",
            " AND ",
            $n,
            ".nspname NOT LIKE 'pg\\_toast%'",
            " AND ",
            $n,
            ".nspname NOT LIKE 'pg\\_temp\\_%' "
        )
    };
}

/// Objects that an extension created (`pg_depend.deptype = 'e'`) belong to the extension,
/// whose name and version are collected instead. `$catalog` is the object's catalog
/// (`pg_class`, `pg_proc`, …) and `$oid` the expression of its oid.
macro_rules! not_extension_member {
    ($catalog:literal, $oid:literal) => {
        concat!(
            " NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep",
            " WHERE dep.classid = 'pg_catalog.",
            $catalog,
            "'::pg_catalog.regclass",
            " AND dep.objid = ",
            $oid,
            " AND dep.deptype = 'e') "
        )
    };
}

/// The objects filter pushed into a query: `$1` holds the include `LIKE` patterns (all names
/// when empty) and `$2` the exclude patterns. `$name` is the `schema.name` expression.
macro_rules! objects_filter {
    ($name:literal) => {
        concat!(
            " (pg_catalog.cardinality($1::text[]) = 0 OR ",
            $name,
            " LIKE ANY ($1::text[]))",
            " AND NOT (",
            $name,
            " LIKE ANY ($2::text[])) "
        )
    };
}

/// The relations collected (tables, partitioned and foreign tables, views, materialized views,
/// sequences), for a query where `c` is `pg_class` and `n` its `pg_namespace`.
macro_rules! collected_relation {
    () => {
        concat!(
            " c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND",
            user_namespace!("n"),
            "AND",
            not_extension_member!("pg_class", "c.oid"),
            "AND",
            objects_filter!("(n.nspname || '.' || c.relname)")
        )
    };
}
