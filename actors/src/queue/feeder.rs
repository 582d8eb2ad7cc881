//! The feeder: a task on a buffered plugin's arbiter that reads its queue
//! in order and hands the records to the plugin's runner as packs. Each
//! batch's packs hold one [`Ack`](crate::ack::Ack) marking the queue cursor
//! after the batch; a runner drops a pack once the plugin handled it (an
//! output once the record is written out), so the tracker's settled cursor
//! is what the checkpoint may pass. What is in flight (fed, not settled) is
//! bounded by [`IN_FLIGHT_RECORDS`] and [`IN_FLIGHT_BYTES`]: the window is
//! the back pressure between the queue and the plugin.
//!
//! It is a plain task rather than part of the queue actor because the
//! actor pauses its mailbox (`ctx.wait`) to block the router when the
//! queue is full, and the queue must keep draining meanwhile.
//!
//! Packs from the queue carry no pool permit (the window bounds them) and
//! start with a loop count of 0 and no signer: the queue stores only the
//! message bytes, as Heka's did; matching was done before queueing.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::dev::SendError;
use actix::prelude::*;
use heka_proto::MessageView;
use tokio::sync::{Notify, watch};

use super::reader::{Item, QueueReader};
use super::state::Queue;
use super::{Cursor, segment};
use crate::ack::Tracker;
use crate::messages::Deliver;
use crate::pack::{Pack, PackRef};
use crate::stats::{QueueStats, RunnerStats};

/// Most records handed to an output's runner in one batch. A filter's
/// batches are at most `poolsize / 4`, the size inputs route, so what it
/// injects while processing one batch fits the inject pool.
pub const BATCH_RECORDS: usize = 256;
/// Most message bytes in one batch.
pub const BATCH_BYTES: usize = 256 * 1024;
/// Most records fed and not yet handled. Large, because an output may
/// keep records until its own flush rules write them (FileOutput up to
/// 1 MiB, ElasticSearchOutput `flush_count` records).
pub const IN_FLIGHT_RECORDS: u64 = 65_536;
/// Most message bytes fed and not yet handled.
pub const IN_FLIGHT_BYTES: u64 = 8 << 20;
/// After an idle feeder is woken by an append, it waits this long so that
/// the next appends join the same read and batch (the router appends a
/// few dozen records at a time; reading each append alone costs two read
/// calls and a hop to the runner).
pub const COALESCE: Duration = Duration::from_millis(1);
/// At shutdown, how long the feeder waits for what it fed to be handled
/// before writing its last checkpoint (the runner has drained by then).
pub const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// What the queue actor asks of its feeder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Feed the runner.
    Run,
    /// Feed nothing more (shutdown began); keep settling.
    Hold,
    /// Wait for what is in flight, write the checkpoint and end.
    Settle,
}

/// Cumulative totals at a mark.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Cursor,
    records: u64,
    bytes: u64,
}

/// The feeder's state; [`Feeder::run`] is the task.
pub struct Feeder {
    /// The plugin's name, for logs.
    pub name: Arc<str>,
    /// The queue it settles.
    pub queue: Rc<RefCell<Queue>>,
    /// Its reader, at the cursor the queue opened at.
    pub reader: QueueReader,
    /// The plugin's runner.
    pub to: Recipient<Deliver>,
    /// Most records per batch handed to it.
    pub batch_records: usize,
    /// The plugin's statistics.
    pub stats: Arc<RunnerStats>,
    /// The queue's figures.
    pub queue_stats: Arc<QueueStats>,
    /// Signalled on every append.
    pub data: Rc<Notify>,
    /// The actor's wishes.
    pub phase: watch::Receiver<Phase>,
    /// True while nothing is being fed (the actor's `Drain` waits for it).
    pub holding: watch::Sender<bool>,
    /// True once the last checkpoint is written.
    pub finished: watch::Sender<bool>,
}

struct Window {
    tracker: Tracker<Mark>,
    fed: (u64, u64),
    settled: (u64, u64),
    closed: bool,
}

