//! One stream's position among its files, and how it moves: where to start
//! (journal, `initial_tail`, else the oldest file), reading the open file,
//! and at its end deciding between waiting, following a rotation (rename +
//! create: on to the next file once the old one stayed quiet for a check
//! interval), and handling a truncation (copytruncate: on in the copy from
//! the same offset; plain truncation: back to 0, logged). Synchronous and
//! free of the pipeline: the stream's driver (`tail.rs`) feeds the bytes it
//! reads to a StreamSink and flushes at each file boundary.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::journal::{HEAD_LEN, Journal, read_window};
use super::notice::Notice;
use super::scan::{FileId, LogFile};

/// Bytes read per call.
pub const CHUNK: usize = 256 * 1024;

/// The file being read.
#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    file: File,
    id: FileId,
    /// Its scan entry (sort key), to find what comes after it once it has
    /// left the stream's list.
    entry: LogFile,
    /// Bytes handed to the caller's buffer (the next read's offset).
    read: u64,
    /// The file's first `min(read, HEAD_LEN)` bytes: recognises a copy and
    /// a rewrite.
    head: Vec<u8>,
    /// Its disappearance was already reported.
    noted: bool,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing new: wait `check_data_interval`, then read.
    Wait,
    /// Read now (the source changed under the same position).
    Read,
    /// The current file's bytes are over: flush the buffer as the end of a
    /// stream, then call [`Follower::enter`] with this.
    End(Next),
}

/// Where reading goes after a file boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The next file of the stream, from 0.
    File(LogFile),
    /// The same file from 0 (it was truncated).
    Restart,
}

/// One stream's reader state.
#[derive(Debug)]
pub struct Follower {
    files: Vec<LogFile>,
    open: Option<OpenFile>,
    /// Files that could not be opened: not tried again.
    skipped: HashSet<FileId>,
    /// A next file was seen at the end of the current one: switch if the
    /// current one is still quiet at the next check.
    pending: bool,
    rescan_interval: Duration,
    last_scan: Instant,
    /// The list is known to be out of date: rescan at the next end.
    stale: bool,
    /// The last read found no data.
    idle: bool,
}

impl Follower {
    /// A follower over `files` (oldest first), positioned nowhere yet.
    pub fn new(files: Vec<LogFile>, rescan_interval: Duration) -> Follower {
        Follower {
            files,
            open: None,
            skipped: HashSet::new(),
            pending: false,
            rescan_interval,
            last_scan: Instant::now(),
            stale: false,
            idle: false,
        }
    }

    /// Positions the stream: at the journaled offset of the file the
    /// journal recognises (the same inode first, then any file of the
    /// stream, oldest first: rotation may have renamed or copied it); else
    /// at the end of the newest file with `initial_tail`; else at the start
    /// of the oldest.
    pub fn start(&mut self, journal: Option<&Journal>, initial_tail: bool, out: &mut Vec<Notice>) {
        if let Some(journal) = journal {
            let id = FileId {
                dev: journal.dev,
                ino: journal.ino,
            };
            let same = self.files.iter().filter(|f| f.id == id);
            let others = self.files.iter().filter(|f| f.id != id);
            let found = same.chain(others).find_map(|f| {
                let file = File::open(&f.path).ok()?;
                journal.matches(&file).ok()?.then(|| (f.clone(), file))
            });
            if let Some((entry, file)) = found {
                out.push(Notice::Resumed {
                    file: entry.path.clone(),
                    offset: journal.offset,
                });
                self.open = Some(opened(entry, file, journal.offset));
                return;
            }
            out.push(Notice::JournalLost {
                file: journal.file.clone(),
                offset: journal.offset,
            });
        } else if initial_tail {
            loop {
                let Some(newest) = self.unskipped().last().cloned() else {
                    return;
                };
                match File::open(&newest.path).and_then(|f| Ok((f.metadata()?.len(), f))) {
                    Ok((len, file)) => {
                        out.push(Notice::Started {
                            file: newest.path.clone(),
                            offset: len,
                        });
                        self.open = Some(opened(newest, file, len));
                        return;
                    }
                    Err(err) => self.skip(&newest, &err, out),
                }
            }
        }
        loop {
            let Some(first) = self.unskipped().next().cloned() else {
                return;
            };
            let (path, id) = (first.path.clone(), first.id);
            if !self.enter(Next::File(first), out) && !self.skipped.contains(&id) {
                // Renamed since the scan: the first end rescans.
                return;
            }
            if self.open.is_some() {
                if journal.is_none() {
                    // `enter` reported an Opened; a fresh start says so.
                    out.pop();
                    out.push(Notice::Started {
                        file: path,
                        offset: 0,
                    });
                }
                return;
            }
        }
    }

