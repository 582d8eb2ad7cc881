//! QueueRunner: the router destination of a buffered filter or output. It
//! appends what the router delivered to the plugin's disk queue with one
//! write(2) per mailbox burst (the `Deliver` batches that were waiting
//! together: one ext4 write of a few dozen records costs about as much as
//! one of many, so small writes doubled the queue's cost in W2), then
//! drops the packs (their pool slots return; never before the write, so
//! kill -9 loses nothing the queue took), and
//! starts the [feeder](super::feeder) that hands the queue to the plugin's
//! runner. When a batch does not fit under `max_buffer_size` (or the
//! append fails: a full disk), `full_action` decides:
//! - `drop`: the batch is discarded, counted in the plugin's dropped, and
//!   logged at most once a second;
//! - `block`: the actor pauses its mailbox and retries with a back-off
//!   from 50 ms to 1 s, so the router (and the inputs) wait, as for a
//!   stalled unbuffered plugin; the feeder keeps draining meanwhile;
//! - `shutdown`: hekad shuts down with status 1 naming the plugin. The
//!   batch is still appended (the queue may pass its limit by what the
//!   pipeline holds in flight), so nothing accepted is lost.
//!
//! At start, a queue still at 90 % of `max_buffer_size` holds its mailbox
//! for up to `[hekad] full_buffer_max_retries` seconds while the feeder
//! drains it, then honours `full_action = "shutdown"`, as Heka did.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{Notify, watch};

use super::Cursor;
use super::feeder::{Feeder, Phase};
use super::reader::QueueReader;
use super::state::Queue;
use crate::config::FullAction;
use crate::messages::{Deliver, Drain, PluginExited, Settle, Stop};
use crate::runner::Env;
use crate::stats::RunnerStats;

/// First wait of `full_action = "block"`.
pub const BLOCK_FIRST: Duration = Duration::from_millis(50);
/// Longest wait of `full_action = "block"`.
pub const BLOCK_MAX: Duration = Duration::from_secs(1);

/// The queue actor of one buffered plugin.
pub struct QueueRunner {
    name: Arc<str>,
    type_name: Arc<str>,
    env: Env,
    stats: Arc<RunnerStats>,
    queue: Rc<RefCell<Queue>>,
    data: Rc<Notify>,
    frames: Vec<u8>,
    /// Packs whose frames wait in `frames` for the burst's write.
    held: Vec<crate::pack::PackRef>,
    held_records: u64,
    flush_scheduled: bool,
    phase: watch::Sender<Phase>,
    holding: watch::Receiver<bool>,
    finished: watch::Receiver<bool>,
    feeder: Option<Feeder>,
    /// `full_action = "shutdown"` fired: later batches are appended anyway.
    overflowing: bool,
    dropped_unlogged: u64,
    last_drop_log: Option<Instant>,
}

impl QueueRunner {
    /// A queue actor for plugin `name` (of `type_name`) over the opened
    /// `queue`, feeding `runner` batches of at most `batch_records`. Build it on the arbiter it
    /// runs on (it shares state with its feeder task there).
    pub fn new(
        env: Env,
        name: Arc<str>,
        type_name: Arc<str>,
        queue: (Queue, Cursor),
        runner: Recipient<Deliver>,
        batch_records: usize,
        stats: Arc<RunnerStats>,
    ) -> QueueRunner {
        let queue_stats = Arc::clone(stats.queue.get_or_init(|| Arc::clone(queue.0.stats())));
        let (queue, start) = queue;
        let reader = QueueReader::new(queue.dir(), start, env.globals.max_message_size as usize);
        let queue = Rc::new(RefCell::new(queue));
        let data = Rc::new(Notify::new());
        let (phase, phase_rx) = watch::channel(Phase::Run);
        let (holding_tx, holding) = watch::channel(false);
        let (finished_tx, finished) = watch::channel(false);
        let feeder = Feeder {
            name: Arc::clone(&name),
            queue: Rc::clone(&queue),
            reader,
            to: runner,
            batch_records,
            stats: Arc::clone(&stats),
            queue_stats,
            data: Rc::clone(&data),
            phase: phase_rx,
            holding: holding_tx,
            finished: finished_tx,
        };
        QueueRunner {
            name,
            type_name,
            env,
            stats,
            queue,
            data,
            frames: Vec::new(),
            held: Vec::new(),
            held_records: 0,
            flush_scheduled: false,
            phase,
            holding,
            finished,
            feeder: Some(feeder),
            overflowing: false,
            dropped_unlogged: 0,
            last_drop_log: None,
        }
    }

