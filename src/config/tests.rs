use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn no_env(_: &str) -> Option<String> {
    None
}

const GOOD: &str = r#"
rules = ["rules"]
[[pairs]]
name = "staging-vs-production"
baseline = "production"
candidate = "staging"

[environments.production.sources.appdb]
kind = "sqlite"
url = "sqlite://data/production.db"
[environments.production.sources.app-config]
kind = "file"
path = "config/production.yaml"

[environments.staging.sources.appdb]
kind = "sqlite"
path = "data/staging.db"
timeout = "5s"
[environments.staging.sources.app-config]
kind = "file"
path = "config/staging.conf"
format = "yaml"
"#;

#[test]
fn good_config_resolves_paths_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "driftwarden.toml", GOOD);
    let config = load_with_env(&file, &no_env).unwrap();
    let prod = config.source("production", "appdb").unwrap();
    assert!(
        matches!(&prod.kind, SourceKind::Sqlite { path, .. } if path == &dir.path().join("data/production.db"))
    );
    let staging = config.source("staging", "appdb").unwrap();
    assert_eq!(staging.timeout, Duration::from_secs(5));
    assert!(matches!(
        config.source("staging", "app-config").unwrap().kind,
        SourceKind::File {
            format: FileFormat::Yaml,
            ..
        }
    ));
    let pair = config.pair("staging-vs-production").unwrap();
    assert_eq!(config.compared_sources(pair), ["app-config", "appdb"]);
    assert_eq!(config.rules, [dir.path().join("rules")]);
}

fn error_of(text: &str) -> ConfigError {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "driftwarden.toml", text);
    load_with_env(&file, &no_env).unwrap_err()
}

#[test]
fn pair_with_unknown_environment_points_at_the_name() {
    let text = GOOD.replace("candidate = \"staging\"", "candidate = \"stagign\"");
    let err = error_of(&text);
    assert_eq!((err.line, err.column), (Some(6), Some(13)));
    assert!(
        err.message.contains("unknown environment \"stagign\""),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with(&format!("{}:6:13:", err.file.display())));
}

#[test]
fn invalid_toml_and_unknown_keys_are_located() {
    let err = error_of("rules = [\"rules\"\n[[pairs]]\n");
    assert!(err.line.is_some(), "{err}");
    let err = error_of(
        "[environments.prod.sources.db]\nkind = \"sqlite\"\npath = \"x.db\"\npaht = \"y\"\n",
    );
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.contains("paht"), "{err}");
}

#[test]
fn keys_of_another_kind_are_rejected() {
    let err = error_of(
        "[environments.prod.sources.db]\nkind = \"sqlite\"\npath = \"x.db\"\nargv = [\"ls\"]\n",
    );
    assert_eq!(err.line, Some(4));
    assert!(
        err.message
            .contains("`argv` is not a setting of kind \"sqlite\""),
        "{err}"
    );
}

#[test]
fn unknown_kind_lists_the_available_ones() {
    let err = error_of("[environments.prod.sources.db]\nkind = \"oracle\"\n");
    assert_eq!((err.line, err.column), (Some(2), Some(8)));
    assert!(err
        .hint
        .unwrap()
        .contains("sqlite, postgres, mysql, file, http, command"));
}

#[test]
fn missing_variable_is_reported_without_values() {
    let err = error_of(
        "[environments.prod.sources.api]\nkind = \"http\"\nurl = \"https://x/${API_HOST}\"\n",
    );
    assert_eq!(err.line, Some(3));
    assert!(err.message.contains("API_HOST"));
}

