//! The store on a real SQLite file and on the machine's real PostgreSQL: snapshot
//! deduplication, the finding lifecycle, acknowledgement, deploy windows, pruning, and the
//! refusal to adopt a database that is not a driftwarden store.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use driftwarden::diff::ChangeKind;
use driftwarden::findings::{fingerprint, Finding};
use driftwarden::rules::Severity;
use driftwarden::snapshot::{Node, Path, Snapshot};
use driftwarden::store::{
    FindingFilter, FindingKind, FindingScope, FindingState, Store, StoreError,
};

use crate::helpers::db::TestDb;

fn tree(version: &str) -> Node {
    let mut map = BTreeMap::new();
    map.insert("version".to_string(), Node::Str(version.into()));
    map.insert(
        "nested".to_string(),
        Node::Map(BTreeMap::from([("n".to_string(), Node::Int(1))])),
    );
    Node::Map(map)
}

fn finding(path: &str, severity: Severity, candidate: i64) -> Finding {
    let path = Path::parse(path).unwrap();
    Finding {
        fingerprint: fingerprint("pair", "db", &path),
        source: "db".into(),
        path,
        change: ChangeKind::Changed,
        baseline: Some(Node::Int(0)),
        candidate: Some(Node::Int(candidate)),
        severity,
        rule: "default".into(),
        note: None,
        diff: None,
        labels: BTreeMap::new(),
        runbook_url: None,
        notify: true,
    }
}

fn at(minute: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
}