    /// Writes what this mailbox burst delivered.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.flush_scheduled = false;
        let records = std::mem::take(&mut self.held_records);
        let packs = std::mem::take(&mut self.held);
        if records > 0 {
            self.store(packs, records, ctx);
        }
        self.frames.clear();
    }

    fn action(&self) -> FullAction {
        self.queue.borrow().config().full_action
    }

    /// Appends `self.frames` (`records` of them) or applies `full_action`.
    fn store(&mut self, packs: Vec<crate::pack::PackRef>, records: u64, ctx: &mut Context<Self>) {
        let len = self.frames.len() as u64;
        let fits = self.overflowing || self.queue.borrow_mut().fits(len);
        let why = if fits {
            match self.queue.borrow_mut().append(&self.frames, records) {
                Ok(()) => {
                    self.data.notify_one();
                    return;
                }
                Err(err) => {
                    tracing::error!(plugin = %self.name, error = %err, "Cannot append to the disk queue.");
                    err.to_string()
                }
            }
        } else {
            let max = self.queue.borrow().config().max_buffer_size;
            format!("disk queue full ({max} bytes, max_buffer_size)")
        };
        match self.action() {
            FullAction::Drop => self.drop_batch(records, &why),
            FullAction::Shutdown => {
                if !self.overflowing {
                    self.overflowing = true;
                    tracing::error!(plugin = %self.name, "Plugin '{}': {why}; shutting down (full_action = \"shutdown\").", self.name);
                    self.env.exits.do_send(PluginExited {
                        name: Arc::clone(&self.name),
                        type_name: Arc::clone(&self.type_name),
                        can_exit: false,
                        error: why.clone(),
                    });
                    if fits {
                        // The append itself failed: the batch is gone.
                        self.drop_batch(records, &why);
                    } else {
                        self.store(packs, records, ctx);
                    }
                } else {
                    self.drop_batch(records, &why);
                }
            }
            FullAction::Block => self.block(packs, records, ctx),
        }
    }

    fn drop_batch(&mut self, records: u64, why: &str) {
        RunnerStats::add(&self.stats.dropped, records);
        self.dropped_unlogged += records;
        if self
            .last_drop_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(plugin = %self.name, dropped = self.dropped_unlogged, "Disk queue: {why}; messages dropped (full_action = \"drop\").");
            self.dropped_unlogged = 0;
            self.last_drop_log = Some(Instant::now());
        }
    }

    /// Holds the mailbox (and so the router) until the batch fits.
    fn block(&mut self, packs: Vec<crate::pack::PackRef>, records: u64, ctx: &mut Context<Self>) {
        let frames = std::mem::take(&mut self.frames);
        let queue = Rc::clone(&self.queue);
        let env = self.env.clone();
        let name = Arc::clone(&self.name);
        tracing::debug!(plugin = %name, "Disk queue full; holding the router back.");
        let wait = async move {
            let mut backoff = BLOCK_FIRST;
            let stored = loop {
                actix::clock::sleep(backoff).await;
                backoff = (backoff * 2).min(BLOCK_MAX);
                if env.past_shutdown_timeout() {
                    break false;
                }
                let mut q = queue.borrow_mut();
                if q.fits(frames.len() as u64) && q.append(&frames, records).is_ok() {
                    break true;
                }
            };
            // The packs were held (with their pool slots) until now.
            drop(packs);
            (frames, stored)
        };
        ctx.wait(
            wait.into_actor(self)
                .map(move |(mut frames, stored), act, _| {
                    frames.clear();
                    act.frames = frames;
                    if stored {
                        act.data.notify_one();
                    } else {
                        act.drop_batch(records, "still full after shutdown_timeout");
                    }
                }),
        );
    }

    /// Heka's start rule: wait while the queue is at 90 % of its limit.
    fn wait_below_ninety_percent(&mut self, ctx: &mut Context<Self>) {
        let max = self.queue.borrow().config().max_buffer_size;
        let tries = self.env.globals.full_buffer_max_retries;
        let over = move |q: &Rc<RefCell<Queue>>| max > 0 && q.borrow().bytes() * 10 >= max * 9;
        if !over(&self.queue) {
            return;
        }
        tracing::warn!(plugin = %self.name, bytes = self.queue.borrow().bytes(), max, "Disk queue at 90 % of max_buffer_size at start; waiting for it to drain.");
        let queue = Rc::clone(&self.queue);
        let wait = async move {
            for _ in 0..tries {
                if !over(&queue) {
                    return false;
                }
                actix::clock::sleep(Duration::from_secs(1)).await;
            }
            over(&queue)
        };
        ctx.wait(wait.into_actor(self).map(|still, act, _| {
            if still && act.action() == FullAction::Shutdown {
                act.overflowing = true;
                act.env.exits.do_send(PluginExited {
                    name: Arc::clone(&act.name),
                    type_name: Arc::clone(&act.type_name),
                    can_exit: false,
                    error: "disk queue still 90 % full after full_buffer_max_retries".into(),
                });
            }
        }));
    }
}

