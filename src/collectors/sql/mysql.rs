//! mysql collector (placeholder until the collector lands).

use crate::collectors::CollectError;
use crate::config::{Secret, SqlOptions};
use crate::snapshot::Tree;

/// Collects schema, migrations, settings and row counts through a read-only session.
pub async fn collect(url: &Secret, _options: &SqlOptions) -> Result<Tree, CollectError> {
    Err(CollectError::query(
        url.redacted(),
        "the mysql collector is not built yet",
    ))
}
