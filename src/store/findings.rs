//! Findings and their lifecycle: opened when first seen, kept (first_seen intact) while seen
//! again, resolved when gone (pairs) or when acknowledged (changed-since-last).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{
    from_json, parse_stamp, query_error, stamp, to_json, FindingFilter, FindingKind, FindingScope,
    FindingState, FindingsDelta, Store, StoreError, StoredFinding,
};
use crate::findings::Finding;
use crate::rules::Severity;

const COLUMNS: &str = "id, kind, scope, body, first_seen, last_seen, resolved_at, resolution";

/// Resolution recorded when a pair's finding is no longer seen.
const FIXED: &str = "no longer differs";

impl FindingKind {
    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Pair => "pair",
            FindingKind::ChangedSinceLast => "changed-since-last",
        }
    }
}

fn severity_rank(severity: Severity) -> i64 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

/// The PostgreSQL advisory lock that orders outbox writers ("dw" "ob" in ASCII).
const OUTBOX_LOCK: i64 = 0x6477_6f62;

impl Store {
    /// With several replicas on one PostgreSQL store, event ids come from one sequence but
    /// transactions commit in any order: a sink that read id 11 before id 10 committed would
    /// skip 10 for good. Taking this lock before the first insert makes ids commit in order
    /// (it is held to the end of the transaction). SQLite has one writer anyway.
    async fn order_outbox(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        if self.shared_outbox {
            // Selected through a subquery: the Any driver cannot decode a `void` column.
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(OUTBOX_LOCK)
                .execute(&mut **tx)
                .await
                .map_err(query_error)?;
        }
        Ok(())
    }

    /// Brings the stored findings of `scope` in line with `current`: new ones are opened,
    /// known ones updated (keeping `first_seen`), and — when `auto_resolve` — open ones no
    /// longer present are resolved as fixed. One transaction, so a crash leaves no half state.
    pub async fn reconcile_findings(
        &self,
        scope: &FindingScope,
        current: &[Finding],
        auto_resolve: bool,
        now: DateTime<Utc>,
    ) -> Result<FindingsDelta, StoreError> {
        let _writer = self.write.lock().await;
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        self.order_outbox(&mut tx).await?;
        let filter = FindingFilter {
            kind: Some(scope.kind),
            scope: Some(scope.name.clone()),
            source: Some(scope.source.clone()),
            state: Some(FindingState::Open),
            ..Default::default()
        };
        let mut open: HashMap<String, StoredFinding> = select(&mut tx, &filter)
            .await?
            .into_iter()
            .map(|f| (f.finding.fingerprint.clone(), f))
            .collect();
        let seen = stamp(now);
        let mut delta = FindingsDelta::default();
        let mut handled = std::collections::HashSet::new();
        for finding in current {
            if !handled.insert(finding.fingerprint.as_str()) {
                continue;
            }
            let body = to_json(finding, "finding")?;
            if let Some(known) = open.remove(&finding.fingerprint) {
                sqlx::query(
                    "UPDATE findings SET body = $1, path = $2, severity_rank = $3, last_seen = $4 \
                     WHERE id = $5",
                )
                .bind(&body)
                .bind(finding.path.to_string())
                .bind(severity_rank(finding.severity))
                .bind(&seen)
                .bind(known.id)
                .execute(&mut *tx)
                .await
                .map_err(query_error)?;
                delta.still_open.push(StoredFinding {
                    finding: finding.clone(),
                    last_seen: now,
                    ..known
                });
            } else {
                let id: i64 = sqlx::query(
                    "INSERT INTO findings (kind, scope, source, fingerprint, path, severity_rank, \
                     body, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                     RETURNING id",
                )
                .bind(scope.kind.as_str())
                .bind(&scope.name)
                .bind(&scope.source)
                .bind(&finding.fingerprint)
                .bind(finding.path.to_string())
                .bind(severity_rank(finding.severity))
                .bind(&body)
                .bind(&seen)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(query_error)?;
                record_event(&mut tx, id, "opened", &seen).await?;
                delta.opened.push(StoredFinding {
                    id,
                    kind: scope.kind,
                    scope: scope.name.clone(),
                    finding: finding.clone(),
                    first_seen: now,
                    last_seen: now,
                    resolved_at: None,
                    resolution: None,
                });
            }
        }
        if auto_resolve {
            let mut gone: Vec<StoredFinding> = open.into_values().collect();
            gone.sort_by_key(|f| f.id);
            for mut finding in gone {
                mark_resolved(&mut tx, finding.id, &seen, FIXED).await?;
                finding.resolved_at = Some(now);
                finding.resolution = Some(FIXED.into());
                delta.resolved.push(finding);
            }
        }
        tx.commit().await.map_err(query_error)?;
        Ok(delta)
    }

