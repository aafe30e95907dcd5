//! SQL collectors. Every engine emits the same subtree shape (see docs/architecture.md).

pub mod migrations;
pub mod mysql;
pub mod postgres;
pub mod sqlite;
pub mod sqlite_ddl;
