//! Offline views of a queue folder, for `hekad queue inspect` and
//! `hekad queue verify`: its segments, checkpoint and pending records, and
//! a walk over every record that lists the corrupt ranges. Both only read;
//! they are safe on the queue of a running hekad (its live segment may
//! then end in a record being written, reported as a torn tail).

use std::path::{Path, PathBuf};

use heka_proto::MessageView;

use super::reader::{Item, QueueReader};
use super::{Cursor, QueueError, checkpoint, segment};

/// What `hekad queue inspect` shows.
#[derive(Debug)]
pub struct Inspection {
    /// `(id, size)` of every segment, oldest first.
    pub segments: Vec<(u64, u64)>,
    /// The checkpoint: none, a cursor, or why it is unreadable.
    pub checkpoint: Result<Option<Cursor>, String>,
    /// Where a start would resume (the checkpoint, else the oldest segment).
    pub resume: Cursor,
    /// Whole records from `resume` on.
    pub pending_records: u64,
    /// Bytes from `resume` on.
    pub pending_bytes: u64,
}

/// A range of bytes holding no whole record, or an undecodable record.
#[derive(Debug, Clone, PartialEq)]
pub struct Corruption {
    /// The segment file.
    pub file: PathBuf,
    /// Byte offset of the range.
    pub offset: u64,
    /// Its length.
    pub len: u64,
    /// Why it is corrupt.
    pub reason: String,
}

/// What `hekad queue verify` found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Good records in all segments.
    pub records: u64,
    /// Corrupt ranges, in file and offset order.
    pub corrupt: Vec<Corruption>,
}

/// Describes queue folder `dir`.
pub fn inspect(dir: &Path, max_message_size: usize) -> Result<Inspection, QueueError> {
    let segments = segment::list(dir)?;
    let oldest = Cursor {
        file: segments.first().map_or(0, |s| s.0),
        offset: 0,
    };
    let live = segments.last().map_or(0, |s| s.0 + 1);
    let checkpoint = checkpoint::read(dir).map_err(|e| e.to_string());
    let resume = match &checkpoint {
        Ok(Some(at)) if at.file < live => (*at).max(oldest),
        _ => oldest,
    };
    let pending_bytes = segments
        .iter()
        .filter(|s| s.0 >= resume.file)
        .map(|&(id, size)| match id == resume.file {
            true => size.saturating_sub(resume.offset),
            false => size,
        })
        .sum();
    let pending_records = super::state::count_records(dir, resume, live, max_message_size)?;
    Ok(Inspection {
        segments,
        checkpoint,
        resume,
        pending_records,
        pending_bytes,
    })
}

/// Reads every record of every segment of `dir` from its start.
pub fn verify(dir: &Path, max_message_size: usize) -> Result<Verification, QueueError> {
    let segments = segment::list(dir)?;
    let Some(&(first, _)) = segments.first() else {
        return Ok(Verification::default());
    };
    let live = segments.last().map_or(0, |s| s.0 + 1);
    let start = Cursor {
        file: first,
        offset: 0,
    };
    let mut reader = QueueReader::new(dir, start, max_message_size);
    let mut found = Verification::default();
    while let Some(item) = reader.next(live)? {
        match item {
            Item::Record { message, at, end } => {
                let len = end.offset - at.offset;
                match MessageView::decode(message) {
                    Ok(_) => found.records += 1,
                    Err(err) => found.corrupt.push(Corruption {
                        file: segment::path(dir, at.file),
                        offset: at.offset,
                        len,
                        reason: format!("record does not decode: {err}"),
                    }),
                }
            }
            Item::Corrupt {
                file,
                offset,
                len,
                reason,
            } => found.corrupt.push(Corruption {
                file,
                offset,
                len,
                reason,
            }),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::segment::Writer;

    fn record(payload: &str) -> Vec<u8> {
        let mut msg = heka_proto::Message::new([1; 16], 5);
        msg.payload = Some(bytes::Bytes::copy_from_slice(payload.as_bytes()));
        let view = MessageView::from_message(&msg).unwrap();
        let mut out = Vec::new();
        heka_proto::framing::encode_frame(view.raw(), None, 1024, &mut out).unwrap();
        out
    }

    #[test]
    fn inspect_counts_from_the_checkpoint_and_verify_finds_corrupt_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (record("one"), record("two"), record("three"));
        let mut w = Writer::create(dir.path(), 4).unwrap();
        w.append(&[a.clone(), b.clone()].concat()).unwrap();
        w.roll().unwrap();
        w.append(&c).unwrap();
        checkpoint::write(
            dir.path(),
            Cursor {
                file: 4,
                offset: a.len() as u64,
            },
        )
        .unwrap();
        let seen = inspect(dir.path(), 1024).unwrap();
        assert_eq!(
            seen.segments,
            [(4, (a.len() + b.len()) as u64), (5, c.len() as u64)]
        );
        assert_eq!(seen.pending_records, 2);
        assert_eq!(seen.pending_bytes, (b.len() + c.len()) as u64);
        assert_eq!(verify(dir.path(), 1024).unwrap().records, 3);
        // Overwrite the start of `b` (its separator and header) with zeros.
        let path = segment::path(dir.path(), 4);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[a.len()..a.len() + 4].fill(0);
        std::fs::write(&path, bytes).unwrap();
        let found = verify(dir.path(), 1024).unwrap();
        assert_eq!(found.records, 2);
        assert_eq!(found.corrupt.len(), 1, "{:?}", found.corrupt);
        assert_eq!(
            (found.corrupt[0].file.clone(), found.corrupt[0].offset),
            (path, a.len() as u64)
        );
        assert_eq!(found.corrupt[0].len, b.len() as u64);
    }
}
