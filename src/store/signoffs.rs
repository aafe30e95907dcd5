//! Sign-off records: appended, never changed; the newest per pair is the one in force.

use sqlx::Row;

use super::{from_json, query_error, stamp, to_json, Store, StoreError};
use crate::signoff::Signoff;

impl Store {
    /// Records a sign-off; returns it with its id.
    pub async fn save_signoff(&self, signoff: &Signoff) -> Result<Signoff, StoreError> {
        let _writer = self.write.lock().await;
        let body = to_json(signoff, "sign-off")?;
        let id: i64 = sqlx::query(
            "INSERT INTO signoffs (pair, signed_by, at, body) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&signoff.pair)
        .bind(&signoff.by)
        .bind(stamp(signoff.at))
        .bind(&body)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(query_error)?;
        Ok(Signoff {
            id,
            ..signoff.clone()
        })
    }

    /// Sign-offs of `pair` (all pairs when `None`), newest first.
    pub async fn signoffs(
        &self,
        pair: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Signoff>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, body FROM signoffs WHERE ($1 IS NULL OR pair = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(pair)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        rows.iter().map(signoff_from_row).collect()
    }

    /// The sign-off in force for `pair`: the newest.
    pub async fn latest_signoff(&self, pair: &str) -> Result<Option<Signoff>, StoreError> {
        Ok(self.signoffs(Some(pair), 1).await?.into_iter().next())
    }

    /// The newest sign-off of every pair that has one.
    pub async fn latest_signoffs(&self) -> Result<Vec<Signoff>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.body FROM signoffs s \
             JOIN (SELECT pair, MAX(id) AS id FROM signoffs GROUP BY pair) l ON l.id = s.id \
             ORDER BY s.pair",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        rows.iter().map(signoff_from_row).collect()
    }
}

fn signoff_from_row(row: &sqlx::any::AnyRow) -> Result<Signoff, StoreError> {
    let id: i64 = row.try_get("id").map_err(query_error)?;
    let body: String = row.try_get("body").map_err(query_error)?;
    let signoff: Signoff = from_json(&body, "sign-off")?;
    Ok(Signoff { id, ..signoff })
}