    /// Reads the next bytes of the open file onto `buf`; 0 at its end.
    pub fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let Some(open) = self.open.as_mut() else {
            return Ok(0);
        };
        // New data after a quiet spell may be a rewrite rather than an
        // append: then report the end, and `at_end` handles it.
        if self.idle && !unchanged(open) {
            return Ok(0);
        }
        let start = buf.len();
        buf.resize(start + CHUNK, 0);
        let n = match open.file.read_at(&mut buf[start..], open.read) {
            Ok(n) => n,
            Err(err) => {
                buf.truncate(start);
                return Err(err);
            }
        };
        buf.truncate(start + n);
        if open.head.len() < HEAD_LEN && open.head.len() as u64 == open.read {
            // Below HEAD_LEN the head is exactly the bytes read so far.
            let more = n.min(HEAD_LEN - open.head.len());
            open.head.extend_from_slice(&buf[start..start + more]);
        }
        open.read += n as u64;
        self.idle = n == 0;
        if n > 0 {
            self.pending = false;
        }
        Ok(n)
    }

    /// The open file and the read position, for logs.
    pub fn position(&self) -> Option<(PathBuf, u64)> {
        self.open.as_ref().map(|o| (o.path.clone(), o.read))
    }

    /// The journal for a stream whose buffer still holds `buffered` bytes
    /// not yet accepted: the position is `read - buffered` of the open file.
    pub fn journal(&self, stream: &str, buffered: usize) -> io::Result<Option<Journal>> {
        let Some(open) = &self.open else {
            return Ok(None);
        };
        let offset = open.read.saturating_sub(buffered as u64);
        Journal::describe(stream, &open.path, open.id, &open.file, &open.head, offset).map(Some)
    }

    /// Checks the open file was not truncated or rewritten under the read
    /// position. `None` when it was not.
    pub fn verify(
        &mut self,
        scan: &mut dyn FnMut() -> Vec<LogFile>,
        out: &mut Vec<Notice>,
    ) -> Option<Step> {
        let open = self.open.as_ref()?;
        if unchanged(open) {
            return None;
        }
        let len = open.file.metadata().map_or(0, |m| m.len());
        self.rescan(scan);
        let open = self.open.as_ref()?;
        // copytruncate: a copy holds what was read and possibly more.
        let copy = self.files.iter().find_map(|f| {
            if f.id == open.id || f.len < open.read || self.skipped.contains(&f.id) {
                return None;
            }
            let file = File::open(&f.path).ok()?;
            let head = read_window(&file, 0, open.head.len()).ok()?;
            (head == open.head).then(|| (f.clone(), file))
        });
        let open = self.open.as_mut()?;
        match copy {
            Some((entry, file)) => {
                out.push(Notice::CopyTruncated {
                    file: open.path.clone(),
                    copy: entry.path.clone(),
                    offset: open.read,
                });
                let mut copied = opened(entry, file, open.read);
                copied.head = std::mem::take(&mut open.head);
                self.open = Some(copied);
                Some(Step::Read)
            }
            None => {
                out.push(Notice::Truncated {
                    file: open.path.clone(),
                    offset: open.read,
                    len,
                });
                Some(Step::End(Next::Restart))
            }
        }
    }

    /// Decides what to do at the end of the open file's data.
    pub fn at_end(
        &mut self,
        scan: &mut dyn FnMut() -> Vec<LogFile>,
        out: &mut Vec<Notice>,
    ) -> Step {
        if let Some(step) = self.verify(scan, out) {
            return step;
        }
        let due = self.stale || self.last_scan.elapsed() >= self.rescan_interval;
        let Some(open) = self.open.as_ref() else {
            if due {
                self.rescan(scan);
            }
            return match self.unskipped().next() {
                Some(first) => Step::End(Next::File(first.clone())),
                None => Step::Wait,
            };
        };
        let moved = std::fs::metadata(&open.path).map_or(true, |m| FileId::of(&m) != open.id);
        if moved || due {
            self.rescan(scan);
        }
        let Some(open) = self.open.as_mut() else {
            return Step::Wait;
        };
        let next = match self.files.iter().position(|f| f.id == open.id) {
            Some(i) => {
                // Renamed within the stream (access.log → access.log.1).
                open.path = self.files[i].path.clone();
                open.entry = self.files[i].clone();
                self.files[i + 1..]
                    .iter()
                    .find(|f| !self.skipped.contains(&f.id))
            }
            None => {
                if moved && !open.noted {
                    open.noted = true;
                    let deleted = open.file.metadata().is_ok_and(|m| m.nlink() == 0);
                    out.push(match deleted {
                        true => Notice::Removed {
                            file: open.path.clone(),
                            offset: open.read,
                        },
                        false => Notice::Unmatched {
                            file: open.path.clone(),
                            offset: open.read,
                        },
                    });
                }
                // Out of the list (gone, renamed away, or too old): what
                // sorts at or after it comes next, e.g. the new file
                // created at its old path.
                let entry = &open.entry;
                self.files.iter().find(|f| {
                    let after =
                        f.key > entry.key || (f.key == entry.key && f.modified >= entry.modified);
                    after && f.id != open.id && !self.skipped.contains(&f.id)
                })
            }
        };
        match (next.cloned(), self.pending) {
            (None, _) => {
                self.pending = false;
                Step::Wait
            }
            // A writer may still append to a file it just rotated away;
            // give it one quiet check interval before moving on.
            (Some(_), false) => {
                self.pending = true;
                Step::Wait
            }
            (Some(next), true) => {
                self.pending = false;
                Step::End(Next::File(next))
            }
        }
    }

    /// Moves to `next` after the driver flushed the previous file's bytes.
    /// Returns false when the file could not be opened (it is skipped and
    /// the position stays at the end of the previous one).
    pub fn enter(&mut self, next: Next, out: &mut Vec<Notice>) -> bool {
        match next {
            Next::Restart => {
                if let Some(open) = self.open.as_mut() {
                    open.read = 0;
                    open.head.clear();
                }
                true
            }
            Next::File(entry) => match File::open(&entry.path) {
                // Renamed between the scan and now: what is at the path is
                // not the file meant; look again.
                Ok(file) if file.metadata().is_ok_and(|m| FileId::of(&m) != entry.id) => {
                    self.stale = true;
                    self.pending = false;
                    false
                }
                Ok(file) => {
                    out.push(Notice::Opened {
                        from: self.open.as_ref().map(|o| o.path.clone()),
                        to: entry.path.clone(),
                    });
                    self.open = Some(opened(entry, file, 0));
                    true
                }
                Err(err) => {
                    self.skip(&entry, &err, out);
                    false
                }
            },
        }
    }

    fn skip(&mut self, entry: &LogFile, err: &io::Error, out: &mut Vec<Notice>) {
        self.skipped.insert(entry.id);
        out.push(Notice::Unreadable {
            file: entry.path.clone(),
            offset: 0,
            error: err.to_string(),
        });
    }

    fn unskipped(&self) -> impl DoubleEndedIterator<Item = &LogFile> {
        self.files.iter().filter(|f| !self.skipped.contains(&f.id))
    }

    fn rescan(&mut self, scan: &mut dyn FnMut() -> Vec<LogFile>) {
        self.files = scan();
        self.last_scan = Instant::now();
        self.stale = false;
    }
}

/// Whether the open file still holds what was read: not shorter than the
/// read position, same first bytes. An unanswerable question (I/O error)
/// counts as unchanged; the read itself will report the error.
fn unchanged(open: &OpenFile) -> bool {
    let Ok(meta) = open.file.metadata() else {
        return true;
    };
    if meta.len() < open.read {
        return false;
    }
    read_window(&open.file, 0, open.head.len()).map_or(true, |head| head == open.head)
}

/// An open file positioned at `offset`, its head read from the file.
fn opened(entry: LogFile, file: File, offset: u64) -> OpenFile {
    let want = offset.min(HEAD_LEN as u64) as usize;
    let mut head = read_window(&file, 0, want).unwrap_or_default();
    // A head shorter than the offset would break the head invariant; the
    // file shrank meanwhile, which `verify` will see.
    head.truncate(want);
    let id = file.metadata().map(|m| FileId::of(&m)).unwrap_or(entry.id);
    OpenFile {
        path: entry.path.clone(),
        file,
        id,
        entry,
        read: offset,
        head,
        noted: false,
    }
}

#[cfg(test)]
mod tests;
