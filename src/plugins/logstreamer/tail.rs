//! The task running one stream inside LogstreamerInput: it reads the
//! stream's files through its [`Follower`] into a StreamSink (its own
//! splitter and decoder), which routes whole records and parks while the
//! pipeline is full. Reads are pipelined (one is decoded while the one
//! before it is routed); everything read is routed before the stream
//! sleeps at the end of the data, moves to the next file, or stops. Each flush marks the position it reached (the first
//! byte not routed) in the stream's ack [`Tracker`]; the packs of the
//! flush hold that mark's Ack, and the journal advances to a position only
//! once every record before it was handled by every destination (the
//! mark settled), never when the router merely took them. At a file
//! boundary the buffer is flushed as the end of a stream, so a partial
//! last line of a rotated file never joins the next file's first line.
//!
//! What a crash costs: the records in flight (routed, not yet handled by
//! every output) plus at most one [`JOURNAL_EVERY`] of settled positions
//! not yet written are read again; nothing is skipped. At stop the stream
//! waits (until shortly before `[hekad] shutdown_timeout`, when outputs
//! give up and drop what they hold; the rest of the pipeline still runs,
//! since inputs stop first) for what it routed to settle, then writes the
//! last settled position.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use heka_actors::ack::{Ack, Tracker};
use heka_actors::plugin::{InputCx, PluginError, StreamDefaults, StreamSink};

use super::config::Settings;
use super::follower::{Follower, Step};
use super::journal::{self, Journal};
use super::notice::Notice;
use super::scan::{LogFile, scan};

/// The message type of every record, as in Heka.
pub const MESSAGE_TYPE: &str = "logfile";

/// While reading steadily, the journal is written at most this often; at
/// the end of the data, at a file boundary and at stop it is written at
/// once (when it changed).
pub const JOURNAL_EVERY: Duration = Duration::from_secs(1);

/// The journal of one stream: positions marked per flush, the newest
/// settled one, and what was last written.
struct Checkpoint {
    path: PathBuf,
    written: Option<Journal>,
    last_write: Instant,
    failing: bool,
    /// One mark per flush; `None` where the position could not be
    /// described (the file unreadable), which settles without moving.
    tracker: Tracker<Option<Journal>>,
    /// The newest settled position not written yet.
    settled: Option<Journal>,
    /// Journal failures to report.
    problems: Vec<Notice>,
}

impl Checkpoint {
    fn new(path: PathBuf, written: Option<Journal>) -> Checkpoint {
        Checkpoint {
            path,
            written,
            last_write: Instant::now(),
            failing: false,
            tracker: Tracker::new(),
            settled: None,
            problems: Vec::new(),
        }
    }

    /// Marks the position `follower` reached with `buffered` bytes not
    /// routed yet: the Ack every record of the flush then holds.
    fn mark(&mut self, follower: &Follower, name: &str, buffered: usize) -> Ack {
        let journal = match follower.journal(name, buffered) {
            Ok(journal) => journal,
            Err(err) => {
                self.failed(err.to_string());
                None
            }
        };
        self.tracker.mark(journal)
    }

    /// Takes what settled; true when no mark is open any more.
    fn absorb(&mut self) -> bool {
        // An undescribed newest position leaves the older one pending:
        // writing it is late, never ahead.
        if let Some(Some(journal)) = self.tracker.settled() {
            self.settled = Some(journal);
        }
        self.tracker.pending() == 0
    }

    /// Takes what settled and writes the newest position when `force` or
    /// [`JOURNAL_EVERY`] has passed since the last write.
    fn save(&mut self, force: bool) {
        self.absorb();
        if !force && self.last_write.elapsed() < JOURNAL_EVERY {
            return;
        }
        let Some(journal) = self.settled.take() else {
            return;
        };
        match self.accepted(journal) {
            Ok(()) => self.failing = false,
            Err(error) => self.failed(error),
        }
    }

    /// Records that every destination handled every record before
    /// `journal.offset`, writing it unless nothing changed.
    ///
    /// This is the one place a stream's journal advances, and only with a
    /// position the ack tracker settled ([`Checkpoint::save`]).
    fn accepted(&mut self, journal: Journal) -> Result<(), String> {
        if self.written.as_ref() == Some(&journal) {
            return Ok(());
        }
        journal.store(&self.path).map_err(|e| e.to_string())?;
        self.written = Some(journal);
        self.last_write = Instant::now();
        Ok(())
    }

    /// Reported once until a write succeeds again.
    fn failed(&mut self, error: String) {
        if !self.failing {
            self.failing = true;
            self.problems.push(Notice::JournalFailed { error });
        }
    }
}

/// Waits for `routing` (a flush or a drain of the stream's sink). While it
/// is parked (the pipeline full), settled positions are still written
/// every [`JOURNAL_EVERY`], so a crash replays at most that much beyond
/// what is in flight.
async fn parked(
    checkpoint: &RefCell<Checkpoint>,
    routing: impl Future<Output = Result<(), PluginError>>,
) -> Result<(), PluginError> {
    tokio::pin!(routing);
    loop {
        tokio::select! {
            biased;
            done = &mut routing => return done,
            _ = tokio::time::sleep(JOURNAL_EVERY) => checkpoint.borrow_mut().save(false),
        }
    }
}

