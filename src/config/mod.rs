//! What to audit: environments, sources, pairs, secrets, collection limits.
//!
//! `load` reads `driftwarden.toml`, interpolates `${VAR}`, parses with `deny_unknown_fields`,
//! reads `*_file` secrets and validates cross-references. Every error names file, line, column.

pub mod alerts;
pub mod error;
pub mod hmac_key;
pub mod interpolate;
pub mod model;
pub mod read;
pub mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use error::ConfigError;
pub use model::*;
pub use secret::Secret;

use crate::glob::NameFilter;
use crate::snapshot::redact::DEFAULT_SECRET_KEYS;

/// Default store lease: a dead replica's sources are taken over within about 1.5× this.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Default largest config file, HTTP body or command output accepted (16 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    rules: Option<Vec<Spanned<String>>>,
    #[serde(default = "yes")]
    default_rules: bool,
    #[serde(default)]
    pairs: Vec<RawPair>,
    #[serde(default)]
    environments: BTreeMap<String, Spanned<RawEnvironment>>,
    #[serde(default)]
    secrets: RawSecrets,
    #[serde(default)]
    collection: RawCollection,
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    alerts: Vec<alerts::RawAlert>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<Spanned<String>>,
    url_file: Option<Spanned<String>>,
    retention: Option<Spanned<String>>,
    lease: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    name: Spanned<String>,
    baseline: Spanned<String>,
    candidate: Spanned<String>,
    #[serde(default)]
    sources: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    #[serde(default)]
    sources: BTreeMap<String, Spanned<RawSource>>,
}

/// Every key any kind accepts; `validate_source` rejects the ones a kind does not use.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: Spanned<String>,
    url: Option<Spanned<String>>,
    url_file: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    headers: Option<Spanned<BTreeMap<String, String>>>,
    header_files: Option<Spanned<BTreeMap<String, String>>>,
    pointer: Option<Spanned<String>>,
    argv: Option<Spanned<Vec<String>>>,
    dir: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    max_bytes: Option<Spanned<u64>>,
    row_counts: Option<Spanned<String>>,
    row_counts_include: Option<Spanned<Vec<String>>>,
    row_counts_exclude: Option<Spanned<Vec<String>>>,
    row_counts_exact_below: Option<Spanned<u64>>,
    include: Option<Spanned<Vec<String>>>,
    exclude: Option<Spanned<Vec<String>>>,
    settings_include: Option<Spanned<Vec<String>>>,
    settings_exclude: Option<Spanned<Vec<String>>>,
    statement_timeout: Option<Spanned<String>>,
    count_concurrency: Option<Spanned<usize>>,
    checksums: Option<Spanned<RawChecksums>>,
}

/// `[environments.E.sources.S.checksums]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecksums {
    tables: Vec<String>,
    #[serde(default)]
    exclude_columns: Vec<String>,
    max_keys: Option<usize>,
    max_rows: Option<u64>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSecrets {
    keys: Option<Vec<String>>,
    #[serde(default)]
    extra_keys: Vec<String>,
    key_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    timeout: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    concurrency: Option<Spanned<usize>>,
}

/// Kinds this build can collect; the message for an unknown kind lists them.
pub const SOURCE_KINDS: &[&str] = &["sqlite", "postgres", "mysql", "file", "http", "command"];

/// Keys every SQL kind accepts besides its location.
const SQL_KEYS: &[&str] = &[
    "row_counts",
    "row_counts_include",
    "row_counts_exclude",
    "row_counts_exact_below",
    "include",
    "exclude",
    "settings_include",
    "settings_exclude",
    "statement_timeout",
    "count_concurrency",
    "checksums",
];

/// Reads and validates a config file, taking `${VAR}` values from the process environment.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    load_with_env(file, &|name| std::env::var(name).ok())
}

/// [`load`] with an explicit variable lookup (for tests).
pub fn load_with_env(
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let raw_text = read::read_text(file, read::MAX_CONFIG_BYTES).map_err(|e| {
        e.into_config_error(
            file,
            "cannot read config file",
            "pass the path of your driftwarden.toml with --config",
        )
    })?;
    let text = interpolate::interpolate(&raw_text, env).map_err(|e| {
        ConfigError::at(
            file,
            &raw_text,
            Some(e.offset..e.offset),
            e.message,
            Some(e.hint),
        )
    })?;
    // Interpolation never adds newlines, so spans in `text` map to the right line; messages
    // quote only our own words, never the interpolated values.
    let raw: RawConfig =
        toml::from_str(&text).map_err(|e| ConfigError::from_toml(file, &text, &e))?;
    Validator {
        file,
        text: &text,
        dir: file.parent().unwrap_or(Path::new(".")),
    }
    .config(raw)
}

