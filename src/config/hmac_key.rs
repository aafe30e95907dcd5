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
    let cannot = |e: std::io::Error| {
        ConfigError::file(
            file,
            format!("cannot create HMAC key file: {e}"),
            Some(format!(
                "make the state directory writable (state_dir in the config) or set {KEY_ENV}"
            )),
        )
    };
    match publish_private(file, encoded.as_bytes()) {
        Ok(true) => Ok(encoded.into_bytes()),
        // Another process (a replica starting at the same moment) made it first: use theirs.
        Ok(false) => std::fs::read(file).map_err(cannot),
        Err(e) => Err(cannot(e)),
    }
}

/// Writes `bytes` to a private temporary file and links it in place as `file`, so the key
/// file never exists half-written; `Ok(false)` when `file` appeared meanwhile.
fn publish_private(file: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(std::io::Error::other)?;
    let temporary = file.with_extension(format!("tmp-{}", hex::encode(suffix)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut handle| {
        handle.write_all(bytes)?;
        handle.sync_all()
    });
    // A hard link fails when the name exists: of several creators exactly one wins.
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, file));
    // The temporary name is ours alone; failing to remove it leaves only a stray file.
    std::fs::remove_file(&temporary).unwrap_or_default();
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
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

    #[test]
    fn replicas_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/hmac.key");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let keys: Vec<Vec<u8>> = (0..8)
            .map(|_| {
                let (file, barrier) = (file.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    load_or_create(&file).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0] && k.len() == 64));
        let left: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .unwrap()
            .collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}
