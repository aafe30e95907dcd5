//! ② The canonical model every stage shares: trees, paths, snapshots. Pure: no I/O.

pub mod hash;
pub mod path;
pub mod redact;
pub mod tree;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use path::Path;
pub use tree::{Node, Tree};

/// What one successful collection of one source produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// Environment the source belongs to.
    pub environment: String,
    /// Source name (shared by the environments compared).
    pub source: String,
    /// When the collection started.
    pub taken_at: DateTime<Utc>,
    /// How long it took, in seconds.
    pub duration_seconds: f64,
    /// Content hash of `tree`.
    pub hash: String,
    /// The canonical tree.
    pub tree: Tree,
}

impl Snapshot {
    /// Wraps a collected tree with its metadata and hash.
    pub fn new(
        environment: &str,
        source: &str,
        taken_at: DateTime<Utc>,
        duration_seconds: f64,
        tree: Tree,
    ) -> Self {
        Snapshot {
            environment: environment.to_string(),
            source: source.to_string(),
            taken_at,
            duration_seconds,
            hash: hash::content_hash(&tree),
            tree,
        }
    }
}
