//! `driftwarden report` and `driftwarden signoff` end to end on the bundled demo: golden files
//! for every format, JUnit read by a JUnit parser, Markdown rendered by a CommonMark renderer,
//! the sign-off rules, and hostile names that must stay text.

use std::path::PathBuf;

use regex::Regex;
use serde_json::Value;

use crate::helpers::{sqlite_exec, Demo, Run};

const PAIR: &str = "staging-vs-production";

/// The demo's seven planted findings, by path.
const PLANTED: &[&str] = &[
    "features/new_checkout",
    "SMTP_PASSWORD",
    "rows/main.products",
    "schema/tables/main.customers/columns/phone/type",
    "schema/tables/main.orders/columns/discount_code",
    "schema/tables/main.orders/indexes/orders_customer_id_idx",
    "schema/views/main.order_totals/definition",
];

fn report(demo: &Demo, format: &str, extra: &[&str]) -> Run {
    let config = demo.config();
    let mut args = vec!["report", "--config", &config, "--format", format, "-q"];
    args.extend_from_slice(extra);
    demo.run(&args)
}

/// Masks what legitimately changes between runs: times, durations, content hashes (the demo's
/// keyed secret hashes depend on a per-installation key), the version.
fn normalize(text: &str) -> String {
    let rules = [
        (
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z| UTC|[+-]\d{2}:\d{2})?",
            "<TIME>",
        ),
        (
            r#""duration_seconds": [0-9.e-]+"#,
            r#""duration_seconds": "<DURATION>""#,
        ),
        (
            r"redacted:hmac-sha256:[0-9a-f]+",
            "redacted:hmac-sha256:<HMAC>",
        ),
        (r"\b[0-9a-f]{64}\b", "<HASH>"),
        (r"\b[0-9a-f]{12}\b", "<HASH12>"),
        (r"driftwarden \d+\.\d+\.\d+", "driftwarden <VERSION>"),
    ];
    let mut out = text.to_string();
    for (pattern, replacement) in rules {
        out = Regex::new(pattern)
            .unwrap()
            .replace_all(&out, replacement)
            .into_owned();
    }
    out
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn every_report_format_matches_its_golden_file() {
    let demo = Demo::build();
    // `DRIFTWARDEN_UPDATE_GOLDEN=1` rewrites the files after an intended change; review the diff.
    let update = std::env::var_os("DRIFTWARDEN_UPDATE_GOLDEN").is_some();
    for (format, file) in [
        ("markdown", "report.md"),
        ("html", "report.html"),
        ("junit", "report.junit.xml"),
        ("json", "report.json"),
    ] {
        let run = report(&demo, format, &[]);
        assert_eq!(run.code, 1, "{format}: drift means exit 1: {}", run.stderr);
        let actual = normalize(&run.stdout);
        // Ordering is stable: the same report twice is byte-identical once times are masked.
        assert_eq!(actual, normalize(&report(&demo, format, &[]).stdout));
        let path = golden(file);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with DRIFTWARDEN_UPDATE_GOLDEN=1)",
                path.display()
            )
        });
        if actual != expected {
            let diff = similar::TextDiff::from_lines(&expected, &actual)
                .unified_diff()
                .header("golden", "actual")
                .to_string();
            panic!("{format} report differs from {}:\n{diff}", path.display());
        }
        for planted in PLANTED {
            assert!(actual.contains(planted), "{format} report lacks {planted}");
        }
    }
}

#[test]
fn junit_report_is_read_by_a_junit_parser() {
    let demo = Demo::build();
    let run = report(&demo, "junit", &[]);
    let suites = junit_parser::from_reader(std::io::Cursor::new(run.stdout.as_bytes()))
        .expect("valid JUnit XML");
    let names: Vec<&str> = suites.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "staging-vs-production/app-config",
            "staging-vs-production/app-env",
            "staging-vs-production/appdb"
        ]
    );
    let failures: Vec<&str> = suites
        .suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|c| c.status.is_failure())
        .map(|c| c.original_name.as_str())
        .collect();
    assert_eq!(failures.len(), PLANTED.len(), "{failures:?}");
    for planted in PLANTED {
        assert!(failures.contains(planted), "no failing case for {planted}");
    }
    let appdb = &suites.suites[2];
    assert_eq!(appdb.failures, 5);
}

