//! The dashboard and the sign-off API, on the daemon in-process over the demo. Pages are loaded
//! in a real headless Chromium (Debian's `chromium`; `.ci/run` installs it): they must load
//! without console messages and show the planted findings; screenshots land in
//! `target/dashboard/`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::daemon::{metric, spawn_daemon, start, TestDaemon};
use crate::helpers::{sqlite_exec, Demo};
use crate::report::plant_hostile;

const PAIR: &str = "staging-vs-production";

/// Chromium, or `None` outside CI when it is not installed (CI installs it and must not skip).
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|name| PathBuf::from("/usr/bin").join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI=true but no chromium: .ci/run installs Debian's chromium package"
        );
        eprintln!(
            "skipping the browser part: chromium is not installed (apt-get install chromium)"
        );
    }
    found
}

/// What Chromium made of a page: the DOM after load, and every console message it logged.
struct Loaded {
    dom: String,
    console: Vec<String>,
}

/// Loads `url` headless; with `screenshot`, also saves a PNG of it.
async fn load(browser: &PathBuf, url: &str, screenshot: Option<&PathBuf>) -> Loaded {
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(browser);
    command
        .arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg("--no-first-run")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--enable-logging=stderr")
        .arg("--v=0")
        .arg("--window-size=1280,1600");
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let output = tokio::time::timeout(Duration::from_secs(90), command.arg(url).output())
        .await
        .expect("chromium finishes within 90 s")
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    Loaded {
        dom: String::from_utf8_lossy(&output.stdout).into_owned(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Open findings of the demo pair: (fingerprint, path).
async fn open_findings(daemon: &TestDaemon) -> Vec<(String, String)> {
    daemon
        .open_findings()
        .await
        .iter()
        .map(|f| {
            (
                f["fingerprint"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_load_in_a_real_browser_and_show_the_planted_findings() {
    let daemon = spawn_daemon().await;
    let findings = open_findings(&daemon).await;
    assert_eq!(findings.len(), 7);
    let base = format!("http://{}", daemon.addr);
    let pages = [
        ("overview", "/".to_string()),
        ("pair", format!("/pairs/{PAIR}")),
        (
            "finding",
            format!("/pairs/{PAIR}/findings/{}", findings[0].0),
        ),
        ("timeline", "/environments/staging".to_string()),
    ];
    // Without a browser the pages are still checked as served HTML.
    for (_, path) in &pages {
        let (status, body) = daemon.get_text(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.starts_with("<!DOCTYPE html>"));
    }
    let (_, pair_page) = daemon.get_text(&pages[1].1).await;
    for (_, path) in &findings {
        assert!(pair_page.contains(path.as_str()), "pair page lacks {path}");
    }
    let Some(browser) = chromium() else { return };

    // The console check can fail: a page that logs an error is caught.
    let probe = load(
        &browser,
        "data:text/html,<p>probe</p><script>console.error('probe-error')</script>",
        None,
    )
    .await;
    assert!(
        probe.console.iter().any(|l| l.contains("probe-error")),
        "console messages are not captured: {:?}",
        probe.console
    );

    for (name, path) in &pages {
        let url = format!("{base}{path}");
        let loaded = load(&browser, &url, None).await;
        assert!(
            loaded.console.is_empty(),
            "{url}: console says {:?}",
            loaded.console
        );
        assert!(loaded.dom.contains("driftwarden"), "{url}: {}", loaded.dom);
        if *name == "pair" {
            for (fingerprint, path) in &findings {
                assert!(
                    loaded.dom.contains(path.as_str()),
                    "rendered pair page lacks {path}"
                );
                assert!(loaded
                    .dom
                    .contains(&format!("/pairs/{PAIR}/findings/{fingerprint}")));
            }
            assert!(loaded.dom.contains("class=\"verdict drift\""));
        }
        let shot = shots_dir().join(format!("{name}.png"));
        std::fs::remove_file(&shot).ok();
        load(&browser, &url, Some(&shot)).await;
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "{}: screenshot of {size} bytes",
            shot.display()
        );
    }
    daemon.stop().await;
}

#[tokio::test]
async fn pair_page_filters_by_severity_and_source() {
    let daemon = spawn_daemon().await;
    let (_, page) = daemon
        .get_text(&format!("/pairs/{PAIR}?source=appdb"))
        .await;
    assert!(page.contains("Showing 5 of 7 findings."), "{page}");
    assert!(page.contains("schema/views/main.order_totals/definition"));
    assert!(!page.contains("features/new_checkout"));
    let (_, page) = daemon
        .get_text(&format!("/pairs/{PAIR}?severity=critical"))
        .await;
    assert!(page.contains("Showing 0 of 7 findings."));
    let (status, page) = daemon.get_text("/pairs/no-such-pair").await;
    assert_eq!(status, 404);
    assert!(page.contains("no pair named"), "{page}");
    daemon.stop().await;
}

#[tokio::test]
async fn signoff_api_records_refuses_and_notices_changes_since() {
    let daemon = spawn_daemon().await;
    let path = format!("/api/v1/pairs/{PAIR}/signoff");

    let (status, body) = daemon.post(&path, json!({ "by": "qa-lead" })).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["detail"]["blockers"].as_array().unwrap().len(), 7);
    let (status, body) = daemon.post(&path, json!({ "by": " " })).await;
    assert_eq!(status, 400, "{body}");

    let index = "schema/tables/main.orders/indexes/orders_customer_id_idx";
    let findings = open_findings(&daemon).await;
    let accept: Vec<Value> = findings
        .iter()
        .map(|(fp, _)| json!({ "fingerprint": fp, "reason": "known, tracked in QA-17" }))
        .collect();
    let (status, body) = daemon
        .post(
            &path,
            json!({ "by": "qa-lead", "note": "release 2026.11", "accept": accept }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signoff"]["id"], 1);
    assert_eq!(body["signoff"]["snapshots"].as_array().unwrap().len(), 6);
    assert!(body["signoff"]["snapshots"][0]["snapshot_id"].is_i64());

    let (_, page) = daemon.get_text(&format!("/pairs/{PAIR}")).await;
    assert!(page.contains("Last sign-off"), "{page}");
    assert!(page.contains("Nothing changed since sign-off."));
    let metrics = daemon.metrics().await;
    let series = format!("driftwarden_signoff_changed_sources{{pair=\"{PAIR}\"}}");
    assert_eq!(metric(&metrics, &series), Some(0.0));
    let signed_at = metric(
        &metrics,
        &format!("driftwarden_signoff_timestamp_seconds{{pair=\"{PAIR}\"}}"),
    )
    .expect("sign-off timestamp series");
    assert!((signed_at - chrono::Utc::now().timestamp() as f64).abs() < 120.0);

    // Staging gets the missing index after the sign-off.
    sqlite_exec(
        &daemon.demo.path().join("data/staging.db"),
        "CREATE INDEX orders_customer_id_idx ON orders (customer_id);",
    )
    .await;
    daemon.run_all().await;
    let (_, page) = daemon.get_text(&format!("/pairs/{PAIR}")).await;
    assert!(
        page.contains("staging changed after sign-off (appdb)"),
        "{page}"
    );
    let (_, overview) = daemon.get_text("/").await;
    assert!(
        overview.contains("1 snapshot(s) changed since"),
        "{overview}"
    );
    assert_eq!(metric(&daemon.metrics().await, &series), Some(1.0));
    let (_, list) = daemon.get(&format!("/api/v1/pairs/{PAIR}/signoffs")).await;
    assert_eq!(list["signoffs"][0]["by"], "qa-lead");
    assert_eq!(list["changed_since_signoff"][0]["environment"], "staging");

    // The fixed finding's page shows its history, resolved, and that it was accepted.
    let fp = &findings.iter().find(|(_, p)| p == index).unwrap().0;
    let (status, page) = daemon
        .get_text(&format!("/pairs/{PAIR}/findings/{fp}"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("no longer differs"), "{page}");
    assert!(page.contains("Accepted at sign-off #1 by qa-lead"));
    daemon.stop().await;
}

#[tokio::test]
async fn signoff_api_needs_the_token_when_one_is_configured() {
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "interval = \"15s\"",
        "interval = \"1h\"",
    );
    demo.append(
        "driftwarden.toml",
        "\n[server]\ntoken = \"t0ken-for-tests\"\n",
    );
    let daemon = start(demo).await;
    let path = format!("/api/v1/pairs/{PAIR}/signoff");
    let (status, _) = daemon.post(&path, json!({ "by": "mallory" })).await;
    assert_eq!(status, 401);
    let (status, body) = daemon
        .post_as(&path, json!({ "by": "qa-lead" }), Some("t0ken-for-tests"))
        .await;
    assert_eq!(status, 409, "authorized, then refused for drift: {body}");
    daemon.stop().await;
}

#[tokio::test]
async fn dashboard_escapes_hostile_names() {
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "interval = \"15s\"",
        "interval = \"1h\"",
    );
    plant_hostile(&demo).await;
    let daemon = start(demo).await;
    let findings = open_findings(&daemon).await;
    let hostile = findings
        .iter()
        .find(|(_, p)| p.contains("<script>alert(1)"))
        .expect("the hostile key is a finding");
    for path in [
        "/".to_string(),
        format!("/pairs/{PAIR}"),
        format!("/pairs/{PAIR}/findings/{}", hostile.0),
        "/environments/staging".to_string(),
        "/pairs/%3Cscript%3Ealert(9)%3C%2Fscript%3E".to_string(),
    ] {
        let (_, page) = daemon.get_text(&path).await;
        for raw in ["<script", "<img", "href=\"javascript:"] {
            assert!(!page.contains(raw), "{path}: raw {raw:?}");
        }
    }
    let (_, page) = daemon.get_text(&format!("/pairs/{PAIR}")).await;
    assert!(page.contains("&lt;script&gt;alert(1)&lt;%2Fscript&gt;"));
    assert!(page.contains("&lt;script&gt;alert(4)&lt;%2Fscript&gt;"));
    daemon.stop().await;
}
