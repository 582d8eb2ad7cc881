//! The task running one stream inside LogstreamerInput: it reads the
//! stream's files through its [`Follower`] into a StreamSink (its own
//! splitter and decoder), which routes whole records and parks while the
//! pipeline is full; after each flush returns, the journal may advance to
//! the first byte not yet accepted. At a file boundary the buffer is
//! flushed as the end of a stream, so a partial last line of a rotated
//! file never joins the next file's first line.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use heka_actors::plugin::{InputCx, PluginError, StreamDefaults};

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

/// The journal of one stream and what was last written to it.
struct Checkpoint {
    path: PathBuf,
    written: Option<Journal>,
    last_write: Instant,
    failing: bool,
}

impl Checkpoint {
    fn due(&self, force: bool) -> bool {
        force || self.last_write.elapsed() >= JOURNAL_EVERY
    }

    /// Records that the pipeline accepted every record before
    /// `journal.offset`, writing it unless nothing changed.
    ///
    /// This is the one place a stream's journal advances. Today it is
    /// called once `StreamSink::flush` returned, i.e. once the router took
    /// the records, so a crash replays at most what was accepted since the
    /// last write and never skips. A pipeline with durable delivery would
    /// call it from the outputs' acknowledgement instead, with the offset
    /// that acknowledgement covers.
    fn accepted(&mut self, journal: Journal) -> Result<(), String> {
        if self.written.as_ref() == Some(&journal) {
            return Ok(());
        }
        journal.store(&self.path).map_err(|e| e.to_string())?;
        self.written = Some(journal);
        self.last_write = Instant::now();
        Ok(())
    }
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
    let report = |notices: &mut Vec<Notice>| {
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
    let mut checkpoint = Checkpoint {
        path: journal_path,
        written: saved,
        last_write: Instant::now(),
        failing: false,
    };
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
                save(
                    &follower,
                    &mut checkpoint,
                    &name,
                    sink.buffer().len(),
                    true,
                    &mut notices,
                );
                follower.at_end(&mut rescan, &mut notices)
            }
            Ok(_) => {
                sink.flush(false).await?;
                // Accepted: every record before `read - buffered` of the
                // open file is in the router's hands.
                save(
                    &follower,
                    &mut checkpoint,
                    &name,
                    sink.buffer().len(),
                    false,
                    &mut notices,
                );
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
                tokio::select! {
                    biased;
                    _ = cx.stopped() => {}
                    _ = tokio::time::sleep(settings.check_data_interval) => {}
                }
            }
            Step::End(next) => {
                // The file's bytes are over: route (or drop, per
                // deliver_incomplete_final) its partial last record.
                sink.flush(true).await?;
                save(
                    &follower,
                    &mut checkpoint,
                    &name,
                    sink.buffer().len(),
                    true,
                    &mut notices,
                );
                follower.enter(next, &mut notices);
                save(
                    &follower,
                    &mut checkpoint,
                    &name,
                    sink.buffer().len(),
                    true,
                    &mut notices,
                );
                report(&mut notices);
            }
        }
    }
    // Stopping: what is buffered is a partial record, not accepted; the
    // journal stops before it so the next run reads it again.
    save(
        &follower,
        &mut checkpoint,
        &name,
        sink.buffer().len(),
        true,
        &mut notices,
    );
    report(&mut notices);
    Ok(())
}

/// Advances the journal to the follower's accepted position (when `force`
/// or [`JOURNAL_EVERY`] has passed).
fn save(
    follower: &Follower,
    checkpoint: &mut Checkpoint,
    name: &str,
    buffered: usize,
    force: bool,
    notices: &mut Vec<Notice>,
) {
    if !checkpoint.due(force) {
        return;
    }
    let result = follower
        .journal(name, buffered)
        .map_err(|e| e.to_string())
        .and_then(|journal| match journal {
            Some(journal) => checkpoint.accepted(journal),
            None => Ok(()),
        });
    match result {
        // Reported once until a write succeeds again.
        Err(error) if !checkpoint.failing => {
            checkpoint.failing = true;
            notices.push(Notice::JournalFailed { error });
        }
        Err(_) => {}
        Ok(()) => checkpoint.failing = false,
    }
}
