//! Snapshots: one row per distinct content of a source, trees stored once per hash.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    from_json, parse_stamp, query_error, stamp, to_json, SavedSnapshot, SnapshotMeta, Store,
    StoreError,
};
use crate::snapshot::{Snapshot, Tree};

const META_COLUMNS: &str =
    "id, environment, source, hash, taken_at, last_seen_at, duration_seconds, leaves";

impl Store {
    /// Stores a snapshot. When its content equals the source's latest, only that row's
    /// `last_seen_at` moves (`is_new` false); otherwise a new row is added.
    pub async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SavedSnapshot, StoreError> {
        let _writer = self.write.lock().await;
        let previous = self
            .latest_meta(&snapshot.environment, &snapshot.source)
            .await?;
        let seen = stamp(snapshot.taken_at);
        if let Some(previous) = previous.as_ref().filter(|p| p.hash == snapshot.hash) {
            sqlx::query("UPDATE snapshots SET last_seen_at = $1 WHERE id = $2")
                .bind(&seen)
                .bind(previous.id)
                .execute(&self.pool)
                .await
                .map_err(query_error)?;
            let mut meta = previous.clone();
            meta.last_seen_at = snapshot.taken_at;
            return Ok(SavedSnapshot {
                meta,
                is_new: false,
                previous: Some(previous.clone()),
            });
        }
        let body = to_json(&snapshot.tree, "snapshot tree")?;
        let leaves = i64::try_from(snapshot.tree.leaf_count()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        sqlx::query("INSERT INTO trees (hash, body) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING")
            .bind(&snapshot.hash)
            .bind(&body)
            .execute(&mut *tx)
            .await
            .map_err(query_error)?;
        let id: i64 = sqlx::query(
            "INSERT INTO snapshots (environment, source, hash, taken_at, last_seen_at, duration_seconds, leaves) \
             VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING id",
        )
        .bind(&snapshot.environment)
        .bind(&snapshot.source)
        .bind(&snapshot.hash)
        .bind(&seen)
        .bind(snapshot.duration_seconds)
        .bind(leaves)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(SavedSnapshot {
            meta: SnapshotMeta {
                id,
                environment: snapshot.environment.clone(),
                source: snapshot.source.clone(),
                hash: snapshot.hash.clone(),
                taken_at: snapshot.taken_at,
                last_seen_at: snapshot.taken_at,
                duration_seconds: snapshot.duration_seconds,
                leaves,
            },
            is_new: true,
            previous,
        })
    }

    /// The latest snapshot of a source, with its tree.
    pub async fn latest_snapshot(
        &self,
        environment: &str,
        source: &str,
    ) -> Result<Option<(SnapshotMeta, Tree)>, StoreError> {
        match self.latest_meta(environment, source).await? {
            Some(meta) => self.with_tree(meta).await.map(Some),
            None => Ok(None),
        }
    }

    /// One snapshot by id, with its tree.
    pub async fn snapshot(&self, id: i64) -> Result<Option<(SnapshotMeta, Tree)>, StoreError> {
        let sql = format!("SELECT {META_COLUMNS} FROM snapshots WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error)?;
        match row {
            Some(row) => self.with_tree(meta_from_row(&row)?).await.map(Some),
            None => Ok(None),
        }
    }

    /// Snapshot metadata, newest first, optionally of one environment and/or source.
    pub async fn snapshots(
        &self,
        environment: Option<&str>,
        source: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SnapshotMeta>, StoreError> {
        let sql = format!(
            "SELECT {META_COLUMNS} FROM snapshots \
             WHERE ($1 IS NULL OR environment = $1) AND ($2 IS NULL OR source = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(environment)
            .bind(source)
            .bind(limit.max(1))
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?;
        rows.iter().map(meta_from_row).collect()
    }

    /// Deletes history last seen before `older_than`: snapshots (never a source's latest),
    /// unreferenced trees, resolved findings and ended deploy windows. Returns rows deleted.
    pub async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let _writer = self.write.lock().await;
        let cutoff = stamp(older_than);
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        let mut deleted = 0;
        for (sql, bind_cutoff) in [
            (
                "DELETE FROM snapshots WHERE last_seen_at < $1 AND id NOT IN \
                 (SELECT MAX(id) FROM snapshots GROUP BY environment, source)",
                true,
            ),
            (
                "DELETE FROM trees WHERE hash NOT IN (SELECT hash FROM snapshots)",
                false,
            ),
            (
                "DELETE FROM findings WHERE resolved_at IS NOT NULL AND resolved_at < $1",
                true,
            ),
            ("DELETE FROM deploy_windows WHERE ends_at < $1", true),
            ("DELETE FROM finding_events WHERE at < $1", true),
        ] {
            let query = sqlx::query(sql);
            let query = if bind_cutoff {
                query.bind(&cutoff)
            } else {
                query
            };
            deleted += query
                .execute(&mut *tx)
                .await
                .map_err(query_error)?
                .rows_affected();
        }
        tx.commit().await.map_err(query_error)?;
        Ok(deleted)
    }

    /// The latest snapshot of a source, without its tree.
    pub async fn latest_meta(
        &self,
        environment: &str,
        source: &str,
    ) -> Result<Option<SnapshotMeta>, StoreError> {
        let sql = format!(
            "SELECT {META_COLUMNS} FROM snapshots WHERE environment = $1 AND source = $2 \
             ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(environment)
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error)?;
        row.as_ref().map(meta_from_row).transpose()
    }

    async fn with_tree(&self, meta: SnapshotMeta) -> Result<(SnapshotMeta, Tree), StoreError> {
        let body: String = sqlx::query("SELECT body FROM trees WHERE hash = $1")
            .bind(&meta.hash)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(query_error)?;
        let tree = from_json(&body, "snapshot tree")?;
        Ok((meta, tree))
    }
}

fn meta_from_row(row: &AnyRow) -> Result<SnapshotMeta, StoreError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(query_error);
    Ok(SnapshotMeta {
        id: row.try_get("id").map_err(query_error)?,
        environment: text("environment")?,
        source: text("source")?,
        hash: text("hash")?,
        taken_at: parse_stamp(&text("taken_at")?)?,
        last_seen_at: parse_stamp(&text("last_seen_at")?)?,
        duration_seconds: row.try_get("duration_seconds").map_err(query_error)?,
        leaves: row.try_get("leaves").map_err(query_error)?,
    })
}