impl Feeder {
    /// Feeds until told to settle (or the runner is gone).
    pub async fn run(mut self) {
        let mut w = Window {
            tracker: Tracker::new(),
            fed: (0, 0),
            settled: (0, 0),
            closed: false,
        };
        loop {
            self.settle(&mut w);
            let phase = *self.phase.borrow_and_update();
            if phase == Phase::Settle || w.closed {
                break;
            }
            self.holding.send_replace(phase == Phase::Hold);
            let room = w.fed.0 - w.settled.0 < IN_FLIGHT_RECORDS
                && w.fed.1 - w.settled.1 < IN_FLIGHT_BYTES;
            if phase == Phase::Run && room {
                match self.feed(&mut w).await {
                    Ok(true) => {
                        // Let the runner (often on this thread) take it.
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Ok(false) => {}
                    Err(err) => {
                        tracing::error!(plugin = %self.name, error = %err, "Cannot read the queue; retrying in 1 s.");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let in_flight = w.tracker.pending() > 0;
            tokio::select! {
                _ = self.data.notified(), if phase == Phase::Run => {
                    tokio::time::sleep(COALESCE).await;
                }
                _ = w.tracker.wait_settled(Duration::from_secs(1)), if in_flight => {}
                changed = self.phase.changed() => if changed.is_err() { break },
            }
        }
        if !w.closed {
            w.tracker.wait_all(SETTLE_LIMIT).await;
        }
        self.settle(&mut w);
        self.queue.borrow_mut().checkpoint();
        self.holding.send_replace(true);
        self.finished.send_replace(true);
    }

    fn settle(&mut self, w: &mut Window) {
        if w.closed {
            // The runner is gone: what it dropped was not handled.
            return;
        }
        if let Some(mark) = w.tracker.settled() {
            let records = mark.records - w.settled.0;
            w.settled = (mark.records, mark.bytes);
            self.queue.borrow_mut().settle(mark.at, records);
        }
    }

    /// Reads one batch and hands it over; false when nothing was there.
    async fn feed(&mut self, w: &mut Window) -> Result<bool, super::QueueError> {
        let live = self.queue.borrow().live();
        let mut packs: Vec<Pack> = Vec::new();
        let (mut records, mut bytes, mut consumed) = (0u64, 0u64, false);
        while packs.len() < self.batch_records && (bytes as usize) < BATCH_BYTES {
            let Some(item) = self.reader.next(live)? else {
                break;
            };
            consumed = true;
            match item {
                Item::Record { message, at, .. } => {
                    records += 1;
                    bytes += message.len() as u64;
                    match MessageView::decode(message) {
                        Ok(view) => packs.push(Pack::detached(view)),
                        Err(err) => self.undecodable(at, &err.to_string()),
                    }
                }
                Item::Corrupt {
                    file,
                    offset,
                    len,
                    reason,
                } => {
                    self.queue_stats.corruptions.fetch_add(1, Ordering::Relaxed);
                    RunnerStats::add(&self.stats.errors, 1);
                    tracing::warn!(plugin = %self.name, file = %file.display(), offset, len, reason = %reason, "Corrupt bytes in the disk queue skipped.");
                }
            }
        }
        if !consumed {
            return Ok(false);
        }
        w.fed = (w.fed.0 + records, w.fed.1 + bytes);
        let ack = w.tracker.mark(Mark {
            at: self.reader.position(),
            records: w.fed.0,
            bytes: w.fed.1,
        });
        if packs.is_empty() {
            // Only corruption: the mark settles with our own Ack.
            return Ok(true);
        }
        let packs: Vec<PackRef> = packs
            .into_iter()
            .map(|mut pack| {
                pack.set_ack(ack.clone());
                Arc::new(pack)
            })
            .collect();
        drop(ack);
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let closed = match self.to.try_send(Deliver(packs)) {
            Ok(()) => false,
            // A full mailbox: park on this one batch (the window bounds
            // how many can be waiting).
            Err(SendError::Full(batch)) => self.to.send(batch).await.is_err(),
            Err(SendError::Closed(_)) => true,
        };
        if closed {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(plugin = %self.name, "The plugin's runner is gone; the queue keeps what it holds.");
            w.closed = true;
        }
        Ok(true)
    }

    fn undecodable(&self, at: Cursor, error: &str) {
        self.queue_stats.corruptions.fetch_add(1, Ordering::Relaxed);
        RunnerStats::add(&self.stats.dropped, 1);
        let dir = self.queue.borrow().dir().to_owned();
        let file = segment::path(&dir, at.file);
        tracing::warn!(plugin = %self.name, file = %file.display(), offset = at.offset, error = %error, "Undecodable record in the disk queue skipped.");
    }
}