/// Flushes `sink`, marking the position reached (the Ack the read's packs
/// hold). Pipelined: the read may still be decoding when this returns
/// (see `StreamSink::flush_pipelined`); with `eof` everything is routed.
async fn flush(
    sink: &mut StreamSink,
    checkpoint: &RefCell<Checkpoint>,
    follower: &Follower,
    name: &str,
    eof: bool,
) -> Result<(), PluginError> {
    let routed = sink.flush_pipelined(eof, |buffered| {
        Some(checkpoint.borrow_mut().mark(follower, name, buffered))
    });
    parked(checkpoint, routed).await
}

/// What a stream task needs from its input.
pub struct StreamCx {
    /// The input's context (stop signal, streams, stats).
    pub cx: InputCx,
    /// The input's checked options.
    pub settings: Rc<Settings>,
}

/// Follows stream `name` (whose files a scan found) until the input stops.
/// Only a fatal pipeline error (the decoder, the router gone) ends it early.
pub async fn follow(
    shared: Rc<StreamCx>,
    name: String,
    files: Vec<LogFile>,
) -> Result<(), PluginError> {
    let (cx, settings) = (&shared.cx, &shared.settings);
    let mut notices = Vec::new();
    let journal_path = journal::path_for(&settings.journal_directory, &name);
    let (saved, initial_tail) = match Journal::load(&journal_path) {
        Ok(saved) => (saved, settings.initial_tail),
        // Like a position not found: read from the oldest file rather than
        // skip to the end with `initial_tail`.
        Err(err) => {
            notices.push(Notice::JournalUnreadable {
                error: err.to_string(),
            });
            (None, false)
        }
    };
    let mut follower = Follower::new(files, settings.rescan_interval);
    follower.start(saved.as_ref(), initial_tail, &mut notices);
    let checkpoint = RefCell::new(Checkpoint::new(journal_path, saved));
    let report = |notices: &mut Vec<Notice>| {
        notices.append(&mut checkpoint.borrow_mut().problems);
        for notice in notices.drain(..) {
            notice.report(cx.name(), &name, cx.stats());
        }
    };
    report(&mut notices);
    let mut sink = cx
        .stream(StreamDefaults {
            hostname: Some(settings.hostname.clone()),
            msg_type: Some(MESSAGE_TYPE.to_owned()),
            logger: Some(name.clone()),
        })
        .map_err(|e| PluginError::fatal(e.to_string()))?;
    let mut rescan = || {
        let now = SystemTime::now();
        let mut found = scan(
            &settings.log_directory,
            &settings.pattern,
            settings.oldest_duration,
            now,
        );
        found.streams.remove(&name).unwrap_or_default()
    };
    let mut last_verify = Instant::now();
    let mut failed_at = None;
    while !cx.is_stopping() {
        let step = match follower.read(sink.buffer()) {
            Ok(0) => {
                // The end of the data for now: route what is in flight, so
                // nothing sits decoded while the stream waits.
                parked(&checkpoint, sink.drain()).await?;
                checkpoint.borrow_mut().save(true);
                follower.at_end(&mut rescan, &mut notices)
            }
            Ok(_) => {
                flush(&mut sink, &checkpoint, &follower, &name, false).await?;
                checkpoint.borrow_mut().save(false);
                // A file rewritten while it is read steadily shows no end;
                // look at its head now and then.
                match last_verify.elapsed() >= settings.check_data_interval {
                    true => {
                        last_verify = Instant::now();
                        follower
                            .verify(&mut rescan, &mut notices)
                            .unwrap_or(Step::Read)
                    }
                    false => Step::Read,
                }
            }
            Err(err) => {
                // Reported once per position, not at every retry.
                let at = follower.position();
                if at.is_some() && at != failed_at {
                    let (file, offset) = at.clone().unwrap_or_default();
                    notices.push(Notice::ReadFailed {
                        file,
                        offset,
                        error: err.to_string(),
                    });
                }
                failed_at = at;
                Step::Wait
            }
        };
        report(&mut notices);
        match step {
            Step::Read => {}
            Step::Wait => {
                parked(&checkpoint, sink.drain()).await?;
                tokio::select! {
                    biased;
                    _ = cx.stopped() => {}
                    _ = tokio::time::sleep(settings.check_data_interval) => {}
                }
            }
            Step::End(next) => {
                // The file's bytes are over: route (or drop, per
                // deliver_incomplete_final) its partial last record.
                flush(&mut sink, &checkpoint, &follower, &name, true).await?;
                follower.enter(next, &mut notices);
                // The next file's start: reached once everything before
                // it settled (nothing holds this mark's Ack).
                let mut journal = checkpoint.borrow_mut();
                drop(journal.mark(&follower, &name, sink.buffer().len()));
                journal.save(true);
                drop(journal);
                report(&mut notices);
            }
        }
    }
    // Stopping: what was read is routed; what is buffered is a partial
    // record, not routed, and the last mark stops before it, so the next
    // run reads it again. Wait for what was routed to be handled (the
    // pipeline still runs), then write the last settled position.
    parked(&checkpoint, sink.drain()).await?;
    let completions = checkpoint.borrow().tracker.completions();
    let all = completions.until(|| checkpoint.borrow_mut().absorb().then_some(()));
    if tokio::time::timeout(cx.settle_limit(), all).await.is_err() {
        let unsettled = checkpoint.borrow().tracker.pending();
        tracing::warn!(plugin = %cx.name(), stream = %name, unsettled, "Records still in flight at stop: the journal stays before them, they will be read again.");
    }
    checkpoint.borrow_mut().save(true);
    report(&mut notices);
    Ok(())
}
