//! Server settings (one query on `pg_settings`) and the server version.
//!
//! Left out: settings our own session sets (they describe the auditor's connection, not the
//! server), values that name a host, a path or a port of one machine, and the raw version
//! strings (`server_version` is reported once, as `major.minor`).

use tracing::debug;

use sqlx::postgres::PgRow;

use super::session::get;
use crate::collectors::CollectError;
use crate::glob::NameFilter;
use crate::snapshot::Node;

/// Values set by a client for its own session at connect time (including ours) are left out;
/// for values our transaction changed with `SET LOCAL` (`jit`, `work_mem`), `reset_val` is the
/// server's (or the database's, or the role's) own value, which is what drift is about.
pub const SETTINGS: &str = "SELECT name::text AS name, \
                        CASE WHEN source = 'session' THEN reset_val ELSE setting END AS setting, \
                        unit FROM pg_catalog.pg_settings \
                        WHERE source NOT IN ('client', 'interactive')";

/// Settings that differ between any two hosts or sessions and say nothing about drift.
const PER_HOST_OR_SESSION: &[&str] = &[
    // Set by the collector's own session.
    "application_name",
    "default_transaction_read_only",
    "transaction_read_only",
    "transaction_isolation",
    "transaction_deferrable",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "search_path",
    "is_superuser",
    "session_authorization",
    "role",
    "in_hot_standby",
    // Where this host keeps its files, and how it is reached.
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "external_pid_file",
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "unix_socket_group",
    "cluster_name",
    "ssl_cert_file",
    "ssl_key_file",
    "ssl_ca_file",
    "ssl_crl_file",
    "ssl_crl_dir",
    "krb_server_keyfile",
    "log_directory",
    "data_directory_mode",
    // Reported once as `server_version`.
    "server_version",
    "server_version_num",
];

/// `150020` → `15.20`; `90624` → `9.6.24` (before 10 the major version had two parts).
pub fn version_from_num(num: i64) -> String {
    if num >= 100_000 {
        format!("{}.{}", num / 10_000, num % 10_000)
    } else {
        format!("{}.{}.{}", num / 10_000, (num / 100) % 100, num % 100)
    }
}

/// A value as `SHOW` would print its magnitude: the setting with its unit; 8 kB blocks are
/// converted to kB so the unit reads as one.
fn with_unit(setting: &str, unit: Option<&str>) -> String {
    match unit {
        None | Some("") => setting.to_string(),
        Some("8kB") => match setting.parse::<i64>() {
            Ok(blocks) if blocks >= 0 => format!("{}kB", blocks * 8),
            _ => setting.to_string(),
        },
        Some(unit) => match setting.parse::<f64>() {
            Ok(value) if value >= 0.0 => format!("{setting}{unit}"),
            _ => setting.to_string(),
        },
    }
}

/// Reads settings allowed by `filter` into `settings/<name>`, plus `settings/server_version`.
pub fn apply(rows: &[PgRow], filter: &NameFilter, target: &str) -> Result<Node, CollectError> {
    let mut node = Node::map();
    for row in rows {
        let name: String = get(row, "name", target)?;
        let setting: Option<String> = get(row, "setting", target)?;
        if name == "server_version_num" {
            let num = setting.as_deref().and_then(|s| s.parse::<i64>().ok());
            if let Some(num) = num.filter(|_| filter.allows("server_version")) {
                node.insert("server_version", version_from_num(num));
            }
            continue;
        }
        if PER_HOST_OR_SESSION.contains(&name.as_str()) || !filter.allows(&name) {
            continue;
        }
        let unit: Option<String> = get(row, "unit", target)?;
        node.insert(name, setting.map(|s| with_unit(&s, unit.as_deref())));
    }
    debug!(settings = rows.len(), "Read settings.");
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_major_minor() {
        assert_eq!(version_from_num(150_020), "15.20");
        assert_eq!(version_from_num(170_000), "17.0");
        assert_eq!(version_from_num(90_624), "9.6.24");
    }

    #[test]
    fn units_are_attached_and_blocks_become_kilobytes() {
        assert_eq!(with_unit("16384", Some("8kB")), "131072kB");
        assert_eq!(with_unit("1024", Some("MB")), "1024MB");
        assert_eq!(with_unit("-1", Some("ms")), "-1");
        assert_eq!(with_unit("on", None), "on");
    }
}
