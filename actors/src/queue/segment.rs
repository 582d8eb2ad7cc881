//! Segment files: `N.log` in a queue folder, append-only concatenations of
//! Heka frames. The writer appends each batch with one write(2); a write
//! that fails part way is cut back to the last whole record, so a segment
//! only ever holds whole records unless hekad died inside the write call.
//! Every start opens a new segment rather than appending to the last one,
//! so a record torn by a crash stays at the end of its old segment, where
//! the reader reports and skips it, and never swallows new records.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::QueueError;

/// The path of segment `id` in `dir`.
pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.log"))
}

/// The segments of `dir` as `(id, size)`, oldest first. Other files are
/// ignored.
pub fn list(dir: &Path) -> Result<Vec<(u64, u64)>, QueueError> {
    let entries = std::fs::read_dir(dir).map_err(|e| QueueError::io("listing", dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| QueueError::io("listing", dir, e))?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let size = entry
            .metadata()
            .map_err(|e| QueueError::io("reading the size of", &entry.path(), e))?
            .len();
        segments.push((id, size));
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Appends to the newest segment.
#[derive(Debug)]
pub struct Writer {
    dir: PathBuf,
    id: u64,
    file: File,
    len: u64,
    torn: bool,
}

impl Writer {
    /// Creates segment `id` (it must not exist) and appends to it.
    pub fn create(dir: &Path, id: u64) -> Result<Writer, QueueError> {
        let path = path(dir, id);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| QueueError::io("creating", &path, e))?;
        Ok(Writer {
            dir: dir.to_owned(),
            id,
            file,
            len: 0,
            torn: false,
        })
    }

    /// The segment being written.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes in it.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True while it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends whole records. On failure (ENOSPC, EIO) the segment is cut
    /// back to its previous length, so no partial record stays behind;
    /// if even that fails the caller should [`roll`](Self::roll).
    pub fn append(&mut self, data: &[u8]) -> Result<(), QueueError> {
        match self.file.write_all(data) {
            Ok(()) => {
                self.len += data.len() as u64;
                Ok(())
            }
            Err(err) => {
                let path = path(&self.dir, self.id);
                if let Err(cut) = self.file.set_len(self.len) {
                    self.torn = true;
                    tracing::error!(file = %path.display(), offset = self.len, error = %cut, "Cannot cut a failed queue write back; the segment ends in a torn record.");
                }
                Err(QueueError::io("writing", &path, err))
            }
        }
    }

    /// True when a failed append could not be cut back: the segment may
    /// end in a torn record and must not be appended to again.
    pub fn torn(&self) -> bool {
        self.torn
    }

    /// Starts segment `id + 1`; returns the id of the finished segment.
    pub fn roll(&mut self) -> Result<u64, QueueError> {
        let next = Writer::create(&self.dir, self.id + 1)?;
        let done = self.id;
        *self = next;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_list_in_id_order_with_sizes_and_roll() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::create(dir.path(), 9).unwrap();
        w.append(b"abc").unwrap();
        assert_eq!(w.roll().unwrap(), 9);
        w.append(b"hello").unwrap();
        assert_eq!((w.id(), w.len()), (10, 5));
        std::fs::write(dir.path().join("checkpoint.txt"), "9 0").unwrap();
        std::fs::write(dir.path().join("x.log"), "").unwrap();
        assert_eq!(list(dir.path()).unwrap(), [(9, 3), (10, 5)]);
        assert!(
            Writer::create(dir.path(), 10).is_err(),
            "an existing segment is never reopened"
        );
    }
}