struct Validator<'a> {
    file: &'a Path,
    text: &'a str,
    dir: &'a Path,
}

impl Validator<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::at(
            self.file,
            self.text,
            Some(span),
            message,
            Some(hint.into()),
        ))
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    fn duration(&self, value: &Spanned<String>) -> Result<Duration, ConfigError> {
        match humantime::parse_duration(value.get_ref()) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => self.err(
                value.span(),
                format!("invalid duration {:?}", value.get_ref()),
                "write a duration such as \"30s\", \"5m\" or \"1h\"",
            ),
        }
    }

    fn read_secret_file(&self, value: &Spanned<String>) -> Result<String, ConfigError> {
        let path = self.resolve(value.get_ref());
        match read::read_text(&path, read::MAX_SECRET_BYTES) {
            Ok(text) => Ok(text.trim_end_matches(['\n', '\r']).to_string()),
            Err(e) => self.err(
                value.span(),
                format!("cannot read secret file {}: {e}", path.display()),
                "the path is relative to the config file's folder; check it exists and is readable",
            ),
        }
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let collection = CollectionConfig {
            timeout: match &raw.collection.timeout {
                Some(t) => self.duration(t)?,
                None => Duration::from_secs(60),
            },
            interval: match &raw.collection.interval {
                Some(t) => self.duration(t)?,
                None => Duration::from_secs(300),
            },
            jitter: match &raw.collection.jitter {
                Some(t) => self.duration_or_zero(t)?,
                None => Duration::from_secs(15),
            },
            concurrency: match &raw.collection.concurrency {
                Some(c) if *c.get_ref() == 0 => {
                    return self.err(
                        c.span(),
                        "concurrency must be at least 1",
                        "use 1 to collect one source at a time",
                    )
                }
                Some(c) => *c.get_ref(),
                None => 8,
            },
        };
        let mut environments = BTreeMap::new();
        for (env_name, env) in raw.environments {
            let env_span = env.span();
            let mut sources = BTreeMap::new();
            for (name, source) in env.into_inner().sources {
                if name.is_empty() || name.contains('/') {
                    return self.err(
                        env_span,
                        format!("invalid source name {name:?}"),
                        "source names are non-empty and contain no `/`",
                    );
                }
                let validated = self.source(&env_name, &name, source, &collection)?;
                sources.insert(name, validated);
            }
            environments.insert(
                env_name.clone(),
                Environment {
                    name: env_name,
                    sources,
                },
            );
        }
        let mut pairs: Vec<Pair> = Vec::new();
        for pair in raw.pairs {
            if pairs.iter().any(|p| &p.name == pair.name.get_ref()) {
                return self.err(
                    pair.name.span(),
                    format!("pair {:?} is defined twice", pair.name.get_ref()),
                    "give each [[pairs]] entry its own name",
                );
            }
            for side in [&pair.baseline, &pair.candidate] {
                if !environments.contains_key(side.get_ref()) {
                    let known: Vec<&str> = environments.keys().map(String::as_str).collect();
                    return self.err(
                        side.span(),
                        format!(
                            "pair {:?} names unknown environment {:?}",
                            pair.name.get_ref(),
                            side.get_ref()
                        ),
                        format!(
                            "define [environments.{}] or use one of: {}",
                            side.get_ref(),
                            known.join(", ")
                        ),
                    );
                }
            }
            if pair.baseline.get_ref() == pair.candidate.get_ref() {
                return self.err(
                    pair.candidate.span(),
                    "a pair compares two different environments",
                    "set baseline and candidate to different environments",
                );
            }
            let sources = match pair.sources {
                Some(list) => {
                    let mut names = Vec::new();
                    for s in list {
                        let known = [pair.baseline.get_ref(), pair.candidate.get_ref()]
                            .iter()
                            .any(|env| {
                                environments
                                    .get(*env)
                                    .is_some_and(|e| e.sources.contains_key(s.get_ref()))
                            });
                        if !known {
                            return self.err(
                                s.span(),
                                format!(
                                    "pair {:?} selects unknown source {:?}",
                                    pair.name.get_ref(),
                                    s.get_ref()
                                ),
                                "list source names defined under the pair's environments",
                            );
                        }
                        names.push(s.into_inner());
                    }
                    Some(names)
                }
                None => None,
            };
            pairs.push(Pair {
                name: pair.name.into_inner(),
                baseline: pair.baseline.into_inner(),
                candidate: pair.candidate.into_inner(),
                sources,
            });
        }
        let rules = match raw.rules {
            Some(list) => list.iter().map(|r| self.resolve(r.get_ref())).collect(),
            // The default folder is optional; a folder the user names must exist.
            None => Some(self.resolve("rules"))
                .filter(|p| p.exists())
                .into_iter()
                .collect(),
        };
        let state_dir = self.resolve(raw.state_dir.as_deref().unwrap_or(".driftwarden"));
        let mut keys: Vec<String> = match raw.secrets.keys {
            Some(keys) => keys,
            None => DEFAULT_SECRET_KEYS.iter().map(|s| s.to_string()).collect(),
        };
        keys.extend(raw.secrets.extra_keys);
        let key_file = match raw.secrets.key_file {
            Some(p) => self.resolve(&p),
            None => state_dir.join("hmac.key"),
        };
        let server = self.server(&raw.server)?;
        let store = self.store(&raw.store, &state_dir)?;
        let alerts = self.alerts(&raw.alerts)?;
        Ok(Config {
            server,
            store,
            alerts,
            file: self.file.to_path_buf(),
            rules,
            default_rules: raw.default_rules,
            pairs,
            environments,
            secrets: SecretsConfig { keys, key_file },
            collection,
            state_dir,
        })
    }

    fn source(
        &self,
        env: &str,
        name: &str,
        raw: Spanned<RawSource>,
        collection: &CollectionConfig,
    ) -> Result<SourceConfig, ConfigError> {
        let default_timeout = collection.timeout;
        let span = raw.span();
        let raw = raw.into_inner();
        // Aliases people write for the same engines.
        let kind_name = match raw.kind.get_ref().as_str() {
            "postgresql" => "postgres",
            "mariadb" => "mysql",
            other => other,
        };
        if !SOURCE_KINDS.contains(&kind_name) {
            return self.err(
                raw.kind.span(),
                format!("unknown source kind {kind_name:?}"),
                format!("use one of: {}", SOURCE_KINDS.join(", ")),
            );
        }
        // Reject keys the kind does not use, so a typo'd or misplaced key is never ignored.
        let mut allowed: Vec<&str> = match kind_name {
            "sqlite" => vec!["url", "url_file", "path"],
            "postgres" | "mysql" => vec!["url", "url_file"],
            "file" => vec!["path", "format", "max_bytes"],
            "http" => vec![
                "url",
                "url_file",
                "headers",
                "header_files",
                "pointer",
                "max_bytes",
            ],
            _ => vec!["argv", "dir", "pointer", "max_bytes"],
        };
        if matches!(kind_name, "sqlite" | "postgres" | "mysql") {
            allowed.extend_from_slice(SQL_KEYS);
        }
        let present: Vec<(&str, Option<std::ops::Range<usize>>)> = vec![
            ("url", raw.url.as_ref().map(Spanned::span)),
            ("url_file", raw.url_file.as_ref().map(Spanned::span)),
            ("path", raw.path.as_ref().map(Spanned::span)),
            ("format", raw.format.as_ref().map(Spanned::span)),
            ("headers", raw.headers.as_ref().map(Spanned::span)),
            ("header_files", raw.header_files.as_ref().map(Spanned::span)),
            ("pointer", raw.pointer.as_ref().map(Spanned::span)),
            ("argv", raw.argv.as_ref().map(Spanned::span)),
            ("dir", raw.dir.as_ref().map(Spanned::span)),
            ("max_bytes", raw.max_bytes.as_ref().map(Spanned::span)),
            ("row_counts", raw.row_counts.as_ref().map(Spanned::span)),
            (
                "row_counts_include",
                raw.row_counts_include.as_ref().map(Spanned::span),
            ),
            (
                "row_counts_exclude",
                raw.row_counts_exclude.as_ref().map(Spanned::span),
            ),
            (
                "row_counts_exact_below",
                raw.row_counts_exact_below.as_ref().map(Spanned::span),
            ),
            ("include", raw.include.as_ref().map(Spanned::span)),
            ("exclude", raw.exclude.as_ref().map(Spanned::span)),
            (
                "settings_include",
                raw.settings_include.as_ref().map(Spanned::span),
            ),
            (
                "settings_exclude",
                raw.settings_exclude.as_ref().map(Spanned::span),
            ),
            (
                "statement_timeout",
                raw.statement_timeout.as_ref().map(Spanned::span),
            ),
            (
                "count_concurrency",
                raw.count_concurrency.as_ref().map(Spanned::span),
            ),
            ("checksums", raw.checksums.as_ref().map(Spanned::span)),
        ];
        for (key, key_span) in present {
            if let Some(key_span) = key_span {
                if !allowed.contains(&key) {
                    return self.err(
                        key_span,
                        format!("`{key}` is not a setting of kind {kind_name:?}"),
                        format!(
                            "kind {kind_name:?} takes: {}, timeout, interval, jitter",
                            allowed.join(", ")
                        ),
                    );
                }
            }
        }
        let timeout = match &raw.timeout {
            Some(t) => self.duration(t)?,
            None => default_timeout,
        };
        let url = match (&raw.url, &raw.url_file) {
            (Some(_), Some(f)) => {
                return self.err(
                    f.span(),
                    "set `url` or `url_file`, not both",
                    "keep the one that holds the URL",
                )
            }
            (Some(u), None) => Some(u.get_ref().clone()),
            (None, Some(f)) => Some(self.read_secret_file(f)?),
            (None, None) => None,
        };
        let max_bytes = raw
            .max_bytes
            .as_ref()
            .map_or(DEFAULT_MAX_BYTES, |m| *m.get_ref());
        let pointer = raw.pointer.as_ref().map(|p| p.get_ref().clone());
        let kind = match kind_name {
            "sqlite" => {
                let path = match (url, &raw.path) {
                    (Some(_), Some(p)) => return self.err(p.span(), "set `url` or `path`, not both", "keep one"),
                    (Some(u), None) => match sqlite_url_path(&u) {
                        Some(p) => self.resolve(p),
                        None => return self.err(span, format!("invalid SQLite URL {:?}", crate::snapshot::redact::mask_for_log(&u)), "write url = \"sqlite://path/to/file.db\" (relative to this config file)"),
                    },
                    (None, Some(p)) => self.resolve(p.get_ref()),
                    (None, None) => return self.err(span, format!("source {env}.{name} needs `url` or `path`"), "add url = \"sqlite://data/app.db\""),
                };
                SourceKind::Sqlite {
                    path,
                    options: self.sql_options(&raw)?,
                }
            }
            "postgres" | "mysql" => {
                let scheme_ok = |u: &str| match kind_name {
                    "postgres" => u.starts_with("postgres://") || u.starts_with("postgresql://"),
                    _ => u.starts_with("mysql://") || u.starts_with("mariadb://"),
                };
                let example = if kind_name == "postgres" {
                    "url = \"postgres://user:${PGPASSWORD}@host:5432/app\""
                } else {
                    "url = \"mysql://user:${MYSQL_PASSWORD}@host:3306/app\""
                };
                let Some(url) = url else {
                    return self.err(
                        span,
                        format!("source {env}.{name} needs `url`"),
                        format!("add {example}"),
                    );
                };
                if !scheme_ok(&url) {
                    let at = raw.url.as_ref().map_or(span.clone(), Spanned::span);
                    return self.err(
                        at,
                        format!("a {kind_name} source's URL must use the {kind_name}:// scheme"),
                        format!("write {example}"),
                    );
                }
                // sqlx only knows mysql://; MariaDB users often write mariadb://.
                let url = match url.strip_prefix("mariadb://") {
                    Some(rest) => format!("mysql://{rest}"),
                    None => url,
                };
                let options = self.sql_options(&raw)?;
                if kind_name == "postgres" {
                    SourceKind::Postgres {
                        url: Secret::new(url),
                        options,
                    }
                } else {
                    SourceKind::Mysql {
                        url: Secret::new(url),
                        options,
                    }
                }
            }
            "file" => {
                let Some(path) = &raw.path else {
                    return self.err(
                        span,
                        format!("source {env}.{name} needs `path`"),
                        "add path = \"config/app.yaml\"",
                    );
                };
                let format =
                    match &raw.format {
                        Some(f) => match FileFormat::from_name(f.get_ref()) {
                            Some(format) => format,
                            None => {
                                return self.err(
                                    f.span(),
                                    format!("unknown file format {:?}", f.get_ref()),
                                    "use json, yaml, toml, env, properties or ini",
                                )
                            }
                        },
                        None => {
                            let p = Path::new(path.get_ref());
                            let by_name = p
                                .file_name()
                                .and_then(|n| n.to_str())
                                .filter(|n| n.starts_with(".env"))
                                .map(|_| FileFormat::Env);
                            match by_name.or_else(|| {
                                p.extension()
                                    .and_then(|e| e.to_str())
                                    .and_then(FileFormat::from_name)
                            }) {
                                Some(format) => format,
                                None => return self.err(
                                    path.span(),
                                    format!(
                                        "cannot tell the format of {:?} from its name",
                                        path.get_ref()
                                    ),
                                    "add format = \"yaml\" (or json, toml, env, properties, ini)",
                                ),
                            }
                        }
                    };
                SourceKind::File {
                    path: self.resolve(path.get_ref()),
                    format,
                    max_bytes,
                }
            }
            "http" => {
                let Some(url) = url else {
                    return self.err(
                        span,
                        format!("source {env}.{name} needs `url`"),
                        "add url = \"https://app.example.com/version\"",
                    );
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return self.err(
                        raw.url.as_ref().map_or(span.clone(), Spanned::span),
                        "an http source's URL starts with http:// or https://",
                        "write the full URL",
                    );
                }
                let mut headers: BTreeMap<String, Secret> = BTreeMap::new();
                if let Some(h) = raw.headers {
                    headers.extend(h.into_inner().into_iter().map(|(k, v)| (k, Secret::new(v))));
                }
                if let Some(files) = &raw.header_files {
                    for (k, v) in files.get_ref() {
                        let value =
                            self.read_secret_file(&Spanned::new(files.span(), v.clone()))?;
                        headers.insert(k.clone(), Secret::new(value));
                    }
                }
                SourceKind::Http {
                    url: Secret::new(url),
                    headers,
                    pointer,
                    max_bytes,
                }
            }
            _ => {
                let argv = match raw.argv {
                    Some(a) if !a.get_ref().is_empty() && !a.get_ref()[0].is_empty() => a.into_inner(),
                    Some(a) => return self.err(a.span(), "argv is empty", "write argv = [\"program\", \"arg\", …]"),
                    None => return self.err(span, format!("source {env}.{name} needs `argv`"), "add argv = [\"kubectl\", \"get\", \"configmap\", \"app\", \"-o\", \"json\"]"),
                };
                let dir = raw
                    .dir
                    .as_ref()
                    .map_or_else(|| self.dir.to_path_buf(), |d| self.resolve(d.get_ref()));
                SourceKind::Command {
                    argv,
                    dir,
                    pointer,
                    max_bytes,
                }
            }
        };
        let interval = match &raw.interval {
            Some(t) => self.duration(t)?,
            None => collection.interval,
        };
        let jitter = match &raw.jitter {
            Some(t) => self.duration_or_zero(t)?,
            None => collection.jitter,
        };
        Ok(SourceConfig {
            environment: env.to_string(),
            name: name.to_string(),
            timeout,
            interval,
            jitter,
            kind,
        })
    }
}

