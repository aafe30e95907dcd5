//! The validated configuration: environments, their sources, pairs, secrets, collection knobs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::secret::Secret;
use crate::glob::NameFilter;

/// Everything `driftwarden.toml` says, validated, with paths resolved against its folder.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file itself.
    pub file: PathBuf,
    /// Rule files and folders, resolved, in load order.
    pub rules: Vec<PathBuf>,
    /// Whether the built-in default rules (known noise) apply after the user's rules.
    pub default_rules: bool,
    /// Comparisons to make.
    pub pairs: Vec<Pair>,
    /// Environments by name.
    pub environments: BTreeMap<String, Environment>,
    /// Secret detection and hashing.
    pub secrets: SecretsConfig,
    /// Collection limits.
    pub collection: CollectionConfig,
    /// Folder for local state (the HMAC key, the default store).
    pub state_dir: PathBuf,
    /// The daemon's HTTP server.
    pub server: ServerConfig,
    /// Where the daemon keeps snapshots and findings.
    pub store: StoreConfig,
    /// Where the daemon sends alerts.
    pub alerts: Vec<super::alerts::AlertSink>,
}

/// `[server]`: where the daemon listens and who may change things.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address; loopback unless configured otherwise.
    pub listen: std::net::SocketAddr,
    /// Bearer token required by mutating endpoints, when set.
    pub token: Option<Secret>,
}

impl ServerConfig {
    /// Default port: see docs/api.md for why 9977.
    pub const DEFAULT_PORT: u16 = 9977;

    /// `127.0.0.1:9977`.
    pub fn default_listen() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], Self::DEFAULT_PORT))
    }
}

/// `[store]`: the daemon's database.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://…` (default, under state_dir) or `postgres://…`.
    pub url: Secret,
    /// How long history is kept.
    pub retention: Duration,
    /// How long a replica's claim on a source outlives its last heartbeat (HA).
    pub lease: Duration,
}

/// A comparison of two environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Name used in output, rules and metrics.
    pub name: String,
    /// The reference environment (usually production).
    pub baseline: String,
    /// The environment checked against it (usually staging).
    pub candidate: String,
    /// Only these sources, when set.
    pub sources: Option<Vec<String>>,
}

/// A named deployment and what to snapshot in it.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// Sources by name.
    pub sources: BTreeMap<String, SourceConfig>,
}

/// One thing to snapshot.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Environment it belongs to.
    pub environment: String,
    /// Source name, shared with its counterparts in other environments.
    pub name: String,
    /// Whole-collection timeout.
    pub timeout: Duration,
    /// How often the daemon collects it.
    pub interval: Duration,
    /// Random delay added to each run, so sources do not all fire at once.
    pub jitter: Duration,
    /// What kind of source, with its settings.
    pub kind: SourceKind,
}

/// The collector to use and its settings.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A SQLite database file, opened read-only.
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
        /// What to read and how.
        options: SqlOptions,
    },
    /// A PostgreSQL database, read through a read-only session.
    Postgres {
        /// Connection URL (carries the password).
        url: Secret,
        /// What to read and how.
        options: SqlOptions,
    },
    /// A MySQL or MariaDB database, read through a read-only session.
    Mysql {
        /// Connection URL (carries the password).
        url: Secret,
        /// What to read and how.
        options: SqlOptions,
    },
    /// A config file.
    File {
        /// Path of the file.
        path: PathBuf,
        /// How to parse it.
        format: FileFormat,
        /// Largest file accepted.
        max_bytes: u64,
    },
    /// An HTTP endpoint returning JSON.
    Http {
        /// The URL (may carry credentials).
        url: Secret,
        /// Request headers (values may be credentials).
        headers: BTreeMap<String, Secret>,
        /// JSON pointer to the sub-document to keep.
        pointer: Option<String>,
        /// Largest body accepted.
        max_bytes: u64,
    },
    /// A program whose stdout is JSON.
    Command {
        /// Program and arguments; no shell.
        argv: Vec<String>,
        /// Working directory (the config's folder by default).
        dir: PathBuf,
        /// JSON pointer to the sub-document to keep.
        pointer: Option<String>,
        /// Largest output accepted.
        max_bytes: u64,
    },
}

impl SourceKind {
    /// The `kind` name as written in config.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Sqlite { .. } => "sqlite",
            SourceKind::Postgres { .. } => "postgres",
            SourceKind::Mysql { .. } => "mysql",
            SourceKind::File { .. } => "file",
            SourceKind::Http { .. } => "http",
            SourceKind::Command { .. } => "command",
        }
    }
}

/// Settings shared by the SQL collectors (sqlite, postgres, mysql).
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// How rows are counted.
    pub row_counts: RowCountMode,
    /// Which tables (`schema.table`) get a row count.
    pub row_counts_filter: NameFilter,
    /// In `auto` mode, tables estimated below this many rows are counted exactly.
    pub exact_below: u64,
    /// Which objects (`schema.name`) are collected at all; pushed into the catalog queries.
    pub objects: NameFilter,
    /// Which server settings are collected.
    pub settings: NameFilter,
    /// Per-statement timeout on the target.
    pub statement_timeout: Duration,
    /// How many exact counts run at once.
    pub count_concurrency: usize,
    /// Tables verified row by row (checksums with bisection), if any.
    pub checksums: Option<ChecksumSpec>,
}

