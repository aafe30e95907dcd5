//! The built binary end to end on the bundled demo: exact findings, exit codes, formats,
//! secret hygiene, and a clear located error (exit 2) for every kind of bad input.

use serde_json::Value;

use crate::helpers::{driftwarden_in, Demo, Run};

fn check_json(demo: &Demo, extra: &[&str]) -> (Run, Value) {
    let config = demo.config();
    let mut args = vec!["check", "--config", config.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    let run = demo.run(&args);
    let json: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.all()));
    (run, json)
}

fn triples(list: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["source"].as_str().unwrap().to_string(),
                f["change"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn t(source: &str, change: &str, path: &str) -> (String, String, String) {
    (source.into(), change.into(), path.into())
}

#[test]
fn demo_check_finds_exactly_the_planted_drift() {
    let demo = Demo::build();
    let (run, json) = check_json(&demo, &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let pair = &json["pairs"][0];
    assert_eq!(pair["name"], "staging-vs-production");
    assert_eq!(pair["status"], "drift");
    assert_eq!(pair["errors"].as_array().unwrap().len(), 0);
    assert_eq!(
        triples(&pair["findings"]),
        vec![
            t("app-config", "changed", "features/new_checkout"),
            t("app-env", "changed", "SMTP_PASSWORD"),
            t(
                "appdb",
                "added",
                "schema/tables/main.orders/columns/discount_code"
            ),
            t("appdb", "changed", "rows/main.products"),
            t(
                "appdb",
                "changed",
                "schema/tables/main.customers/columns/phone/type"
            ),
            t(
                "appdb",
                "changed",
                "schema/views/main.order_totals/definition"
            ),
            t(
                "appdb",
                "removed",
                "schema/tables/main.orders/indexes/orders_customer_id_idx"
            ),
        ]
    );
    let expected = triples(&pair["expected"]);
    for allowed in [
        t("app-config", "changed", "database/host"),
        t("app-config", "changed", "deploy/replicas"),
        t("app-config", "changed", "assets/cdn_url"),
        t("appdb", "changed", "rows/main.audit_log"),
        t("app-env", "changed", "APP_ENV"),
    ] {
        assert!(
            expected.contains(&allowed),
            "{allowed:?} not among expected differences: {expected:?}"
        );
    }
    let view = pair["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "schema/views/main.order_totals/definition")
        .unwrap();
    assert!(
        view["diff"]
            .as_str()
            .unwrap()
            .contains("+WHERE o.status <> 'cancelled'"),
        "{view}"
    );
    let phone = pair["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "schema/tables/main.customers/columns/phone/type")
        .unwrap();
    assert_eq!(
        (phone["baseline"].as_str(), phone["candidate"].as_str()),
        (Some("TEXT"), Some("VARCHAR(20)"))
    );
    assert_eq!(phone["rule"], "default");
    assert_eq!(phone["severity"], "warning");
}

#[test]
fn fingerprints_are_stable_across_runs() {
    let demo = Demo::build();
    let fingerprints = |json: &Value| -> Vec<String> {
        json["pairs"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fingerprint"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, first) = check_json(&demo, &[]);
    let (_, second) = check_json(&demo, &[]);
    assert_eq!(fingerprints(&first), fingerprints(&second));
    assert_eq!(fingerprints(&first).len(), 7);
}

#[test]
fn fail_on_critical_ignores_warnings_and_matching_environments_are_clean() {
    let demo = Demo::build();
    let (run, _) = check_json(&demo, &["--fail-on", "critical"]);
    assert_eq!(run.code, 0, "{}", run.all());
    // Point staging at production's files: nothing differs, so the pair is clean, exit 0 —
    // except the `differ` rules, which must now fire (same host, same secrets).
    let text = std::fs::read_to_string(demo.path().join("driftwarden.toml")).unwrap();
    let same = text
        .replace("data/staging.db", "data/production.db")
        .replace("config/staging", "config/production");
    demo.write("driftwarden.toml", &same);
    let (run, json) = check_json(&demo, &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        triples(&json["pairs"][0]["findings"]),
        vec![
            t("app-config", "unchanged", "database/host"),
            t("app-config", "unchanged", "database/password"),
            t("app-env", "unchanged", "SESSION_SECRET"),
        ]
    );
    demo.write("rules/demo.toml", "");
    let (run, json) = check_json(&demo, &[]);
    assert_eq!(
        (run.code, json["pairs"][0]["status"].as_str()),
        (0, Some("clean")),
        "{}",
        run.all()
    );
}

#[test]
fn every_format_renders_the_drift() {
    let demo = Demo::build();
    let config = demo.config();
    let text = demo.run(&["check", "--config", &config]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("DRIFT"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("\"TEXT\"  →  staging: \"VARCHAR(20)\""),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("Expected differences"),
        "{}",
        text.stdout
    );
    assert!(text
        .stdout
        .contains("staging must never point at the production database"));
    assert!(
        !text.stdout.contains('\u{1b}'),
        "no color when NO_COLOR is set or output is piped"
    );
    let junit = demo.run(&["check", "--config", &config, "--format", "junit"]);
    assert_eq!(junit.code, 1);
    assert!(junit.stdout.starts_with("<?xml"));
    assert_eq!(
        junit.stdout.matches("<failure ").count(),
        7,
        "{}",
        junit.stdout
    );
    assert!(junit
        .stdout
        .contains("<testsuite name=\"staging-vs-production/appdb\""));
    let markdown = demo.run(&["check", "--config", &config, "--format", "markdown"]);
    assert!(markdown
        .stdout
        .contains("## staging-vs-production (production → staging): ⚠️ DRIFT"));
    assert!(markdown.stdout.contains("```diff"));
}

/// Secrets planted in the demo's config files.
const SECRETS: &[&str] = &[
    "correct-horse-battery-staple",
    "staging-only-password",
    "prod-session-7f3a9c1e55d04b2a",
    "stg-session-0b9d44e2a8c1f6e3",
    "mail-relay-rotated-2026-11",
    "mail-relay-shared-secret",
];

#[test]
fn planted_secrets_never_appear_in_any_output() {
    let demo = Demo::build();
    let config = demo.config();
    let mut outputs = Vec::new();
    for format in ["text", "json", "junit", "markdown"] {
        outputs.push(demo.run(&["-vv", "check", "--config", &config, "--format", format]));
    }
    for env in ["production", "staging"] {
        outputs.push(demo.run(&["-vv", "snapshot", "--config", &config, "--env", env]));
    }
    outputs.push(demo.run(&[
        "-vv",
        "diff",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
    ]));
    outputs.push(demo.run(&[
        "diff",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
        "--json",
    ]));
    outputs.push(demo.run(&[
        "explain",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
        "--source",
        "app-env",
        "SMTP_PASSWORD",
    ]));
    outputs.push(demo.run(&["demo", "--dir", "demo", "--check-only"]));
    for run in &outputs {
        for secret in SECRETS {
            assert!(
                !run.all().contains(secret),
                "secret {secret} leaked in:\n{}",
                run.all()
            );
        }
    }
    // The secret change is still seen, as a keyed hash.
    assert!(
        outputs[1].stdout.contains("redacted:hmac-sha256:"),
        "{}",
        outputs[1].stdout
    );
    // And the snapshot with a debug log shows the redacted value, not the clear one.
    assert!(outputs[4]
        .stdout
        .contains("\"SMTP_PASSWORD\": \"redacted:hmac-sha256:"));
}

#[test]
fn snapshot_prints_the_canonical_tree() {
    let demo = Demo::build();
    let run = demo.run(&[
        "snapshot",
        "--config",
        &demo.config(),
        "--env",
        "production",
        "--source",
        "appdb",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let tree: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(tree["rows"]["main.products"], 50);
    assert_eq!(
        tree["schema"]["tables"]["main.orders"]["indexes"]["orders_customer_id_idx"]["columns"][0],
        "customer_id"
    );
}

#[test]
fn explain_names_the_deciding_rule() {
    let demo = Demo::build();
    let config = demo.config();
    let run = demo.run(&[
        "explain",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
        "--source",
        "app-config",
        "database/host",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("Decided by rule db-host-must-differ"),
        "{}",
        run.stdout
    );
    let run = demo.run(&[
        "explain",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
        "--source",
        "appdb",
        "stats/page_count",
    ]);
    assert!(run.stdout.contains("expect ignore"), "{}", run.stdout);
    let run = demo.run(&[
        "explain",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
        "database/host",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--source"), "{}", run.stderr);
}

#[test]
fn rules_baseline_silences_todays_findings() {
    let demo = Demo::build();
    let config = demo.config();
    let run = demo.run(&[
        "rules",
        "baseline",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
        "--reason",
        "adopting driftwarden",
        "--until",
        "2099-01-01",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("Wrote 7 ignore rules"),
        "{}",
        run.stdout
    );
    assert!(demo
        .path()
        .join("rules/baseline-staging-vs-production.toml")
        .exists());
    let lint = demo.run(&["rules", "lint", "--config", &config]);
    assert_eq!(lint.code, 0, "{}", lint.all());
    let (run, json) = check_json(&demo, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(json["pairs"][0]["status"], "clean");
    let again = demo.run(&[
        "rules",
        "baseline",
        "--config",
        &config,
        "--pair",
        "staging-vs-production",
        "--reason",
        "x",
    ]);
    assert_eq!(again.code, 2, "refuses to overwrite without --force");
}

// ---- bad input: each gets a clear message naming the file (and line), and exit code 2 ----

fn assert_error(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "expected exit 2: {}", run.all());
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

fn check(demo: &Demo) -> Run {
    demo.run(&["check", "--config", &demo.config()])
}

#[test]
fn invalid_toml_in_config_is_located() {
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "name = \"staging-vs-production\"",
        "name = \"staging-vs-production",
    );
    assert_error(&check(&demo), &["driftwarden.toml:13:30:"]);
}

#[test]
fn pair_naming_an_unknown_environment_is_located() {
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "candidate = \"staging\"",
        "candidate = \"stagin\"",
    );
    assert_error(
        &check(&demo),
        &["driftwarden.toml:15:13", "unknown environment \"stagin\""],
    );
}

#[test]
fn invalid_toml_in_rules_is_located() {
    let demo = Demo::build();
    demo.edit(
        "rules/demo.toml",
        "id = \"audit-log-size\"",
        "id = audit-log-size",
    );
    assert_error(&check(&demo), &["demo.toml:"]);
}

#[test]
fn rule_with_unknown_key_is_located() {
    let demo = Demo::build();
    demo.edit(
        "rules/demo.toml",
        "expect = \"differ\"",
        "expcet = \"differ\"",
    );
    assert_error(&check(&demo), &["demo.toml:7:1:", "expcet"]);
}

#[test]
fn rule_with_bad_glob_is_located() {
    let demo = Demo::build();
    demo.edit(
        "rules/demo.toml",
        "match = \"**/*_url\"",
        "match = \"assets/**x\"",
    );
    assert_error(&check(&demo), &["demo.toml:", "**"]);
}

#[test]
fn ignore_rule_without_reason_is_located() {
    let demo = Demo::build();
    demo.edit(
        "rules/demo.toml",
        "reason = \"the audit log grows with traffic; staging has little\"",
        "",
    );
    assert_error(&check(&demo), &["demo.toml:", "reason"]);
}

#[test]
fn missing_collected_file_names_it() {
    let demo = Demo::build();
    std::fs::remove_file(demo.path().join("config/staging.yaml")).unwrap();
    let run = check(&demo);
    assert_error(&run, &[]);
    assert!(
        run.stdout.contains("staging.yaml") && run.stdout.contains("UNKNOWN"),
        "{}",
        run.all()
    );
}

#[test]
fn missing_sqlite_database_is_an_error_and_is_not_created() {
    let demo = Demo::build();
    let db = demo.path().join("data/staging.db");
    std::fs::remove_file(&db).unwrap();
    let run = check(&demo);
    assert_error(&run, &[]);
    assert!(
        run.stdout.contains("staging.db") && run.stdout.contains("does not exist"),
        "{}",
        run.all()
    );
    assert!(
        !db.exists(),
        "the collector must never create a target database"
    );
    let (_, json) = check_json(&demo, &[]);
    assert_eq!(json["pairs"][0]["status"], "unknown");
    assert_eq!(json["pairs"][0]["errors"][0]["reason"], "connect");
}

#[test]
fn malformed_yaml_in_a_collected_file_is_located() {
    let demo = Demo::build();
    demo.edit("config/staging.yaml", "  replicas: 2\n", "  replicas: [2\n");
    let run = check(&demo);
    assert_error(&run, &[]);
    assert!(run.stdout.contains("staging.yaml:"), "{}", run.all());
}

fn with_source(demo: &Demo, env: &str, source_toml: &str) {
    let text = std::fs::read_to_string(demo.path().join("driftwarden.toml")).unwrap();
    demo.write("driftwarden.toml", &format!("{text}\n[environments.production.sources.extra]\nkind = \"file\"\npath = \"config/production.yaml\"\n\n[environments.{env}.sources.extra]\n{source_toml}\n"));
}

#[test]
fn http_endpoint_that_refuses_is_unknown_not_clean() {
    let demo = Demo::build();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    with_source(
        &demo,
        "staging",
        &format!("kind = \"http\"\nurl = \"http://127.0.0.1:{port}/version\"\ntimeout = \"2s\""),
    );
    let (run, json) = check_json(&demo, &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    let errors = json["pairs"][0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["source"], "extra");
    assert_eq!(errors[0]["reason"], "connect");
}

#[test]
fn command_that_exits_non_zero_is_reported() {
    let demo = Demo::build();
    with_source(
        &demo,
        "staging",
        "kind = \"command\"\nargv = [\"sh\", \"-c\", \"echo kubectl: forbidden >&2; exit 3\"]",
    );
    let (run, json) = check_json(&demo, &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    let error = &json["pairs"][0]["errors"][0];
    assert_eq!(error["reason"], "query");
    assert!(
        error["message"].as_str().unwrap().contains("forbidden"),
        "{error}"
    );
}

#[test]
fn missing_config_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = driftwarden_in(dir.path(), &["check"]);
    assert_error(
        &run,
        &["driftwarden.toml", "cannot read config file", "--config"],
    );
}

#[test]
fn unknown_pair_lists_the_known_ones() {
    let demo = Demo::build();
    let run = demo.run(&["check", "--config", &demo.config(), "--pair", "qa"]);
    assert_error(&run, &["no pair named \"qa\"", "staging-vs-production"]);
}
