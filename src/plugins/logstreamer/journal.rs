//! A stream's journal: the position up to which the pipeline accepted the
//! stream's records, with enough about the file to find it again after a
//! restart, even when it was renamed or copied by rotation meanwhile. One
//! small JSON file per stream in `journal_directory`, replaced atomically
//! (written to `NAME.tmp`, synced, renamed over `NAME`).
//!
//! The format (version 1), one JSON object:
//!
//! ```json
//! {"version":1,"stream":"nginx.access","file":"/var/log/nginx/access.log",
//!  "dev":2049,"ino":131077,"offset":52311,
//!  "head_len":1024,"head_hash":"5d8a…","tail_len":256,"tail_hash":"a01f…"}
//! ```
//!
//! `offset` is the byte after the last accepted record. `head_*` is the
//! FNV-1a 64 hash (hex) of the file's first `head_len` bytes (up to
//! [`HEAD_LEN`], fewer while the file was shorter): it identifies the file's
//! content. `tail_*` hashes the `tail_len` bytes (up to [`TAIL_LEN`]) just
//! before `offset`, the last accepted record(s): it confirms the position.
//! `dev`/`ino` and `file` say where to look first.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Bytes at the start of a file that identify it.
pub const HEAD_LEN: usize = 1024;
/// Bytes before the journaled offset that confirm the position.
pub const TAIL_LEN: usize = 256;
/// The journal format this code writes and reads.
pub const VERSION: u32 = 1;

/// Why a journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is not a journal this code understands.
    #[error("{path}: not a version {VERSION} journal: {reason}")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One stream's saved position (see the module docs for the format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Always [`VERSION`].
    pub version: u32,
    /// The stream's name.
    pub stream: String,
    /// The file's path when the journal was written.
    pub file: String,
    /// The file's device.
    pub dev: u64,
    /// The file's inode.
    pub ino: u64,
    /// The byte after the last record the pipeline accepted.
    pub offset: u64,
    /// How many leading bytes `head_hash` covers.
    pub head_len: u64,
    /// FNV-1a 64 of those bytes, 16 hex digits.
    pub head_hash: String,
    /// How many bytes before `offset` `tail_hash` covers.
    pub tail_len: u64,
    /// FNV-1a 64 of those bytes, 16 hex digits.
    pub tail_hash: String,
}

/// FNV-1a, 64 bits: small, stable across builds and platforms (std's
/// hasher is not), and collisions only cost a re-read.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The hash as the journal writes it.
pub fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}

