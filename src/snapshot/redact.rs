//! Secret hygiene at collection time: secret-looking leaves become a keyed hash.
//!
//! A changed secret is still drift (the hash changes) but the value never leaves the collector.
//! The key is per installation, so hashes cannot be brute-forced from output alone.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::tree::Node;

/// Key fragments that mark a leaf as secret, matched case-insensitively ignoring `_`, `-`, `.`.
pub const DEFAULT_SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
    "dsn",
    "auth",
    "cookie",
    "session_key",
    "signing_key",
    "encryption_key",
    "access_key",
];

/// Prefix of every redacted value, so output readers know what they see.
pub const REDACTED_PREFIX: &str = "redacted:hmac-sha256:";

/// Replaces secret-looking leaves and URL passwords by keyed hashes.
#[derive(Clone)]
pub struct Redactor {
    key: Vec<u8>,
    patterns: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.patterns)
            .finish_non_exhaustive()
    }
}

fn normalise_key(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Redactor {
    /// A redactor with the given HMAC key and key patterns.
    pub fn new(key: Vec<u8>, patterns: &[String]) -> Self {
        let patterns = patterns
            .iter()
            .map(|p| normalise_key(p))
            .filter(|p| !p.is_empty())
            .collect();
        Redactor { key, patterns }
    }

    /// Whether a map key looks like it holds a secret.
    pub fn is_secret_key(&self, key: &str) -> bool {
        let key = normalise_key(key);
        self.patterns.iter().any(|p| key.contains(p.as_str()))
    }

    /// The keyed hash that stands for `value` in output.
    pub fn hash(&self, value: &str) -> String {
        // HMAC accepts keys of any length, so the error arm is unreachable in practice.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) else {
            return "unkeyed".to_string();
        };
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..12])
    }

    /// Redacts a whole tree in place.
    pub fn redact(&self, node: &mut Node) {
        self.redact_node(node, false);
    }

    fn redact_node(&self, node: &mut Node, secret: bool) {
        match node {
            Node::Map(map) => {
                for (key, child) in map.iter_mut() {
                    let secret = secret || self.is_secret_key(key);
                    self.redact_node(child, secret);
                }
            }
            Node::List(items) => items.iter_mut().for_each(|c| self.redact_node(c, secret)),
            Node::Null => {}
            leaf if secret => {
                let text = match &*leaf {
                    Node::Str(s) => s.clone(),
                    other => other.to_string(),
                };
                // An empty secret is a fact worth seeing (a missing password), not a secret.
                if !text.is_empty() {
                    *leaf = Node::Str(format!("{REDACTED_PREFIX}{}", self.hash(&text)));
                }
            }
            Node::Str(s) => {
                if let Some(masked) = self.mask_text(s) {
                    *s = masked;
                }
            }
            _ => {}
        }
    }

    /// Masks passwords inside free text: `scheme://user:PASSWORD@host` and `password=…` pairs.
    /// Returns `None` when nothing was masked.
    pub fn mask_text(&self, text: &str) -> Option<String> {
        mask_secrets_in_text(text, &|secret| {
            format!("{REDACTED_PREFIX}{}", self.hash(secret))
        })
    }
}

/// Masks URL passwords and `password=` pairs with `***` (for logs and error messages, which
/// need no hash).
pub fn mask_for_log(text: &str) -> String {
    mask_secrets_in_text(text, &|_| "***".to_string()).unwrap_or_else(|| text.to_string())
}

/// Keys of `key=value` pairs whose value is a secret; they match as the end of a longer key
/// too (`db_password=`, `access_token=`, `client_secret=`), as URL queries and connection
/// strings write them.
const KV_SECRET_KEYS: &[&str] = &[
    "password=",
    "pwd=",
    "passwd=",
    "secret=",
    "token=",
    "api_key=",
    "apikey=",
];

/// Where the authority really ends when a password holds an unencoded `/`, `?` or `#` (base64
/// passwords often hold `/`), which ended the scan early: `user:pass/word@host`. A `:` followed
/// by anything but a port number, then an `@` further on, marks it. `None` when it is not so.
fn unencoded_userinfo_end(tail: &str, authority_end: usize) -> Option<usize> {
    let authority = &tail[..authority_end];
    // IPv6 literals are full of colons and never hold user-info in brackets.
    if authority.starts_with('[') {
        return None;
    }
    let colon = authority.find(':')?;
    let after_colon = &authority[colon + 1..];
    if !after_colon.is_empty() && after_colon.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text_end = tail
        .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .unwrap_or(tail.len());
    let at = authority_end + tail[authority_end..text_end].find('@')?;
    let host_end = tail[at..text_end]
        .find(['/', '?', '#'])
        .map_or(text_end, |i| at + i);
    Some(host_end)
}