#[test]
fn html_report_is_self_contained_and_leads_with_the_verdict() {
    let demo = Demo::build();
    let html = report(&demo, "html", &[]).stdout;
    let verdict = html.find("class=\"verdict drift\"").expect("verdict box");
    let first_finding = html.find("class=\"finding ").expect("findings");
    assert!(verdict < first_finding, "the verdict comes first");
    for external in ["src=\"http", "href=\"http", "<script", "@import", "url("] {
        assert!(!html.contains(external), "external reference {external:?}");
    }
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("@media print"));
    // The colored diff of the view definition.
    assert!(html.contains("<span class=\"add\">+WHERE o.status &lt;&gt; 'cancelled'</span>"));
}

/// Makes the demo's missing index a critical finding.
fn critical_missing_index(demo: &Demo) {
    demo.append(
        "rules/demo.toml",
        "\n[[rule]]\nid = \"indexes-are-critical\"\nsource = \"appdb\"\nmatch = \"schema/tables/*/indexes/*\"\nseverity = \"critical\"\nreason = \"a missing index takes production down under load\"\n",
    );
}

/// The fingerprint of the finding at `path`, from `check --format json`.
fn fingerprint_of(demo: &Demo, path: &str) -> String {
    let run = demo.run(&[
        "check",
        "--config",
        &demo.config(),
        "--format",
        "json",
        "-q",
    ]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    json["pairs"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no finding at {path}"))["fingerprint"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn signoff_is_refused_with_open_critical_findings_until_each_is_accepted() {
    let demo = Demo::build();
    critical_missing_index(&demo);
    let config = demo.config();
    let index = "schema/tables/main.orders/indexes/orders_customer_id_idx";
    let fp = fingerprint_of(&demo, index);
    let signoff = |extra: &[&str]| {
        let mut args = vec![
            "signoff", "--config", &config, "--pair", PAIR, "--by", "qa-lead", "-q",
        ];
        args.extend_from_slice(extra);
        demo.run(&args)
    };

    let refused = signoff(&["--fail-on", "critical"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains(&fp), "{}", refused.stderr);
    assert!(refused.stderr.contains("--accept FINGERPRINT --reason"));
    assert!(refused.stderr.contains(index));

    let typo = signoff(&[
        "--fail-on",
        "critical",
        "--accept",
        "0000000000000000",
        "--reason",
        "x",
    ]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr.contains("matches no open finding"),
        "{}",
        typo.stderr
    );
    let no_reason = signoff(&["--fail-on", "critical", "--accept", &fp]);
    assert_eq!(no_reason.code, 2, "{}", no_reason.all());

    let accepted = signoff(&[
        "--fail-on",
        "critical",
        "--accept",
        &fp,
        "--reason",
        "index ships with migration 42",
        "--note",
        "release 2026.11",
    ]);
    assert_eq!(accepted.code, 0, "{}", accepted.all());
    assert!(
        accepted.stdout.contains("sign-off #1"),
        "{}",
        accepted.stdout
    );
    assert!(accepted.stdout.contains("1 accepted"));

    // A fresh report shows the sign-off in force; nothing changed yet.
    let json: Value =
        serde_json::from_str(&report(&demo, "json", &["--fail-on", "critical"]).stdout).unwrap();
    let pair = &json["pairs"][0];
    assert_eq!(pair["signoff"]["by"], "qa-lead");
    assert_eq!(pair["signoff"]["accepted"][0]["fingerprint"], fp.as_str());
    assert_eq!(
        pair["signoff"]["accepted"][0]["reason"],
        "index ships with migration 42"
    );
    assert_eq!(pair["changed_since_signoff"], serde_json::json!([]));
    assert_eq!(pair["verdict"], "drift");

    // Staging changes after the sign-off: the next report says so.
    sqlite_exec(
        &demo.path().join("data/staging.db"),
        "CREATE INDEX orders_customer_id_idx ON orders (customer_id);",
    )
    .await;
    let markdown = report(&demo, "markdown", &[]).stdout;
    assert!(
        markdown.contains("staging changed after sign\\-off \\(appdb\\)")
            || markdown.contains("staging changed after sign-off \\(appdb\\)"),
        "{markdown}"
    );
    let json: Value = serde_json::from_str(&report(&demo, "json", &[]).stdout).unwrap();
    assert_eq!(
        json["pairs"][0]["changed_since_signoff"],
        serde_json::json!([{ "environment": "staging", "source": "appdb", "what": "changed" }])
    );
    // The store still holds what was signed off: from the store, nothing changed.
    let stored: Value =
        serde_json::from_str(&report(&demo, "json", &["--from-store"]).stdout).unwrap();
    assert_eq!(
        stored["pairs"][0]["changed_since_signoff"],
        serde_json::json!([])
    );

    // A source that cannot be collected makes the pair unknown: no sign-off.
    std::fs::rename(
        demo.path().join("data/staging.db"),
        demo.path().join("data/staging.db.moved"),
    )
    .unwrap();
    let unknown = signoff(&["--fail-on", "critical"]);
    assert_eq!(unknown.code, 2, "{}", unknown.all());
    assert!(unknown.stderr.contains("is unknown"), "{}", unknown.stderr);
}

/// Hostile text planted in the demo: a config key and value, and a table and column name.
const HOSTILE_KEY: &str = "<script>alert(1)</script>";
/// See [`HOSTILE_KEY`].
const HOSTILE_VALUE: &str = "[click](javascript:alert(2)) <img src=x onerror=alert(3)>";

/// Plants the hostile names in the demo's staging config and database.
pub async fn plant_hostile(demo: &Demo) {
    demo.append(
        "config/staging.yaml",
        &format!("{HOSTILE_KEY:?}: {HOSTILE_VALUE:?}\n"),
    );
    sqlite_exec(
        &demo.path().join("data/staging.db"),
        "CREATE TABLE \"<script>alert(4)</script>\" (\"](javascript:alert(5))\" TEXT);",
    )
    .await;
}

#[tokio::test]
async fn hostile_names_stay_text_in_every_format() {
    let demo = Demo::build();
    plant_hostile(&demo).await;

    let html = report(&demo, "html", &[]).stdout;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;%2Fscript&gt;"),
        "the key is shown"
    );
    assert!(
        html.contains("&lt;script&gt;alert(4)&lt;%2Fscript&gt;"),
        "the table is shown"
    );
    for raw in ["<script", "<img", "href=\"javascript:"] {
        assert!(!html.contains(raw), "raw {raw:?} in the HTML report");
    }

    // Markdown is judged by what a CommonMark renderer (with GitHub's tables) makes of it.
    let markdown = report(&demo, "markdown", &[]).stdout;
    assert!(markdown.contains("alert(4)"));
    let mut rendered = String::new();
    let parser = pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::all());
    pulldown_cmark::html::push_html(&mut rendered, parser);
    assert!(rendered.contains("alert(1)") && rendered.contains("alert(2)"));
    for raw in ["<script", "<img", "href=\"javascript:"] {
        assert!(
            !rendered.contains(raw),
            "raw {raw:?} in rendered Markdown:\n{rendered}"
        );
    }
    let links = pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::all())
        .filter(|e| {
            matches!(
                e,
                pulldown_cmark::Event::Start(pulldown_cmark::Tag::Link { .. })
            )
        })
        .count();
    assert_eq!(links, 0, "no link can be injected");

    let junit = report(&demo, "junit", &[]).stdout;
    let suites = junit_parser::from_reader(std::io::Cursor::new(junit.as_bytes())).unwrap();
    assert!(suites
        .suites
        .iter()
        .flat_map(|s| &s.cases)
        .any(|c| c.original_name.contains("<script>alert(1)")));
    assert!(!junit.contains("<script"));

    let json: Value = serde_json::from_str(&report(&demo, "json", &[]).stdout).unwrap();
    assert!(json.to_string().contains("alert(5)"));
}

#[test]
fn expired_ignore_rules_are_listed_and_no_longer_applied() {
    let demo = Demo::build();
    demo.append(
        "rules/demo.toml",
        "\n[[rule]]\nid = \"checkout-flag-waiver\"\nsource = \"app-config\"\nmatch = \"features/new_checkout\"\nexpect = \"ignore\"\nuntil = 2020-01-31\nreason = \"dark launch\"\n",
    );
    let html = report(&demo, "html", &[]).stdout;
    assert!(html.contains("Expired ignore rules"), "{html}");
    assert!(html.contains("<code>checkout-flag-waiver</code>"));
    assert!(html.contains("expired on 2020-01-31"));
    let markdown = report(&demo, "markdown", &[]).stdout;
    assert!(markdown.contains("### Expired ignore rules"));
    assert!(markdown.contains("`checkout-flag-waiver`"));
    // The waiver no longer hides the flag: it is still a finding.
    assert!(markdown.contains("`features/new_checkout` **changed**"));
}