/// Up to `len` bytes of `file` from `offset` (fewer at its end).
pub fn read_window(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

impl Journal {
    /// The journal for `stream` at `offset` of the open `file` (at `path`,
    /// identified by `dev`/`ino`), whose first bytes are `head`.
    pub fn describe(
        stream: &str,
        path: &Path,
        id: super::scan::FileId,
        file: &File,
        head: &[u8],
        offset: u64,
    ) -> io::Result<Journal> {
        let tail_len = offset.min(TAIL_LEN as u64);
        let tail = read_window(file, offset - tail_len, tail_len as usize)?;
        Ok(Journal {
            version: VERSION,
            stream: stream.to_owned(),
            file: path.to_string_lossy().into_owned(),
            dev: id.dev,
            ino: id.ino,
            offset,
            head_len: head.len() as u64,
            head_hash: hex(fnv1a(head)),
            tail_len: tail.len() as u64,
            tail_hash: hex(fnv1a(&tail)),
        })
    }

    /// Whether `file` holds the journaled content up to `offset`: long
    /// enough, same first bytes, same bytes before the offset.
    pub fn matches(&self, file: &File) -> io::Result<bool> {
        let len = file.metadata()?.len();
        if len < self.offset.max(self.head_len) {
            return Ok(false);
        }
        let head = read_window(file, 0, self.head_len as usize)?;
        if hex(fnv1a(&head)) != self.head_hash {
            return Ok(false);
        }
        let start = self.offset.saturating_sub(self.tail_len);
        let tail = read_window(file, start, self.tail_len as usize)?;
        Ok(hex(fnv1a(&tail)) == self.tail_hash)
    }

    /// Reads the journal at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Journal>, JournalError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(JournalError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let corrupt = |reason: String| JournalError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let journal: Journal = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if journal.version != VERSION {
            return Err(corrupt(format!("version {}", journal.version)));
        }
        if journal.tail_len > journal.offset
            || journal.tail_len > TAIL_LEN as u64
            || journal.head_len > HEAD_LEN as u64
        {
            return Err(corrupt("head_len or tail_len out of range".into()));
        }
        Ok(Some(journal))
    }

    /// Replaces the journal at `path` atomically: a crash leaves the old
    /// journal or the new one, never a mix.
    pub fn store(&self, path: &Path) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut text = serde_json::to_vec(self).map_err(|e| io(io::Error::other(e)))?;
        text.push(b'\n');
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_data().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// The journal file of `stream` in `dir`: the name with anything but
/// letters, digits, `-`, `_` and inner dots replaced by `_`, plus a hash of
/// the real name when anything was replaced (so `a/b` and `a_b` differ).
pub fn path_for(dir: &Path, stream: &str) -> PathBuf {
    let mut name: String = stream
        .chars()
        .enumerate()
        .map(|(i, c)| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            '.' if i > 0 => c,
            _ => '_',
        })
        .collect();
    if name != stream || name.is_empty() {
        name.push('-');
        name.push_str(&hex(fnv1a(stream.as_bytes()))[..8]);
    }
    name.push_str(".journal");
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::logstreamer::scan::FileId;

    fn id(file: &File) -> FileId {
        FileId::of(&file.metadata().unwrap())
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_journal_round_trips_and_recognises_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
        let file = File::open(&log).unwrap();
        let journal =
            Journal::describe("app", &log, id(&file), &file, b"one\ntwo\nthree\n", 8).unwrap();
        assert_eq!(journal.tail_len, 8);
        let path = path_for(&dir.path().join("j"), "app");
        journal.store(&path).unwrap();
        assert!(!path.with_extension("journal.tmp").exists());
        let back = Journal::load(&path).unwrap().unwrap();
        assert_eq!(back, journal);
        assert!(back.matches(&file).unwrap());

        // A copy matches too (copytruncate); rewritten content does not.
        let copy = dir.path().join("app.log.1");
        std::fs::copy(&log, &copy).unwrap();
        assert!(back.matches(&File::open(&copy).unwrap()).unwrap());
        std::fs::write(&log, "uno\ntwo\nthree\n").unwrap();
        assert!(!back.matches(&File::open(&log).unwrap()).unwrap());
        std::fs::write(&log, "one\n").unwrap();
        assert!(!back.matches(&File::open(&log).unwrap()).unwrap());
    }

    #[test]
    fn missing_and_corrupt_journals_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.journal");
        assert!(Journal::load(&path).unwrap().is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            Journal::load(&path),
            Err(JournalError::Corrupt { .. })
        ));
        std::fs::write(&path, r#"{"version":9}"#).unwrap();
        assert!(matches!(
            Journal::load(&path),
            Err(JournalError::Corrupt { .. })
        ));
    }

    #[test]
    fn journal_names_are_safe_and_distinct() {
        let dir = Path::new("/j");
        assert_eq!(
            path_for(dir, "nginx.access"),
            Path::new("/j/nginx.access.journal")
        );
        let slash = path_for(dir, "a/b");
        let under = path_for(dir, "a_b");
        assert_ne!(slash, under);
        assert_eq!(slash.parent(), Some(dir));
        let dots = path_for(dir, "..");
        assert_eq!(dots.parent(), Some(dir));
        assert!(!dots.file_name().unwrap().to_str().unwrap().starts_with('.'));
    }
}
