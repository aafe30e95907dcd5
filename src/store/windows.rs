//! Deploy windows: "a deploy of ENV is under way until T".

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{parse_stamp, query_error, stamp, DeployWindow, Store, StoreError};

impl Store {
    /// Records a deploy window.
    pub async fn add_deploy_window(
        &self,
        environment: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        note: &str,
    ) -> Result<DeployWindow, StoreError> {
        let _writer = self.write.lock().await;
        let id: i64 = sqlx::query(
            "INSERT INTO deploy_windows (environment, starts_at, ends_at, note) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(environment)
        .bind(stamp(starts_at))
        .bind(stamp(ends_at))
        .bind(note)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(query_error)?;
        Ok(DeployWindow {
            id,
            environment: environment.into(),
            starts_at,
            ends_at,
            note: note.into(),
        })
    }

    /// The windows open at `at`.
    pub async fn active_deploy_windows(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<DeployWindow>, StoreError> {
        let at = stamp(at);
        let rows = sqlx::query(
            "SELECT id, environment, starts_at, ends_at, note FROM deploy_windows \
             WHERE starts_at <= $1 AND ends_at > $1 ORDER BY id",
        )
        .bind(&at)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        rows.iter()
            .map(|row| {
                let text = |name: &str| row.try_get::<String, _>(name).map_err(query_error);
                Ok(DeployWindow {
                    id: row.try_get("id").map_err(query_error)?,
                    environment: text("environment")?,
                    starts_at: parse_stamp(&text("starts_at")?)?,
                    ends_at: parse_stamp(&text("ends_at")?)?,
                    note: text("note")?,
                })
            })
            .collect()
    }
}
