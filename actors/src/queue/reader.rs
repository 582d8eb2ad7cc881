//! Reads a queue's records in order from a cursor, across segments, with
//! the shared deframer (`heka_proto::reader`). The segment being written
//! (`live`) is followed as it grows; an older segment is finished, so a
//! partial record at its end is a torn write (hekad died inside a write)
//! and is reported like any other corruption: as an [`Item::Corrupt`] with
//! its file and byte offset, after which reading goes on at the next
//! record. Nothing here logs; callers count and log what they skip.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use heka_proto::deframer::{Deframer, Event};
use heka_proto::reader::Reader;

use super::{Cursor, QueueError, segment};

/// What the reader found next.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A whole record.
    Record {
        /// The message bytes (a protobuf `Message`, not yet checked).
        message: Bytes,
        /// Where the record starts.
        at: Cursor,
        /// Where the next record starts: the cursor that marks this one
        /// handled.
        end: Cursor,
    },
    /// Bytes skipped because they hold no whole record.
    Corrupt {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the first skipped byte.
        offset: u64,
        /// How many bytes were skipped.
        len: u64,
        /// Why.
        reason: String,
    },
}

/// Reads records from a cursor on; see the module docs.
#[derive(Debug)]
pub struct QueueReader {
    dir: PathBuf,
    max_message_size: usize,
    at: Cursor,
    reader: Option<Reader<File>>,
}

impl QueueReader {
    /// A reader of queue folder `dir` starting at `start`.
    pub fn new(dir: &Path, start: Cursor, max_message_size: usize) -> QueueReader {
        QueueReader {
            dir: dir.to_owned(),
            max_message_size,
            at: start,
            reader: None,
        }
    }

    /// The position of the next record.
    pub fn position(&self) -> Cursor {
        self.at
    }

    /// The next item, or `None` when everything written so far was read.
    /// Segments with an id below `live` are finished; segment `live` may
    /// still grow.
    pub fn next(&mut self, live: u64) -> Result<Option<Item>, QueueError> {
        loop {
            if self.reader.is_none() {
                let path = segment::path(&self.dir, self.at.file);
                let mut file = match File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if self.at.file < live {
                            self.next_segment();
                            continue;
                        }
                        return Ok(None);
                    }
                    Err(e) => return Err(QueueError::io("opening", &path, e)),
                };
                if self.at.offset > 0 {
                    file.seek(SeekFrom::Start(self.at.offset))
                        .map_err(|e| QueueError::io("seeking in", &path, e))?;
                }
                let deframer = Deframer::new(self.max_message_size).with_offset(self.at.offset);
                self.reader = Some(Reader::new(file, deframer));
            }
            let reader = self.reader.as_mut().expect("opened above");
            let event = reader.next_event().map_err(|e| {
                QueueError::io("reading", &segment::path(&self.dir, self.at.file), e)
            })?;
            let event = match event {
                Some(event) => Some(event),
                None if self.at.file < live => reader.finish(),
                None => return Ok(None),
            };
            match event {
                Some(event) => return Ok(Some(self.item(event))),
                None => self.next_segment(),
            }
        }
    }

    fn next_segment(&mut self) {
        self.reader = None;
        self.at = Cursor {
            file: self.at.file + 1,
            offset: 0,
        };
    }

    fn item(&mut self, event: Event) -> Item {
        let file = self.at.file;
        let (offset, len, reason) = match event {
            Event::Record(record) => {
                let at = Cursor {
                    file,
                    offset: record.offset,
                };
                self.at = Cursor {
                    file,
                    offset: record.offset + record.framed.len() as u64,
                };
                return Item::Record {
                    message: record.message,
                    at,
                    end: self.at,
                };
            }
            Event::Corrupt {
                offset,
                len,
                reason,
            } => (offset, len, reason.to_string()),
            // Queue records are never signed, so nothing is authenticated.
            Event::Rejected { offset, len, error } => (offset, len, error.to_string()),
        };
        self.at = Cursor {
            file,
            offset: offset + len as u64,
        };
        Item::Corrupt {
            file: segment::path(&self.dir, file),
            offset,
            len: len as u64,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::segment::Writer;

    fn frame(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        heka_proto::framing::encode_frame(text.as_bytes(), None, 1024, &mut out).unwrap();
        out
    }

    fn drain(reader: &mut QueueReader, live: u64) -> Vec<String> {
        let mut got = Vec::new();
        while let Some(item) = reader.next(live).unwrap() {
            got.push(match item {
                Item::Record { message, .. } => String::from_utf8_lossy(&message).into_owned(),
                Item::Corrupt { offset, len, .. } => format!("corrupt@{offset}+{len}"),
            });
        }
        got
    }

    #[test]
    fn records_are_read_across_segments_and_the_live_one_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::create(dir.path(), 0).unwrap();
        w.append(&[frame("a"), frame("b")].concat()).unwrap();
        w.roll().unwrap();
        w.append(&frame("c")).unwrap();
        let mut r = QueueReader::new(dir.path(), Cursor::default(), 1024);
        assert_eq!(drain(&mut r, 1), ["a", "b", "c"]);
        w.append(&frame("d")).unwrap();
        assert_eq!(drain(&mut r, 1), ["d"]);
        let end = r.position();
        assert_eq!(
            end,
            Cursor {
                file: 1,
                offset: w.len()
            }
        );
        // Resuming from a cursor skips what came before it.
        let second = Cursor {
            file: 0,
            offset: frame("a").len() as u64,
        };
        let mut r = QueueReader::new(dir.path(), second, 1024);
        assert_eq!(drain(&mut r, 1), ["b", "c", "d"]);
    }

    #[test]
    fn a_torn_tail_of_a_finished_segment_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::create(dir.path(), 0).unwrap();
        let (a, b) = (frame("first"), frame("second record"));
        w.append(&[a.clone(), b.clone()].concat()).unwrap();
        // A crash inside the write of `b`: only part of it reached the file.
        let torn = (a.len() + b.len() / 2) as u64;
        std::fs::OpenOptions::new()
            .write(true)
            .open(segment::path(dir.path(), 0))
            .unwrap()
            .set_len(torn)
            .unwrap();
        w.roll().unwrap();
        w.append(&frame("after")).unwrap();
        let mut r = QueueReader::new(dir.path(), Cursor::default(), 1024);
        let got = drain(&mut r, 1);
        assert_eq!(got[0], "first");
        assert_eq!(
            got[1],
            format!("corrupt@{}+{}", a.len(), torn - a.len() as u64)
        );
        assert_eq!(&got[2..], ["after"]);
    }
}
