//! The outbox of finding events, read by event sinks (webhooks) with a durable cursor each:
//! a sink confirms delivery by advancing its cursor, so a restart resends only what was not
//! confirmed, and a receiver outage loses nothing.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::findings::from_row;
use super::{parse_stamp, query_error, Store, StoreError, StoredFinding};

/// A finding opened or resolved.
#[derive(Debug, Clone)]
pub struct FindingEvent {
    /// Position in the outbox (increasing).
    pub id: i64,
    /// `opened` or `resolved`.
    pub event: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The finding as it is now.
    pub finding: StoredFinding,
}

impl Store {
    /// The last event `sink` confirmed. A sink seen for the first time starts at the current
    /// end of the outbox: it is told about changes from now on, not about history.
    pub async fn sink_cursor(&self, sink: &str) -> Result<i64, StoreError> {
        let _writer = self.write.lock().await;
        let row = sqlx::query("SELECT last_event_id FROM sink_cursors WHERE sink = $1")
            .bind(sink)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error)?;
        if let Some(row) = row {
            return row.try_get(0).map_err(query_error);
        }
        let end: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS end_id FROM finding_events")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(query_error)?;
        // Replicas sharing the store may start together: the first one's row wins.
        sqlx::query(
            "INSERT INTO sink_cursors (sink, last_event_id) VALUES ($1, $2) \
             ON CONFLICT (sink) DO NOTHING",
        )
        .bind(sink)
        .bind(end)
        .execute(&self.pool)
        .await
        .map_err(query_error)?;
        sqlx::query("SELECT last_event_id FROM sink_cursors WHERE sink = $1")
            .bind(sink)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(query_error)
    }

    /// Records that `sink` delivered every event up to `event_id`.
    pub async fn advance_sink_cursor(&self, sink: &str, event_id: i64) -> Result<(), StoreError> {
        let _writer = self.write.lock().await;
        sqlx::query(
            "UPDATE sink_cursors SET last_event_id = $1 WHERE sink = $2 AND last_event_id < $1",
        )
        .bind(event_id)
        .bind(sink)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(query_error)
    }

    /// Events after `after`, oldest first.
    pub async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FindingEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.id, f.kind, f.scope, f.body, f.first_seen, f.last_seen, f.resolved_at, \
             f.resolution, e.id AS event_id, e.event, e.at AS event_at \
             FROM finding_events e JOIN findings f ON f.id = e.finding_id \
             WHERE e.id > $1 ORDER BY e.id LIMIT $2",
        )
        .bind(after)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        rows.iter()
            .map(|row| {
                Ok(FindingEvent {
                    id: row.try_get("event_id").map_err(query_error)?,
                    event: row.try_get("event").map_err(query_error)?,
                    at: parse_stamp(&row.try_get::<String, _>("event_at").map_err(query_error)?)?,
                    finding: from_row(row)?,
                })
            })
            .collect()
    }
}