/// Every store behaviour, run against one backend.
async fn exercise(store: &Store) {
    // Snapshots: identical content only moves last_seen_at; new content is a new row.
    let first = store
        .save_snapshot(&Snapshot::new("prod", "db", at(0), 0.5, tree("1")))
        .await
        .unwrap();
    assert!(first.is_new && first.previous.is_none());
    let same = store
        .save_snapshot(&Snapshot::new("prod", "db", at(1), 0.4, tree("1")))
        .await
        .unwrap();
    assert!(!same.is_new);
    assert_eq!(same.meta.id, first.meta.id);
    assert_eq!(same.meta.taken_at, at(0));
    assert_eq!(same.meta.last_seen_at, at(1));
    let second = store
        .save_snapshot(&Snapshot::new("prod", "db", at(2), 0.4, tree("2")))
        .await
        .unwrap();
    assert!(second.is_new);
    assert_eq!(second.previous.as_ref().map(|p| p.id), Some(first.meta.id));
    let (meta, latest) = store.latest_snapshot("prod", "db").await.unwrap().unwrap();
    assert_eq!(meta.id, second.meta.id);
    assert_eq!(latest, tree("2"));
    let (_, old) = store.snapshot(first.meta.id).await.unwrap().unwrap();
    assert_eq!(old, tree("1"));
    assert!(store.snapshot(999_999).await.unwrap().is_none());
    let listed = store.snapshots(Some("prod"), None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        [second.meta.id, first.meta.id]
    );
    assert!(store
        .snapshots(Some("staging"), None, 10)
        .await
        .unwrap()
        .is_empty());

    // Findings: opened, kept with their first_seen, resolved when gone.
    let scope = FindingScope {
        kind: FindingKind::Pair,
        name: "pair".into(),
        source: "db".into(),
    };
    let a = finding("schema/tables/a", Severity::Critical, 1);
    let b = finding("schema/tables/b", Severity::Info, 1);
    let delta = store
        .reconcile_findings(&scope, &[a.clone(), b.clone()], true, at(0))
        .await
        .unwrap();
    assert_eq!((delta.opened.len(), delta.still_open.len()), (2, 0));
    let a2 = finding("schema/tables/a", Severity::Critical, 2);
    let delta = store
        .reconcile_findings(&scope, std::slice::from_ref(&a2), true, at(5))
        .await
        .unwrap();
    assert_eq!(delta.opened.len(), 0);
    assert_eq!(delta.still_open.len(), 1);
    assert_eq!(delta.still_open[0].first_seen, at(0));
    assert_eq!(delta.still_open[0].last_seen, at(5));
    assert_eq!(delta.resolved.len(), 1);
    assert_eq!(delta.resolved[0].finding.path, b.path);
    let open = store
        .findings(&FindingFilter {
            state: Some(FindingState::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].finding, a2, "the stored finding is the latest seen");
    assert_eq!(open[0].first_seen, at(0));
    let resolved = store
        .findings(&FindingFilter {
            state: Some(FindingState::Resolved),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].resolution.as_deref(), Some("no longer differs"));
    assert_eq!(resolved[0].resolved_at, Some(at(5)));
    for (after, expected) in [(at(5), 1), (at(6), 0)] {
        let recent = store
            .findings(&FindingFilter {
                state: Some(FindingState::Resolved),
                resolved_after: Some(after),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(recent.len(), expected, "resolved after {after}");
    }
    // Severity filter and fingerprint filter.
    let critical = store
        .findings(&FindingFilter {
            min_severity: Some(Severity::Warning),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(critical.len(), 1);
    let by_fp = store
        .findings(&FindingFilter {
            fingerprint: Some(b.fingerprint.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_fp.len(), 1);
    // A finding that comes back after being fixed is a new occurrence.
    let delta = store
        .reconcile_findings(&scope, &[a2.clone(), b.clone()], true, at(6))
        .await
        .unwrap();
    assert_eq!(delta.opened.len(), 1);
    assert_eq!(delta.opened[0].first_seen, at(6));

    // Changed-since-last: never auto-resolved; acknowledged explicitly.
    let temporal = FindingScope {
        kind: FindingKind::ChangedSinceLast,
        name: "prod".into(),
        source: "db".into(),
    };
    store
        .reconcile_findings(&temporal, std::slice::from_ref(&a), false, at(7))
        .await
        .unwrap();
    let delta = store
        .reconcile_findings(&temporal, &[], false, at(8))
        .await
        .unwrap();
    assert!(delta.resolved.is_empty());
    let ack = FindingFilter {
        kind: Some(FindingKind::ChangedSinceLast),
        scope: Some("prod".into()),
        ..Default::default()
    };
    let acknowledged = store
        .resolve_findings(&ack, "acknowledged: planned", at(9))
        .await
        .unwrap();
    assert_eq!(acknowledged.len(), 1);
    assert!(store
        .resolve_findings(&ack, "again", at(10))
        .await
        .unwrap()
        .is_empty());

    // Deploy windows.
    let window = store
        .add_deploy_window("prod", at(0), at(30), "release 1.2")
        .await
        .unwrap();
    let active = store.active_deploy_windows(at(10)).await.unwrap();
    assert_eq!(active, [window]);
    assert!(store
        .active_deploy_windows(at(31))
        .await
        .unwrap()
        .is_empty());

    // Pruning keeps each source's latest snapshot and every open finding.
    let deleted = store.prune(at(60)).await.unwrap();
    assert!(deleted >= 3, "deleted {deleted}");
    assert!(store.snapshot(first.meta.id).await.unwrap().is_none());
    assert!(store.latest_snapshot("prod", "db").await.unwrap().is_some());
    let open = store
        .findings(&FindingFilter {
            state: Some(FindingState::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_store_behaves_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sub/store.db").display());
    let store = Store::open(&url).await.unwrap();
    exercise(&store).await;
    store.close().await;
    // Reopening runs no migration twice and keeps everything.
    let store = Store::open(&url).await.unwrap();
    assert_eq!(
        store
            .findings(&FindingFilter {
                state: Some(FindingState::Open),
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        2
    );
    store.close().await;
}

#[tokio::test]
async fn postgres_store_behaves() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    assert!(!store.describe().is_empty());
    exercise(&store).await;
    store.close().await;
}

#[tokio::test]
async fn replicas_opening_a_new_postgres_store_together_all_succeed() {
    // Three replicas started at once race to migrate an empty database: sqlx serialises the
    // migrations, and none may take the half-made store for someone else's database.
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // The moment a racing replica sees: sqlx's bookkeeping table exists (it is created before
    // the first migration's transaction), our tables and marker not yet.
    db.execute(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
         checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .await;
    let store = Store::open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("a store being migrated by another replica is ours: {e}"));
    store.ping().await.unwrap();
    store.close().await;
    for _ in 0..3 {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        let (a, b, c) = tokio::join!(
            Store::open(&db.url),
            Store::open(&db.url),
            Store::open(&db.url)
        );
        for store in [a, b, c] {
            let store = store.unwrap_or_else(|e| panic!("a replica failed to open: {e}"));
            store.ping().await.unwrap();
            store.close().await;
        }
    }
}

#[tokio::test]
async fn a_database_that_is_not_a_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    std::fs::File::create(&path).unwrap();
    let app_url = format!("sqlite://{}", path.display());
    {
        let store = Store::open(&app_url).await.unwrap();
        store.close().await;
    }
    // An application database with its own tables is never adopted.
    let other = dir.path().join("production.db");
    create_app_database(&other).await;
    let err = Store::open(&format!("sqlite://{}", other.display()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("customers"), "{err}");

    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.execute("CREATE TABLE customers (id int)").await;
    let err = Store::open(&db.url).await.unwrap_err();
    assert!(err.to_string().contains("customers"), "{err}");
    db.execute("SELECT 1 FROM customers").await;
}

/// Creates an application-like SQLite database with a `customers` table.
async fn create_app_database(path: &std::path::Path) {
    use sqlx::{ConnectOptions, Executor};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_postgres_store_is_a_clear_error_without_the_password() {
    let err = Store::open("postgres://dw:hunter2@127.0.0.1:1/store")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
}