/// `checksums`: tables whose rows are compared by checksum, and the limits of that work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumSpec {
    /// Tables (`schema.table`, or `table`).
    pub tables: Vec<String>,
    /// Columns left out of the checksum: `column` or `schema.table.column` globs.
    pub exclude_columns: Vec<String>,
    /// Most differing keys reported per table.
    pub max_keys: usize,
    /// Tables with more rows are "too large to verify", never "equal".
    pub max_rows: u64,
    /// Time for one table's checksum (and, at comparison, its bisection).
    pub timeout: Duration,
}

impl Default for ChecksumSpec {
    fn default() -> Self {
        ChecksumSpec {
            tables: Vec::new(),
            exclude_columns: Vec::new(),
            max_keys: 100,
            max_rows: 50_000_000,
            timeout: Duration::from_secs(300),
        }
    }
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            row_counts: RowCountMode::Auto,
            row_counts_filter: NameFilter::default(),
            exact_below: 100_000,
            objects: NameFilter::default(),
            settings: NameFilter::default(),
            statement_timeout: Duration::from_secs(30),
            count_concurrency: 4,
            checksums: None,
        }
    }
}

/// How a SQL collector counts rows (`row_counts = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowCountMode {
    /// Catalog statistics (cheap, approximate).
    Estimate,
    /// `COUNT(*)` per table.
    Exact,
    /// Exact below `row_counts_exact_below` estimated rows, estimate above.
    Auto,
    /// No row counts.
    Off,
}

impl RowCountMode {
    /// The mode named in config.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "estimate" => RowCountMode::Estimate,
            "exact" => RowCountMode::Exact,
            "auto" => RowCountMode::Auto,
            "off" => RowCountMode::Off,
            _ => return None,
        })
    }
}

/// Formats the file collector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// JSON.
    Json,
    /// YAML (first document).
    Yaml,
    /// TOML.
    Toml,
    /// `KEY=value` lines.
    Env,
    /// Java `.properties`: `a.b.c = value`, nested by dots.
    Properties,
    /// INI: `[section]` then `key = value`.
    Ini,
}

impl FileFormat {
    /// The format named by a `format =` value or a file extension.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "json" => FileFormat::Json,
            "yaml" | "yml" => FileFormat::Yaml,
            "toml" => FileFormat::Toml,
            "env" | "dotenv" => FileFormat::Env,
            "properties" => FileFormat::Properties,
            "ini" | "cfg" | "conf" => FileFormat::Ini,
            _ => return None,
        })
    }
}

/// Which leaves are secrets and how they are hashed.
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    /// Key fragments that mark a leaf secret.
    pub keys: Vec<String>,
    /// Where the per-installation HMAC key lives (created on first use).
    pub key_file: PathBuf,
}

/// Collection limits shared by all sources.
#[derive(Debug, Clone)]
pub struct CollectionConfig {
    /// Default per-source timeout.
    pub timeout: Duration,
    /// Default interval between collections (daemon).
    pub interval: Duration,
    /// Default jitter added to each interval (daemon).
    pub jitter: Duration,
    /// How many sources are collected at once.
    pub concurrency: usize,
}

impl Config {
    /// The source `name` of environment `env`.
    pub fn source(&self, env: &str, name: &str) -> Option<&SourceConfig> {
        self.environments.get(env)?.sources.get(name)
    }

    /// The pair called `name`.
    pub fn pair(&self, name: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.name == name)
    }

    /// Source names compared by `pair`: those present in both environments (and selected).
    pub fn compared_sources(&self, pair: &Pair) -> Vec<String> {
        let (Some(b), Some(c)) = (
            self.environments.get(&pair.baseline),
            self.environments.get(&pair.candidate),
        ) else {
            return Vec::new();
        };
        b.sources
            .keys()
            .filter(|name| c.sources.contains_key(*name))
            .filter(|name| pair.sources.as_ref().is_none_or(|only| only.contains(name)))
            .cloned()
            .collect()
    }

    /// Source names that exist in only one environment of `pair` (not compared; reported).
    pub fn unmatched_sources(&self, pair: &Pair) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let (Some(b), Some(c)) = (
            self.environments.get(&pair.baseline),
            self.environments.get(&pair.candidate),
        ) else {
            return out;
        };
        for name in b.sources.keys().filter(|n| !c.sources.contains_key(*n)) {
            out.push((name.clone(), pair.baseline.clone()));
        }
        for name in c.sources.keys().filter(|n| !b.sources.contains_key(*n)) {
            out.push((name.clone(), pair.candidate.clone()));
        }
        out.retain(|(name, _)| pair.sources.as_ref().is_none_or(|only| only.contains(name)));
        out
    }
}
