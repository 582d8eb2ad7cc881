//! `checkpoint.txt`: where the queue's reader resumes, `"<file id>
//! <offset>"` of the next record not yet handled by the plugin. Written
//! atomically (a temporary file renamed over it), so a crash leaves either
//! the old or the new checkpoint, never a mix.

use std::io::Write as _;
use std::path::Path;

use super::QueueError;

/// The checkpoint file's name inside a queue folder.
pub const CHECKPOINT: &str = "checkpoint.txt";
const TEMPORARY: &str = "checkpoint.txt.tmp";

/// A position in the queue: segment `file`, byte `offset` in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    /// Segment file id (`N` of `N.log`).
    pub file: u64,
    /// Byte offset in that segment.
    pub offset: u64,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.file, self.offset)
    }
}

/// Parses a checkpoint's text.
pub fn parse(text: &str) -> Option<Cursor> {
    let mut parts = text.split_ascii_whitespace();
    let file = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(Cursor { file, offset })
}

/// Reads the checkpoint of queue folder `dir`: `None` when there is none,
/// an error when it is garbled (the caller decides what to do).
pub fn read(dir: &Path) -> Result<Option<Cursor>, QueueError> {
    let path = dir.join(CHECKPOINT);
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QueueError::io("reading", &path, e)),
    };
    let shown = String::from_utf8_lossy(&text[..text.len().min(64)]).into_owned();
    std::str::from_utf8(&text)
        .ok()
        .and_then(parse)
        .map(Some)
        .ok_or(QueueError::Garbled { path, text: shown })
}

/// Writes `cursor` as the checkpoint of `dir`: to a temporary file, then
/// renamed over `checkpoint.txt` (not fsynced; see the module docs of
/// [`crate::queue`]).
pub fn write(dir: &Path, cursor: Cursor) -> Result<(), QueueError> {
    let tmp = dir.join(TEMPORARY);
    let mut file = std::fs::File::create(&tmp).map_err(|e| QueueError::io("creating", &tmp, e))?;
    file.write_all(cursor.to_string().as_bytes())
        .map_err(|e| QueueError::io("writing", &tmp, e))?;
    drop(file);
    let path = dir.join(CHECKPOINT);
    std::fs::rename(&tmp, &path).map_err(|e| QueueError::io("renaming", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_checkpoint_reads_back_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let at = Cursor {
            file: 3,
            offset: 1234,
        };
        write(dir.path(), at).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(at));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CHECKPOINT)).unwrap(),
            "3 1234"
        );
        assert!(!dir.path().join(TEMPORARY).exists());
        for bad in ["", "3", "3 x", "-1 2", "1 2 3"] {
            std::fs::write(dir.path().join(CHECKPOINT), bad).unwrap();
            assert!(
                matches!(read(dir.path()), Err(QueueError::Garbled { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(parse("7 9\n"), Some(Cursor { file: 7, offset: 9 }));
    }
}
