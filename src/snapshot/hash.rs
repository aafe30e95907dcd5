//! Stable content hash of a tree over its canonical JSON serialisation.

use sha2::{Digest, Sha256};

use super::tree::Tree;

/// Hex SHA-256 of the canonical serialisation (maps are sorted, so equal trees hash equally).
pub fn content_hash(tree: &Tree) -> String {
    let mut hasher = Sha256::new();
    // Serialising our own Node type cannot fail: every variant maps onto JSON.
    if let Ok(bytes) = serde_json::to_vec(tree) {
        hasher.update(&bytes);
    }
    hex::encode(hasher.finalize())
}
