//! Bounded reads of the files the config points at (the config itself, rules, secrets).
//!
//! A mistyped path can name a database dump, a log or a device (`/dev/zero`, a FIFO): reads
//! stop at a cap instead of filling memory, and text that is not UTF-8 is refused at its first
//! bad byte instead of with a bare "stream did not contain valid UTF-8".

use std::io::Read;
use std::path::Path;

use super::error::line_col;
use super::ConfigError;

/// Largest `driftwarden.toml` or rules file read (real ones are kilobytes).
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Largest secret file read (`url_file`, `header_files`, `token_file`, `secret_file`).
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a text file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file holds more than the cap.
    #[error("the file is larger than {} (is this the right file?)", size(*limit))]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The bytes are not UTF-8; line and column of the first bad byte.
    #[error("the file is not UTF-8 text (a binary file? save it as UTF-8)")]
    NotUtf8 {
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based column (in characters) of the first bad byte.
        column: usize,
    },
}

impl ReadError {
    /// A config error for `file` with `what` ("cannot read config file") and a hint for I/O
    /// failures; cap and encoding errors carry their own advice and location.
    pub fn into_config_error(self, file: &Path, what: &str, io_hint: &str) -> ConfigError {
        match self {
            ReadError::NotUtf8 { line, column } => ConfigError {
                file: file.to_path_buf(),
                line: Some(line),
                column: Some(column),
                message: format!("{what}: {self}"),
                hint: None,
            },
            ReadError::TooLarge { .. } => ConfigError::file(file, format!("{what}: {self}"), None),
            ReadError::Io(_) => {
                ConfigError::file(file, format!("{what}: {self}"), Some(io_hint.to_string()))
            }
        }
    }
}

/// `1 MiB` for whole mebibytes, `1000 bytes` otherwise.
pub fn size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads `path` as UTF-8 text, refusing more than `max_bytes` without reading further.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    // Read one byte past the cap to tell "exactly the cap" from "more".
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge { limit: max_bytes });
    }
    String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]);
        let (line, column) = line_col(&prefix, prefix.len());
        ReadError::NotUtf8 { line, column }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_up_to_the_cap_and_refuses_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(&path, "a = 1\n").unwrap();
        assert_eq!(read_text(&path, 6).unwrap(), "a = 1\n");
        assert!(matches!(
            read_text(&path, 5),
            Err(ReadError::TooLarge { limit: 5 })
        ));
    }

    #[test]
    fn invalid_utf8_is_located_at_the_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(&path, b"a = 1\nb = \"\xc3\xa9\xff\"\n").unwrap();
        let err = read_text(&path, 100).unwrap_err();
        assert!(
            matches!(err, ReadError::NotUtf8 { line: 2, column: 7 }),
            "{err:?}"
        );
        let config = err.into_config_error(&path, "cannot read config file", "h");
        assert_eq!((config.line, config.column), (Some(2), Some(7)));
        assert!(config.to_string().contains("not UTF-8"), "{config}");
    }

    #[test]
    fn a_device_that_never_ends_stops_at_the_cap() {
        let zero = Path::new("/dev/zero");
        if zero.exists() {
            assert!(matches!(
                read_text(zero, 1024),
                Err(ReadError::TooLarge { limit: 1024 })
            ));
        }
    }

    #[test]
    fn sizes_read_in_the_largest_whole_unit() {
        assert_eq!(size(4 * 1024 * 1024), "4 MiB");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