impl Validator<'_> {
    fn duration_or_zero(&self, value: &Spanned<String>) -> Result<Duration, ConfigError> {
        match value.get_ref().trim() {
            "0" | "0s" => Ok(Duration::ZERO),
            _ => self.duration(value),
        }
    }

    fn server(&self, raw: &RawServer) -> Result<ServerConfig, ConfigError> {
        let listen = match &raw.listen {
            Some(l) => match l.get_ref().parse::<std::net::SocketAddr>() {
                Ok(addr) => addr,
                Err(_) => return self.err(
                    l.span(),
                    format!("invalid listen address {:?}", l.get_ref()),
                    "write host:port, e.g. \"127.0.0.1:9977\" (use 0.0.0.0 only behind a firewall)",
                ),
            },
            None => ServerConfig::default_listen(),
        };
        let token = match (&raw.token, &raw.token_file) {
            (Some(_), Some(f)) => {
                return self.err(
                    f.span(),
                    "set `token` or `token_file`, not both",
                    "keep one",
                )
            }
            (Some(t), None) if t.get_ref().is_empty() => {
                return self.err(
                    t.span(),
                    "the token is empty",
                    "set a long random token, or remove the key",
                )
            }
            (Some(t), None) => Some(Secret::new(t.get_ref().clone())),
            (None, Some(f)) => Some(Secret::new(self.read_secret_file(f)?)),
            (None, None) => None,
        };
        Ok(ServerConfig { listen, token })
    }

    fn store(&self, raw: &RawStore, state_dir: &Path) -> Result<StoreConfig, ConfigError> {
        let url = match (&raw.url, &raw.url_file) {
            (Some(_), Some(f)) => {
                return self.err(f.span(), "set `url` or `url_file`, not both", "keep one")
            }
            (Some(u), None) => u.get_ref().clone(),
            (None, Some(f)) => self.read_secret_file(f)?,
            // state_dir is resolved already: resolving it again would nest it twice.
            (None, None) => format!("sqlite://{}", state_dir.join("store.db").display()),
        };
        // A relative SQLite store path is relative to the config file, like every other path.
        let url = match url.strip_prefix("sqlite://") {
            Some(path) if raw.url.is_some() || raw.url_file.is_some() => {
                format!("sqlite://{}", self.resolve(path).display())
            }
            _ => url,
        };
        if !(url.starts_with("sqlite://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            let at = raw.url.as_ref().map(Spanned::span);
            return Err(ConfigError::at(
                self.file,
                self.text,
                at,
                "the store URL must start with sqlite:// or postgres://",
                Some("e.g. url = \"sqlite://.driftwarden/store.db\"".into()),
            ));
        }
        let retention = match &raw.retention {
            Some(r) => self.duration(r)?,
            None => Duration::from_secs(30 * 24 * 3600),
        };
        let lease = match &raw.lease {
            Some(l) => self.duration(l)?,
            None => DEFAULT_LEASE,
        };
        Ok(StoreConfig {
            url: Secret::new(url),
            retention,
            lease,
        })
    }

    fn sql_options(&self, raw: &RawSource) -> Result<SqlOptions, ConfigError> {
        let mut options = SqlOptions::default();
        if let Some(mode) = &raw.row_counts {
            options.row_counts = match RowCountMode::from_name(mode.get_ref()) {
                Some(m) => m,
                None => {
                    return self.err(
                        mode.span(),
                        format!("unknown row_counts mode {:?}", mode.get_ref()),
                        "use estimate, exact, auto or off",
                    )
                }
            };
        }
        let list = |v: &Option<Spanned<Vec<String>>>| {
            v.as_ref().map(|l| l.get_ref().clone()).unwrap_or_default()
        };
        options.row_counts_filter = NameFilter::new(
            &list(&raw.row_counts_include),
            &list(&raw.row_counts_exclude),
        );
        options.objects = NameFilter::new(&list(&raw.include), &list(&raw.exclude));
        options.settings =
            NameFilter::new(&list(&raw.settings_include), &list(&raw.settings_exclude));
        if let Some(n) = &raw.row_counts_exact_below {
            options.exact_below = *n.get_ref();
        }
        if let Some(t) = &raw.statement_timeout {
            options.statement_timeout = self.duration(t)?;
        }
        if let Some(c) = &raw.count_concurrency {
            if *c.get_ref() == 0 {
                return self.err(
                    c.span(),
                    "count_concurrency must be at least 1",
                    "use 1 to count one table at a time",
                );
            }
            options.count_concurrency = *c.get_ref();
        }
        if let Some(raw) = &raw.checksums {
            options.checksums = Some(self.checksums(raw)?);
        }
        Ok(options)
    }

    fn checksums(&self, raw: &Spanned<RawChecksums>) -> Result<ChecksumSpec, ConfigError> {
        let span = raw.span();
        let raw = raw.get_ref();
        let mut spec = ChecksumSpec::default();
        for table in &raw.tables {
            let parts: Vec<&str> = table.split('.').collect();
            if table.trim().is_empty() || parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
                return self.err(
                    span,
                    format!("checksums: {table:?} is not a table name"),
                    "write \"schema.table\" (or \"table\" for SQLite and MySQL's database)",
                );
            }
        }
        if raw.tables.is_empty() {
            return self.err(
                span,
                "checksums: `tables` is empty",
                "list the tables to verify row by row, e.g. tables = [\"public.countries\"]",
            );
        }
        spec.tables = raw.tables.clone();
        spec.exclude_columns = raw.exclude_columns.clone();
        if let Some(n) = raw.max_keys {
            spec.max_keys = n;
        }
        if let Some(n) = raw.max_rows {
            if n == 0 {
                return self.err(span, "checksums: max_rows must be at least 1", "raise it");
            }
            spec.max_rows = n;
        }
        if let Some(t) = &raw.timeout {
            spec.timeout = self.duration(t)?;
        }
        Ok(spec)
    }
}

/// The file path of a `sqlite://` (or `sqlite:`) URL, without query parameters.
fn sqlite_url_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests;