    /// Findings matching `filter`, most severe first.
    pub async fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(query_error)?;
        select(&mut conn, filter).await
    }

    /// Resolves the open findings matching `filter` (acknowledgement), returning them.
    pub async fn resolve_findings(
        &self,
        filter: &FindingFilter,
        resolution: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        let _writer = self.write.lock().await;
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        self.order_outbox(&mut tx).await?;
        let filter = FindingFilter {
            state: Some(FindingState::Open),
            ..filter.clone()
        };
        let mut found = select(&mut tx, &filter).await?;
        let at = stamp(now);
        for finding in &mut found {
            mark_resolved(&mut tx, finding.id, &at, resolution).await?;
            finding.resolved_at = Some(now);
            finding.resolution = Some(resolution.into());
        }
        tx.commit().await.map_err(query_error)?;
        Ok(found)
    }
}

async fn mark_resolved(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    at: &str,
    resolution: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE findings SET resolved_at = $1, resolution = $2 WHERE id = $3")
        .bind(at)
        .bind(resolution)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(query_error)?;
    record_event(tx, id, "resolved", at).await
}

/// Appends to the outbox in the caller's transaction: an event exists iff its change does.
async fn record_event(
    tx: &mut Transaction<'_, Any>,
    finding_id: i64,
    event: &str,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO finding_events (finding_id, event, at) VALUES ($1, $2, $3)")
        .bind(finding_id)
        .bind(event)
        .bind(at)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(query_error)
}

pub(super) async fn select(
    conn: &mut sqlx::AnyConnection,
    filter: &FindingFilter,
) -> Result<Vec<StoredFinding>, StoreError> {
    let state = filter.state.map(|s| match s {
        FindingState::Open => "open",
        FindingState::Resolved => "resolved",
    });
    let sql = format!(
        "SELECT {COLUMNS} FROM findings \
         WHERE ($1 IS NULL OR kind = $1) AND ($2 IS NULL OR scope = $2) \
         AND ($3 IS NULL OR source = $3) AND severity_rank >= $4 \
         AND ($5 IS NULL OR ($5 = 'open' AND resolved_at IS NULL) \
              OR ($5 = 'resolved' AND resolved_at IS NOT NULL)) \
         AND ($6 IS NULL OR fingerprint = $6) AND ($7 IS NULL OR resolved_at >= $7) \
         ORDER BY severity_rank DESC, scope, source, path, id LIMIT $8"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(filter.kind.map(FindingKind::as_str))
        .bind(filter.scope.as_deref())
        .bind(filter.source.as_deref())
        .bind(filter.min_severity.map_or(0, severity_rank))
        .bind(state)
        .bind(filter.fingerprint.as_deref())
        .bind(filter.resolved_after.map(stamp))
        .bind(if filter.limit > 0 {
            filter.limit
        } else {
            i64::MAX
        })
        .fetch_all(&mut *conn)
        .await
        .map_err(query_error)?;
    rows.iter().map(from_row).collect()
}

pub(super) fn from_row(row: &AnyRow) -> Result<StoredFinding, StoreError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(query_error);
    let optional = |name: &str| row.try_get::<Option<String>, _>(name).map_err(query_error);
    let kind = match text("kind")?.as_str() {
        "pair" => FindingKind::Pair,
        "changed-since-last" => FindingKind::ChangedSinceLast,
        other => {
            return Err(StoreError::Query(format!(
                "unknown finding kind {other:?} in the store"
            )))
        }
    };
    Ok(StoredFinding {
        id: row.try_get("id").map_err(query_error)?,
        kind,
        scope: text("scope")?,
        finding: from_json(&text("body")?, "finding")?,
        first_seen: parse_stamp(&text("first_seen")?)?,
        last_seen: parse_stamp(&text("last_seen")?)?,
        resolved_at: optional("resolved_at")?
            .as_deref()
            .map(parse_stamp)
            .transpose()?,
        resolution: optional("resolution")?,
    })
}
