//! The queue of one buffered plugin, shared by its writer (the
//! [`QueueRunner`](super::runner::QueueRunner) actor, which appends what
//! the router delivers) and its [feeder](super::feeder) (which settles
//! what the plugin handled). It keeps the size accounting behind
//! `max_buffer_size`, deletes segments once wholly handled, and writes the
//! checkpoint every `cursor_update_count` handled records.
//!
//! Opening decides where reading resumes: at the checkpoint; with no
//! checkpoint, or one that is garbled or points past the newest segment,
//! at the start of the oldest segment (logged): delivering a record twice
//! is better than losing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::reader::{Item, QueueReader};
use super::segment::{self, Writer};
use super::{Cursor, QueueError, checkpoint};
use crate::config::Buffering;
use crate::stats::QueueStats;

/// One plugin's queue; see the module docs.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    config: Buffering,
    writer: Writer,
    /// Size of every segment on disk, the writer's included.
    segments: BTreeMap<u64, u64>,
    bytes: u64,
    /// Everything before it was handled.
    settled: Cursor,
    /// The checkpoint on disk.
    written: Cursor,
    unwritten: u64,
    stats: Arc<QueueStats>,
}

impl Queue {
    /// Opens (creating) the queue in `dir` and starts a new segment.
    /// Returns it with the cursor reading resumes at.
    pub fn open(
        dir: &Path,
        config: Buffering,
        max_message_size: usize,
        stats: Arc<QueueStats>,
    ) -> Result<(Queue, Cursor), QueueError> {
        std::fs::create_dir_all(dir).map_err(|e| QueueError::io("creating", dir, e))?;
        let listed = segment::list(dir)?;
        let oldest = Cursor {
            file: listed.first().map_or(0, |s| s.0),
            offset: 0,
        };
        let newest = listed.last().map(|s| s.0);
        let start = match checkpoint::read(dir) {
            Ok(Some(at)) if newest.is_some_and(|n| at.file > n) => {
                tracing::warn!(queue = %dir.display(), checkpoint = %at, "Queue checkpoint is past the newest segment; reading from the oldest.");
                oldest
            }
            Ok(Some(at)) => at.max(oldest),
            Ok(None) => {
                if newest.is_some() {
                    tracing::warn!(queue = %dir.display(), "Queue has no checkpoint; reading from the oldest segment.");
                }
                oldest
            }
            Err(err) => {
                tracing::warn!(queue = %dir.display(), error = %err, "Queue checkpoint unreadable; reading from the oldest segment.");
                oldest
            }
        };
        let next = newest.map_or(start.file, |n| n + 1);
        let writer = Writer::create(dir, next)?;
        let mut queue = Queue {
            dir: dir.to_owned(),
            config,
            segments: listed.into_iter().collect(),
            bytes: 0,
            settled: start,
            written: start,
            unwritten: 0,
            writer,
            stats,
        };
        queue.segments.insert(next, 0);
        queue.forget_before(start);
        let pending = count_records(dir, start, next, max_message_size)?;
        queue.stats.records.store(pending, Ordering::Relaxed);
        queue.publish();
        Ok((queue, start))
    }

    /// The segment being written.
    pub fn live(&self) -> u64 {
        self.writer.id()
    }

    /// The queue folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes in the segment files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The figures it keeps up to date.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// The buffering settings.
    pub fn config(&self) -> &Buffering {
        &self.config
    }

    /// Whether `len` more bytes fit under `max_buffer_size`. When they do
    /// not and everything written was handled, the live segment is rolled
    /// and deleted first (with a `max_file_size` above `max_buffer_size`
    /// it would otherwise never go).
    pub fn fits(&mut self, len: u64) -> bool {
        let max = self.config.max_buffer_size;
        if max == 0 || self.bytes + len <= max {
            return true;
        }
        let end = Cursor {
            file: self.writer.id(),
            offset: self.writer.len(),
        };
        if self.settled == end && !self.writer.is_empty() && self.writer.roll().is_ok() {
            self.segments.insert(self.writer.id(), 0);
            let now = Cursor {
                file: self.writer.id(),
                offset: 0,
            };
            self.settle(now, 0);
        }
        self.bytes + len <= max
    }

    /// Appends `data`, `records` whole frames, rolling first when the live
    /// segment would pass `max_file_size`.
    pub fn append(&mut self, data: &[u8], records: u64) -> Result<(), QueueError> {
        if !self.writer.is_empty()
            && self.writer.len() + data.len() as u64 > self.config.max_file_size
        {
            self.roll()?;
        }
        if let Err(err) = self.writer.append(data) {
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            // A segment that could not be cut back may end torn: start a
            // new one so later records are never read as its tail.
            if self.writer.torn() {
                let _ = self.roll();
            }
            return Err(err);
        }
        *self.segments.entry(self.writer.id()).or_default() += data.len() as u64;
        self.bytes += data.len() as u64;
        self.stats.records.fetch_add(records, Ordering::Relaxed);
        self.publish();
        Ok(())
    }

    fn roll(&mut self) -> Result<(), QueueError> {
        self.writer.roll()?;
        self.segments.insert(self.writer.id(), 0);
        self.publish();
        Ok(())
    }

    /// Records that the plugin handled everything before `at` (`records`
    /// more of them): deletes the segments wholly handled and writes the
    /// checkpoint every `cursor_update_count` records.
    pub fn settle(&mut self, at: Cursor, records: u64) {
        if at <= self.settled && records == 0 {
            return;
        }
        self.settled = self.settled.max(at);
        let _ = self
            .stats
            .records
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(records))
            });
        self.forget_before(self.settled);
        self.unwritten += records;
        if self.unwritten >= self.config.cursor_update_count {
            self.checkpoint();
        }
    }

    /// Writes the checkpoint if it moved (errors are logged: the queue
    /// goes on, and a restart delivers some records again).
    pub fn checkpoint(&mut self) {
        if self.settled == self.written {
            return;
        }
        match checkpoint::write(&self.dir, self.settled) {
            Ok(()) => {
                self.written = self.settled;
                self.unwritten = 0;
            }
            Err(err) => {
                tracing::error!(queue = %self.dir.display(), error = %err, "Cannot write the queue checkpoint.")
            }
        }
    }

    /// Deletes every segment before `at` (and `at`'s own segment when `at`
    /// is its end and it is not the live one).
    fn forget_before(&mut self, at: Cursor) {
        let live = self.writer.id();
        let done: Vec<(u64, u64)> = self
            .segments
            .iter()
            .map(|(&id, &size)| (id, size))
            .filter(|&(id, size)| {
                id < at.file || (id == at.file && id != live && at.offset >= size)
            })
            .collect();
        for (id, _) in done {
            let path = segment::path(&self.dir, id);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::error!(file = %path.display(), error = %err, "Cannot delete a handled queue segment.");
                    continue;
                }
            }
            self.segments.remove(&id);
        }
        self.publish();
    }

    fn publish(&mut self) {
        self.bytes = self.segments.values().sum();
        self.stats.bytes.store(self.bytes, Ordering::Relaxed);
        let n = self.segments.len() as u64;
        self.stats.segments.store(n, Ordering::Relaxed);
    }
}

/// Whole records from `start` to the end of segments before `live`
/// (corrupt ranges are not counted).
pub fn count_records(
    dir: &Path,
    start: Cursor,
    live: u64,
    max_message_size: usize,
) -> Result<u64, QueueError> {
    let mut reader = QueueReader::new(dir, start, max_message_size);
    let mut n = 0;
    while let Some(item) = reader.next(live)? {
        n += u64::from(matches!(item, Item::Record { .. }));
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