fn mask_secrets_in_text(text: &str, replace: &dyn Fn(&str) -> String) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    // URL user-info passwords: scheme://user:password@host
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(tail.len());
        let authority_end = if tail[..authority_end].contains('@') {
            authority_end
        } else {
            unencoded_userinfo_end(tail, authority_end).unwrap_or(authority_end)
        };
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) if colon + 1 < userinfo.len() => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(&replace(&userinfo[colon + 1..]));
                        out.push_str(&authority[at..]);
                        changed = true;
                    }
                    _ => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    // key=value secrets in connection strings (libpq, JDBC, ODBC).
    let lower = out.to_ascii_lowercase();
    let mut result = String::with_capacity(out.len());
    let mut cursor = 0;
    let mut search_from = 0;
    while let Some((start, key)) = KV_SECRET_KEYS
        .iter()
        .filter_map(|k| lower[search_from..].find(k).map(|i| (search_from + i, *k)))
        .min_by_key(|(i, _)| *i)
    {
        // `access_token=` is a secret key, `mytoken=` is not: the key may follow a separator
        // inside a longer name, never a letter.
        let at_boundary = start == 0
            || !lower[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        let value_start = start + key.len();
        let value_end = out[value_start..]
            .find(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == ',')
            .map_or(out.len(), |i| value_start + i);
        search_from = value_end.max(value_start);
        if !at_boundary
            || value_end == value_start
            || out[value_start..value_end].starts_with(REDACTED_PREFIX)
        {
            continue;
        }
        result.push_str(&out[cursor..value_start]);
        result.push_str(&replace(&out[value_start..value_end]));
        cursor = value_end;
        changed = true;
        if search_from >= out.len() {
            break;
        }
    }
    result.push_str(&out[cursor..]);
    changed.then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        let patterns: Vec<String> = DEFAULT_SECRET_KEYS.iter().map(|s| s.to_string()).collect();
        Redactor::new(b"test-key".to_vec(), &patterns)
    }

    #[test]
    fn secret_keys_are_hashed_and_changes_stay_visible() {
        let r = redactor();
        let mut a = Node::from_json(serde_json::json!({
            "db": {"Password": "hunter2", "host": "db1"},
            "STRIPE_API_KEY": "sk_live_1",
            "secrets": {"nested": ["x", "y"]},
        }))
        .unwrap();
        let mut b = a.clone();
        b.entry("db").insert("Password", "hunter3");
        r.redact(&mut a);
        r.redact(&mut b);
        let text = a.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("sk_live_1") && !text.contains("\"x\"")
        );
        assert!(text.contains("\"host\":\"db1\""));
        assert_ne!(a, b, "a changed secret must still be drift");
    }

    #[test]
    fn url_and_key_value_passwords_are_masked() {
        let r = redactor();
        let masked = r
            .mask_text("postgres://app:s3cr3t@db:5432/shop?sslmode=require")
            .unwrap();
        assert!(!masked.contains("s3cr3t"));
        assert!(masked.starts_with("postgres://app:redacted:hmac-sha256:"));
        assert!(masked.ends_with("@db:5432/shop?sslmode=require"));
        let kv = mask_for_log("host=db user=app password=s3cr3t dbname=shop");
        assert_eq!(kv, "host=db user=app password=*** dbname=shop");
        let query = mask_for_log("https://api/x?access_token=t0k&client_secret=c&db_password=p");
        assert_eq!(
            query,
            "https://api/x?access_token=***&client_secret=***&db_password=***"
        );
        assert_eq!(mask_for_log("mytoken=visible"), "mytoken=visible");
        // A base64 password nobody percent-encoded: `/`, `+` and `=` in the user-info.
        assert_eq!(
            mask_for_log("postgres://app:ab/c+d=@db:5432/shop?x=1 next"),
            "postgres://app:***@db:5432/shop?x=1 next"
        );
        assert_eq!(
            mask_for_log("mysql://app:/lead#ing@db/shop"),
            "mysql://app:***@db/shop"
        );
        // Ports, paths holding `@` and IPv6 literals are left alone.
        for text in [
            "https://host:8080/users/@me",
            "https://medium.com/@someone",
            "http://[::1]:80/x@y",
        ] {
            assert_eq!(mask_for_log(text), text);
        }
        assert_eq!(r.mask_text("https://example.com/x"), None);
        assert_eq!(r.mask_text("user@example.com"), None);
    }

    #[test]
    fn hash_depends_on_installation_key() {
        let a = Redactor::new(b"one".to_vec(), &[]);
        let b = Redactor::new(b"two".to_vec(), &[]);
        assert_ne!(a.hash("pw"), b.hash("pw"));
        assert_eq!(a.hash("pw"), a.hash("pw"));
    }
}
