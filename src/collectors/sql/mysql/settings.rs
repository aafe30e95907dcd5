//! Server settings: flavour, version and the global variables that change behaviour, from one
//! `SHOW GLOBAL VARIABLES`.

use super::session::{text_or_empty, Session};
use crate::collectors::CollectError;
use crate::glob::{NameFilter, NameGlob};
use crate::snapshot::Node;

/// Variables compared when the config names none: those that change query results, DDL or
/// data semantics. Sizing knobs (buffer pools, caches, thread counts) legitimately differ
/// between a small staging server and production and are left out.
const DEFAULT_INCLUDE: &[&str] = &[
    "sql_mode",
    "time_zone",
    "system_time_zone",
    "character_set_*",
    "collation_*",
    "innodb_*",
    "default_storage_engine",
    "default_tmp_storage_engine",
    "lower_case_table_names",
    "explicit_defaults_for_timestamp",
    "transaction_isolation",
    "tx_isolation",
    "autocommit",
    "max_allowed_packet",
    "group_concat_max_len",
    "sql_require_primary_key",
    "foreign_key_checks",
    "unique_checks",
    "event_scheduler",
    "log_bin_trust_function_creators",
    "binlog_format",
    "div_precision_increment",
    "default_week_format",
    "auto_increment_increment",
    "auto_increment_offset",
    "block_encryption_mode",
    "require_secure_transport",
    "local_infile",
    "default_authentication_plugin",
    "sql_auto_is_null",
    "updatable_views_with_limit",
];

/// Never compared: per-host identity, file locations, replication positions and sizing.
const NOISE: &[&str] = &[
    "hostname",
    "port",
    "socket",
    "pid_file",
    "server_id",
    "server_uuid",
    "*gtid*",
    "*_dir",
    "*_file",
    "*_path",
    "*_file_path",
    "report_*",
    "wsrep_node_*",
    "timestamp",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "innodb_buffer_pool_*",
    "innodb_log_file_size",
    "innodb_log_buffer_size",
    "innodb_log_files_in_group",
    "innodb_redo_log_capacity",
    "innodb_io_capacity*",
    "innodb_*_io_threads",
    "innodb_page_cleaners",
    "innodb_thread_concurrency",
    "innodb_version",
    "innodb_data_file_path",
    "innodb_temp_data_file_path",
    "innodb_data_home_dir",
];

/// Whether a variable is compared: the config's include list (or [`DEFAULT_INCLUDE`]), minus
/// the config's excludes and [`NOISE`].
pub fn selected(name: &str, filter: &NameFilter) -> bool {
    let included = if filter.include.is_empty() {
        DEFAULT_INCLUDE
            .iter()
            .any(|g| NameGlob::new(g).matches(name))
    } else {
        filter.include.iter().any(|g| g.matches(name))
    };
    included
        && !filter.exclude.iter().any(|g| g.matches(name))
        && !NOISE.iter().any(|g| NameGlob::new(g).matches(name))
}

/// `settings/`: `flavor`, `version` (`x.y.z`) and the selected variables by name.
pub async fn settings(session: &mut Session, filter: &NameFilter) -> Result<Node, CollectError> {
    let rows = session
        .fetch(
            "reading global variables",
            "SHOW GLOBAL VARIABLES".to_string(),
            &[],
        )
        .await?;
    let target = session.target.clone();
    let mut node = Node::map();
    for row in &rows {
        let name = text_or_empty(row, "Variable_name", &target)?.to_ascii_lowercase();
        if selected(&name, filter) {
            node.insert(name, text_or_empty(row, "Value", &target)?);
        }
    }
    node.insert("flavor", session.flavor.name());
    node.insert("version", session.version.to_string());
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_semantics_and_drop_host_noise_and_sizing() {
        let none = NameFilter::default();
        assert!(selected("sql_mode", &none));
        assert!(selected("character_set_server", &none));
        assert!(selected("innodb_strict_mode", &none));
        assert!(!selected("innodb_buffer_pool_size", &none));
        assert!(!selected("hostname", &none));
        assert!(!selected("gtid_executed", &none));
        assert!(!selected("character_sets_dir", &none));
        assert!(!selected("max_connections", &none));
        let all = NameFilter::new(&["*".into()], &["wait_*".into()]);
        assert!(selected("max_connections", &all));
        assert!(!selected("wait_timeout", &all));
        assert!(!selected("server_uuid", &all));
    }
}