impl Actor for QueueRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(feeder) = self.feeder.take() {
            // A task of its own on this arbiter: ctx.wait (block) must not
            // stop the queue from draining.
            actix::spawn(feeder.run());
        }
        self.wait_below_ninety_percent(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.held_records > 0 {
            // Stop came in the burst that delivered these: write them now.
            let appended = self
                .queue
                .borrow_mut()
                .append(&self.frames, self.held_records);
            if let Err(err) = appended {
                RunnerStats::add(&self.stats.dropped, self.held_records);
                tracing::error!(plugin = %self.name, error = %err, records = self.held_records, "Cannot append to the disk queue at stop; messages dropped.");
            }
        }
        self.phase.send_replace(Phase::Settle);
    }
}

impl Handler<Deliver> for QueueRunner {
    type Result = ();

    fn handle(&mut self, Deliver(packs): Deliver, ctx: &mut Context<Self>) {
        // Counted as received when the feeder hands them to the runner.
        self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        let max = self.env.globals.max_message_size as usize;
        let mut records = 0;
        for pack in &packs {
            match heka_proto::framing::encode_frame(pack.message.raw(), None, max, &mut self.frames)
            {
                Ok(()) => records += 1,
                Err(err) => {
                    RunnerStats::add(&self.stats.dropped, 1);
                    tracing::warn!(plugin = %self.name, error = %err, "Message not queued.");
                }
            }
        }
        if records == 0 {
            return;
        }
        self.held_records += records;
        self.held.extend(packs);
        if !self.flush_scheduled {
            // Spawned items run once the mailbox has no more messages
            // ready, so every batch delivered together shares one write.
            self.flush_scheduled = true;
            ctx.spawn(fut::ready(()).map(|(), act: &mut Self, ctx| act.flush(ctx)));
        }
    }
}

impl Handler<Drain> for QueueRunner {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        // Stop feeding; what is on disk stays there for the next start.
        self.phase.send_replace(Phase::Hold);
        let mut holding = self.holding.clone();
        Box::pin(
            async move {
                let _ = holding.wait_for(|h| *h).await;
            }
            .into_actor(self),
        )
    }
}

impl Handler<Settle> for QueueRunner {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Settle, _: &mut Context<Self>) -> Self::Result {
        self.phase.send_replace(Phase::Settle);
        let mut finished = self.finished.clone();
        Box::pin(
            async move {
                let _ = finished.wait_for(|f| *f).await;
            }
            .into_actor(self),
        )
    }
}

impl Handler<Stop> for QueueRunner {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
