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

    /// Only the scheme and host of a URL (`https://hooks.example.com/…`), for URLs whose path
    /// or query is itself the credential (chat webhooks); `***` when it is not a URL.
    pub fn origin(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "***".to_string();
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        // User-info (`user:password@`) is a credential too.
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let tail = if end < rest.len() { "/…" } else { "" };
        format!("{scheme}://{host}{tail}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_keeps_only_scheme_and_host() {
        let hook = Secret::new("https://hooks.example.com/services/T0/B0/XyZ?x=1");
        assert_eq!(hook.origin(), "https://hooks.example.com/…");
        let basic = Secret::new("http://am:pw@127.0.0.1:9093");
        assert_eq!(basic.origin(), "http://127.0.0.1:9093");
        assert_eq!(Secret::new("not a url").origin(), "***");
        assert_eq!(format!("{hook} {hook:?}"), "*** Secret(***)");
    }
}