#[test]
fn variables_and_secret_files_are_read_but_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "token", "Bearer s3cret-token\n");
    let file = write(
        dir.path(),
        "driftwarden.toml",
        "[environments.prod.sources.api]\nkind = \"http\"\nurl = \"https://${HOST}/version\"\nheader_files = { Authorization = \"token\" }\n",
    );
    let env = |name: &str| (name == "HOST").then(|| "app.internal".to_string());
    let config = load_with_env(&file, &env).unwrap();
    let SourceKind::Http { url, headers, .. } = &config.source("prod", "api").unwrap().kind else {
        panic!("expected http");
    };
    assert_eq!(url.expose(), "https://app.internal/version");
    assert_eq!(headers["Authorization"].expose(), "Bearer s3cret-token");
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn missing_config_file_says_how_to_point_at_one() {
    let err = load(Path::new("/nonexistent/driftwarden.toml")).unwrap_err();
    assert!(err.message.contains("cannot read config file"));
    assert!(err.hint.unwrap().contains("--config"));
}

#[test]
fn the_default_rules_folder_is_optional() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "driftwarden.toml", "");
    assert!(load_with_env(&file, &no_env).unwrap().rules.is_empty());
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    assert_eq!(
        load_with_env(&file, &no_env).unwrap().rules,
        [dir.path().join("rules")]
    );
}

#[test]
fn alert_sinks_parse_and_their_mistakes_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{GOOD}\n[[alerts]]\nkind = \"alertmanager\"\nurls = [\"http://am-0:9093/\", \"http://am-1:9093\"]\nresend = \"30s\"\nmatchers = {{ team = \"db\" }}\n"
    );
    let file = write(dir.path(), "driftwarden.toml", &text);
    let config = load_with_env(&file, &no_env).unwrap();
    let sink = &config.alerts[0];
    assert_eq!(sink.name, "alertmanager-1");
    let urls: Vec<&str> = sink.urls.iter().map(Secret::expose).collect();
    assert_eq!(urls, ["http://am-0:9093", "http://am-1:9093"]);
    assert_eq!(sink.resend, Duration::from_secs(30));
    assert_eq!(sink.min_severity, crate::rules::Severity::Warning);
    assert_eq!(sink.matchers.get("team").map(String::as_str), Some("db"));

    let base_lines = GOOD.lines().count() + 1;
    let err = error_of(&format!(
        "{GOOD}\n[[alerts]]\nkind = \"pager\"\nurl = \"http://x\"\n"
    ));
    assert_eq!(err.line, Some(base_lines + 2), "{err}");
    assert!(err.message.contains("unknown alert kind"), "{err}");
    let err = error_of(&format!("{GOOD}\n[[alerts]]\nkind = \"alertmanager\"\n"));
    assert!(
        err.message.contains("needs `url`, `urls` or `url_file`"),
        "{err}"
    );
    let err = error_of(&format!(
        "{GOOD}\n[[alerts]]\nkind = \"webhook\"\nurl = \"http://x\"\nformat = \"teams\"\n"
    ));
    assert_eq!(err.line, Some(base_lines + 4), "{err}");
    let err = error_of(&format!(
        "{GOOD}\n[[alerts]]\nkind = \"alertmanager\"\nurl = \"am:9093\"\n"
    ));
    assert_eq!(err.line, Some(base_lines + 3), "{err}");
    let err = error_of(&format!(
        "{GOOD}\n[[alerts]]\nkind = \"alertmanager\"\nurl = \"http://am\"\nmin_severity = \"urgent\"\n"
    ));
    assert!(err.message.contains("unknown severity"), "{err}");
}

#[test]
fn default_store_sits_in_the_state_dir_when_the_config_path_is_relative() {
    // Regression: a relative config path used to nest the default store twice
    // (`dir/dir/.driftwarden/store.db`), so the CLI and the daemon used different stores.
    let cwd = std::env::current_dir().unwrap();
    let dir = tempfile::tempdir_in(cwd.join("target")).unwrap();
    let file = write(dir.path(), "driftwarden.toml", GOOD);
    let relative = file.strip_prefix(&cwd).unwrap();
    let config = load_with_env(relative, &no_env).unwrap();
    let expected = relative.parent().unwrap().join(".driftwarden");
    assert_eq!(config.state_dir, expected);
    assert_eq!(
        config.store.url.expose(),
        format!("sqlite://{}", expected.join("store.db").display())
    );
}
