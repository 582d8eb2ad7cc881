//! Router: tests every pack against each filter's and output's compiled
//! `message_matcher` (and `message_signer`) and forwards one batch per
//! destination. It hands batches over with `try_send`; when a destination's
//! mailbox is full it parks on `send()` with its own mailbox paused
//! (`ctx.wait`), so a stalled consumer stops the router, which stops the
//! inputs awaiting its replies. It never uses `do_send` for packs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::dev::SendError;
use actix::prelude::*;
use bytes::Bytes;
use heka_grammar::Matcher;

use crate::messages::{Deliver, Drain, Route, Stop, Subscribe, Unsubscribe};
use crate::pack::PackRef;
use crate::stats::RunnerStats;

struct Destination {
    name: Arc<str>,
    matcher: Arc<Matcher>,
    signer: Option<Bytes>,
    recipient: Recipient<Deliver>,
    stats: Arc<RunnerStats>,
    batch: Vec<PackRef>,
}

impl Destination {
    fn matches(&self, pack: &PackRef) -> bool {
        if let Some(signer) = &self.signer
            && pack.signer.as_ref() != Some(signer)
        {
            return false;
        }
        self.matcher.matches(&pack.message)
    }
}

/// The router actor.
pub struct Router {
    destinations: Vec<Destination>,
    stats: Arc<RunnerStats>,
}

impl Router {
    /// A router with no destinations yet; `stats` counts routed packs.
    pub fn new(stats: Arc<RunnerStats>) -> Router {
        Router {
            destinations: Vec::new(),
            stats,
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;
}

impl Handler<Route> for Router {
    type Result = ();

    fn handle(&mut self, Route(packs): Route, ctx: &mut Context<Self>) {
        let started = std::time::Instant::now();
        RunnerStats::add(&self.stats.received, packs.len() as u64);
        for pack in &packs {
            for dest in &mut self.destinations {
                if dest.matches(pack) {
                    dest.batch.push(Arc::clone(pack));
                }
            }
        }
        drop(packs);
        let mut parked = Vec::new();
        for dest in &mut self.destinations {
            if dest.batch.is_empty() {
                continue;
            }
            let batch = std::mem::take(&mut dest.batch);
            let n = batch.len() as u64;
            RunnerStats::add(&dest.stats.matched, n);
            dest.stats.queued.fetch_add(1, Ordering::Relaxed);
            match dest.recipient.try_send(Deliver(batch)) {
                Ok(()) => {}
                Err(SendError::Full(batch)) => parked.push(dest.recipient.send(batch)),
                Err(SendError::Closed(_)) => {
                    dest.stats.queued.fetch_sub(1, Ordering::Relaxed);
                    RunnerStats::add(&dest.stats.dropped, n);
                    tracing::error!(plugin = %dest.name, dropped = n, "Destination is gone; messages dropped.");
                }
            }
        }
        self.stats.time(started, 1);
        if !parked.is_empty() {
            // A full mailbox: stop taking routes until it has room, so the
            // pressure reaches the inputs (they await our reply).
            ctx.wait(
                futures_util::future::join_all(parked)
                    .into_actor(self)
                    .map(|_, _, _| ()),
            );
        }
    }
}

impl Handler<Subscribe> for Router {
    type Result = ();

    fn handle(&mut self, sub: Subscribe, _: &mut Context<Self>) {
        let dest = Destination {
            name: sub.name,
            matcher: sub.matcher,
            signer: sub.signer,
            recipient: sub.recipient,
            stats: sub.stats,
            batch: Vec::new(),
        };
        match self.destinations.iter_mut().find(|d| d.name == dest.name) {
            Some(existing) => {
                // A replaced matcher keeps what is already batched.
                let batch = std::mem::take(&mut existing.batch);
                *existing = Destination { batch, ..dest };
            }
            None => self.destinations.push(dest),
        }
    }
}

impl Handler<Unsubscribe> for Router {
    type Result = ();

    fn handle(&mut self, Unsubscribe(name): Unsubscribe, _: &mut Context<Self>) {
        self.destinations.retain(|d| d.name != name);
    }
}

impl Handler<Drain> for Router {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {
        // Mailboxes are FIFO and parked hand-overs pause ours: by now every
        // route received before this message has reached its destinations.
    }
}

impl Handler<Stop> for Router {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
