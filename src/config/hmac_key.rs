//! The per-installation HMAC key that secret hashes are made with.

use std::io::Write;
use std::path::Path;

use super::ConfigError;

/// Environment variable that supplies the key instead of the key file (e.g. from a Secret).
pub const KEY_ENV: &str = "DRIFTWARDEN_HMAC_KEY";

/// Reads the key from `DRIFTWARDEN_HMAC_KEY` or `file`, creating the file (mode 0600) with 32
/// random bytes on first use, so hashes stay comparable across runs of one installation.
pub fn load_or_create(file: &Path) -> Result<Vec<u8>, ConfigError> {
    if let Ok(key) = std::env::var(KEY_ENV) {
        if !key.is_empty() {
            return Ok(key.into_bytes());
        }
    }
    match std::fs::read(file) {
        Ok(bytes) if !bytes.is_empty() => return Ok(bytes),
        Ok(_) => {
            return Err(ConfigError::file(
                file,
                "HMAC key file is empty",
                Some(format!(
                    "delete it to have a new key made, or set {KEY_ENV}"
                )),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ConfigError::file(
                file,
                format!("cannot read HMAC key file: {e}"),
                Some(format!("fix its permissions or set {KEY_ENV}")),
            ))
        }
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| ConfigError::file(file, format!("cannot make a random key: {e}"), None))?;
    let encoded = hex::encode(key);
    write_private(file, encoded.as_bytes()).map_err(|e| {
        ConfigError::file(
            file,
            format!("cannot create HMAC key file: {e}"),
            Some(format!(
                "make the state directory writable (state_dir in the config) or set {KEY_ENV}"
            )),
        )
    })?;
    Ok(encoded.into_bytes())
}

fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut handle = options.open(file)?;
    handle.write_all(bytes)?;
    handle.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/hmac.key");
        let first = load_or_create(&file).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create(&file).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
