//! Leases that let several daemon replicas share one store without doing the same work twice:
//! a lease names a unit of work (a source group, an alert sink, a replica's heartbeat) and the
//! replica that holds it until `expires_at`. Claiming is one atomic upsert, so two replicas
//! racing for an expired lease never both win, on PostgreSQL or SQLite.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{parse_stamp, query_error, stamp, Store, StoreError};

/// One lease as stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lease {
    /// What it covers (`source/<name>`, `alerts/<sink>`, `replica/<id>`, …).
    pub name: String,
    /// The replica holding it.
    pub holder: String,
    /// When the holder took it.
    pub acquired_at: DateTime<Utc>,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the lease until the given time.
    Held,
    /// Another replica holds it.
    Elsewhere(String),
}

impl Store {
    /// Takes or renews lease `name` for `holder` until `until`; it succeeds when the lease is
    /// free, expired at `now`, or already the holder's.
    pub async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let _writer = self.write.lock().await;
        // The WHERE of DO UPDATE is evaluated on the row as it is after any concurrent
        // claim commits, so of two racing replicas exactly one updates it.
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             acquired_at = CASE WHEN leases.holder = excluded.holder \
                 THEN leases.acquired_at ELSE excluded.acquired_at END, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < excluded.acquired_at",
        )
        .bind(name)
        .bind(holder)
        .bind(stamp(now))
        .bind(stamp(until))
        .execute(&self.pool)
        .await
        .map_err(query_error)?;
        if done.rows_affected() > 0 {
            return Ok(Claim::Held);
        }
        let row = sqlx::query("SELECT holder FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error)?;
        match row {
            Some(row) => Ok(Claim::Elsewhere(row.try_get(0).map_err(query_error)?)),
            // Released between the two statements: free for the next attempt.
            None => Ok(Claim::Elsewhere(String::new())),
        }
    }

    /// Extends every lease `holder` still has to `until`; returns how many it has.
    pub async fn renew_leases(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let _writer = self.write.lock().await;
        // An expired lease is not renewed: someone else may have been promised it.
        sqlx::query("UPDATE leases SET expires_at = $1 WHERE holder = $2 AND expires_at >= $3")
            .bind(stamp(until))
            .bind(holder)
            .bind(stamp(now))
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(query_error)
    }

    /// Gives up every lease of `holder` (on a clean shutdown, so others take over at once).
    pub async fn release_leases(&self, holder: &str) -> Result<u64, StoreError> {
        let _writer = self.write.lock().await;
        sqlx::query("DELETE FROM leases WHERE holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(query_error)
    }

    /// Gives up one lease if `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let _writer = self.write.lock().await;
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(query_error)
    }

    /// Leases in force at `now`, by name.
    pub async fn leases(&self, now: DateTime<Utc>) -> Result<Vec<Lease>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, holder, acquired_at, expires_at FROM leases \
             WHERE expires_at >= $1 ORDER BY name",
        )
        .bind(stamp(now))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        rows.iter()
            .map(|row| {
                Ok(Lease {
                    name: row.try_get("name").map_err(query_error)?,
                    holder: row.try_get("holder").map_err(query_error)?,
                    acquired_at: parse_stamp(
                        &row.try_get::<String, _>("acquired_at")
                            .map_err(query_error)?,
                    )?,
                    expires_at: parse_stamp(
                        &row.try_get::<String, _>("expires_at")
                            .map_err(query_error)?,
                    )?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = Store::open(&url).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_lease_is_held_by_one_replica_until_it_expires() {
        let (_dir, store) = store().await;
        let t0 = Utc::now();
        let until = t0 + Duration::seconds(30);
        assert_eq!(
            store
                .claim_lease("source/appdb", "a", t0, until)
                .await
                .unwrap(),
            Claim::Held
        );
        // Renewing is claiming again.
        assert_eq!(
            store
                .claim_lease("source/appdb", "a", t0, until)
                .await
                .unwrap(),
            Claim::Held
        );
        assert_eq!(
            store
                .claim_lease("source/appdb", "b", t0, until)
                .await
                .unwrap(),
            Claim::Elsewhere("a".into())
        );
        // Past its expiry, b takes it, and a no longer can.
        let later = until + Duration::seconds(1);
        let later_until = later + Duration::seconds(30);
        assert_eq!(
            store
                .claim_lease("source/appdb", "b", later, later_until)
                .await
                .unwrap(),
            Claim::Held
        );
        assert_eq!(
            store
                .claim_lease("source/appdb", "a", later, later_until)
                .await
                .unwrap(),
            Claim::Elsewhere("b".into())
        );
        let leases = store.leases(later).await.unwrap();
        assert_eq!(leases.len(), 1);
        assert_eq!(leases[0].holder, "b");
    }

    #[tokio::test]
    async fn renewal_extends_only_live_leases_and_release_frees_them() {
        let (_dir, store) = store().await;
        let t0 = Utc::now();
        let short = t0 + Duration::seconds(5);
        store.claim_lease("one", "a", t0, short).await.unwrap();
        store.claim_lease("two", "a", t0, short).await.unwrap();
        store.claim_lease("three", "b", t0, short).await.unwrap();
        let t1 = t0 + Duration::seconds(3);
        assert_eq!(
            store
                .renew_leases("a", t1, t1 + Duration::seconds(5))
                .await
                .unwrap(),
            2
        );
        // At t0 + 7 only a's renewed leases are in force.
        let t2 = t0 + Duration::seconds(7);
        let names: Vec<String> = store
            .leases(t2)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["one", "two"]);
        // An expired lease is not renewed behind a claimant's back.
        assert_eq!(
            store
                .renew_leases("b", t2, t2 + Duration::seconds(5))
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.release_leases("a").await.unwrap(), 2);
        assert_eq!(
            store
                .claim_lease("one", "b", t2, t2 + Duration::seconds(5))
                .await
                .unwrap(),
            Claim::Held
        );
    }
}
