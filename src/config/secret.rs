//! `Secret`: a string that never prints itself.

use std::fmt;

/// A credential-bearing string (a URL with a password, a header value). `Debug` and `Display`
/// show `***`; only [`Secret::expose`] gives the value, at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value with any password masked, safe for logs and messages.
    pub fn redacted(&self) -> String {
        crate::snapshot::redact::mask_for_log(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
