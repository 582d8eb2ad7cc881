//! FilterRunner: the actor that owns one filter. It takes `Deliver` batches
//! from the router, calls the plugin per pack (panics caught), turns what the
//! plugin injected into packs from the inject pool and sends them back to the
//! router without waiting, so a filter never deadlocks against a router that
//! is itself waiting for this filter's mailbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use heka_grammar::Matcher;
use heka_proto::{Message, MessageView};
use tokio::sync::watch;

use crate::config::PluginSpec;
use crate::control::Control;
use crate::messages::{Deliver, Drain, Route, Stop};
use crate::pack::{Pack, PackRef, now_ns};
use crate::plugin::{Filter, PluginError, message_defaults};
use crate::runner::reload::{POLL_INTERVAL, Watch};
use crate::runner::{Env, Identity, RestartPolicy, guarded, unhandled};
use crate::stats::RunnerStats;

/// Why an injection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// More injections in this call than `max_process_inject` or
    /// `max_timer_inject` allow.
    #[error("exceeded the limit of {0} injected messages per call")]
    TooMany(u32),
    /// The message chain was injected more than `max_message_loops` times.
    #[error("exceeded MaxMsgLoops = {0}")]
    Loops(u32),
    /// The new message matches the filter's own matcher (it would loop).
    #[error("the injected message matches this filter's own message_matcher")]
    SelfMatch,
    /// The message could not be encoded.
    #[error("the injected message is invalid: {0}")]
    Invalid(String),
}

/// What a filter call may do besides reading its pack: inject messages.
pub struct FilterCx {
    name: Arc<str>,
    hostname: Arc<str>,
    pid: i32,
    matcher: Option<Arc<Matcher>>,
    max_loops: u32,
    limit: u32,
    loops: u32,
    count: u32,
    injected: Vec<(MessageView, u32)>,
    control: Option<Control>,
}

impl FilterCx {
    /// A context for filter `name` (tests build one directly).
    pub fn new(name: &str, hostname: &str, pid: i32, max_loops: u32) -> FilterCx {
        FilterCx {
            name: name.into(),
            hostname: hostname.into(),
            pid,
            matcher: None,
            max_loops: max_loops.max(1),
            limit: u32::MAX,
            loops: 0,
            count: 0,
            injected: Vec::new(),
            control: None,
        }
    }

    /// Offers the pipeline's [`Control`] to the filter.
    pub fn with_control(mut self, control: Control) -> FilterCx {
        self.control = Some(control);
        self
    }

    /// Loads, unloads and replaces other filters (absent in a context
    /// built outside a pipeline).
    pub fn control(&self) -> Option<&Control> {
        self.control.as_ref()
    }

    /// Replaces the self-match guard (the filter's matcher changed).
    pub(crate) fn set_matcher(&mut self, matcher: Arc<Matcher>) {
        self.matcher = Some(matcher);
    }

    /// Sets the guard against injecting a message the filter itself matches.
    pub fn with_matcher(mut self, matcher: Arc<Matcher>) -> FilterCx {
        self.matcher = Some(matcher);
        self
    }

    /// Starts a new call with an injection limit, for a pack injected `loops`
    /// times so far.
    pub fn begin(&mut self, limit: u32, loops: u32) {
        self.limit = limit;
        self.loops = loops;
        self.count = 0;
    }

    /// The filter's instance name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new message with Heka's inject defaults: fresh uuid, timestamp now,
    /// hostname and pid of hekad, logger = the filter name.
    pub fn new_message(&self) -> Message {
        let mut msg = message_defaults(&self.hostname, self.pid);
        msg.logger = Some(bytes::Bytes::copy_from_slice(self.name.as_bytes()));
        msg
    }

    /// Injects a message into the router.
    pub fn inject(&mut self, msg: &Message) -> Result<(), InjectError> {
        if self.count >= self.limit {
            return Err(InjectError::TooMany(self.limit));
        }
        let loops = self.loops + 1;
        if loops > self.max_loops {
            return Err(InjectError::Loops(self.max_loops));
        }
        let view =
            MessageView::from_message(msg).map_err(|e| InjectError::Invalid(e.to_string()))?;
        if self.matcher.as_ref().is_some_and(|m| m.matches(&view)) {
            return Err(InjectError::SelfMatch);
        }
        self.count += 1;
        self.injected.push((view, loops));
        Ok(())
    }

    /// Takes the messages injected so far, with their loop counts.
    pub fn take_injected(&mut self) -> Vec<(MessageView, u32)> {
        std::mem::take(&mut self.injected)
    }
}

/// The `ticker_interval` of a filter, if it has one.
pub(super) fn ticker(spec: &PluginSpec, plugin: &dyn Filter) -> Option<Duration> {
    match spec
        .common
        .ticker_interval
        .unwrap_or_else(|| plugin.default_ticker_interval())
    {
        0 => None,
        secs => Some(Duration::from_secs(secs)),
    }
}

/// The actor running one filter.
pub struct FilterRunner {
    id: Identity,
    pub(super) env: Env,
    pub(super) spec: PluginSpec,
    pub(super) plugin: Option<Box<dyn Filter>>,
    pub(super) watch: Watch,
    pub(super) cx: FilterCx,
    pub(super) policy: RestartPolicy,
    pub(super) ticker: Option<Duration>,
    ticker_handle: Option<SpawnHandle>,
    /// Injection batches sent to the router and not yet answered.
    in_flight: watch::Sender<usize>,
}

impl FilterRunner {
    /// A runner for an already built filter.
    pub fn new(
        env: Env,
        spec: PluginSpec,
        plugin: Box<dyn Filter>,
        matcher: Arc<Matcher>,
        stats: Arc<RunnerStats>,
    ) -> Self {
        let id = Identity {
            name: spec.name.as_str().into(),
            type_name: spec.type_name.as_str().into(),
            stats,
        };
        let cx = FilterCx::new(
            &spec.name,
            &env.globals.hostname,
            env.pid,
            env.globals.max_message_loops,
        )
        .with_matcher(matcher)
        .with_control(env.control.clone());
        let ticker = ticker(&spec, &*plugin);
        FilterRunner {
            watch: Watch::of(&*plugin),
            id,
            policy: RestartPolicy::new(spec.retries()),
            env,
            spec,
            plugin: Some(plugin),
            cx,
            ticker,
            ticker_handle: None,
            in_flight: watch::channel(0).0,
        }
    }

    /// Processes `batch` from index `start`; pauses the mailbox for retries
    /// and restarts, then resumes where it stopped.
    fn run_batch(&mut self, batch: Vec<PackRef>, start: usize, ctx: &mut Context<Self>) {
        let stats = Arc::clone(&self.id.stats);
        let begun = Instant::now();
        let mut i = start;
        while i < batch.len() {
            let Some(plugin) = self.plugin.as_mut() else {
                RunnerStats::add(&stats.dropped, (batch.len() - i) as u64);
                unhandled(&batch[i..]);
                break;
            };
            let pack = &batch[i];
            self.cx
                .begin(self.env.globals.max_process_inject, pack.loops);
            let cx = &mut self.cx;
            match guarded(|| plugin.process(pack, cx)) {
                Ok(()) => RunnerStats::add(&stats.processed, 1),
                Err(PluginError::Message(text)) => {
                    RunnerStats::add(&stats.errors, 1);
                    RunnerStats::add(&stats.dropped, 1);
                    tracing::warn!(plugin = %self.id.name, error = %text, "Filter dropped a message.");
                }
                Err(PluginError::Retry(text)) if self.env.past_shutdown_timeout() => {
                    RunnerStats::add(&stats.dropped, 1);
                    unhandled(std::slice::from_ref(pack));
                    tracing::error!(plugin = %self.id.name, error = %text, "Filter still retrying after shutdown began; message dropped.");
                }
                Err(PluginError::Retry(text)) => {
                    tracing::debug!(plugin = %self.id.name, error = %text, "Filter asked to retry.");
                    self.flush_injected(ctx);
                    let wait = Duration::from_millis(10);
                    ctx.wait(
                        actix::clock::sleep(wait)
                            .into_actor(self)
                            .map(move |_, act, ctx| act.run_batch(batch, i, ctx)),
                    );
                    return;
                }
                Err(PluginError::Fatal(text)) => {
                    RunnerStats::add(&stats.errors, 1);
                    RunnerStats::add(&stats.dropped, 1);
                    self.flush_injected(ctx);
                    // The pack that failed is not offered again (it could
                    // fail forever); the rest go to the rebuilt plugin.
                    self.restart(text.into_owned(), ctx, Some((batch, i + 1)));
                    return;
                }
            }
            i += 1;
        }
        stats.time(begun, (batch.len() - start) as u64);
        if let Some(plugin) = &self.plugin {
            stats.set_extra(plugin.report_fields());
        }
        if self.plugin.is_some() {
            // A batch through without a restart is a clean run.
            self.policy.reset();
        }
        self.flush_injected(ctx);
    }

    /// Rebuilds the plugin after the back-off (then resumes the batch it
    /// was in), or gives up per `can_exit`.
    fn restart(
        &mut self,
        error: String,
        ctx: &mut Context<Self>,
        resume: Option<(Vec<PackRef>, usize)>,
    ) {
        self.plugin = None;
        let Some(delay) = self.id.next_restart(&mut self.policy, "Filter", &error) else {
            if let Some((batch, next)) = resume {
                RunnerStats::add(
                    &self.id.stats.dropped,
                    batch.len().saturating_sub(next) as u64,
                );
                unhandled(batch.get(next..).unwrap_or_default());
            }
            self.give_up(error);
            return;
        };
        ctx.wait(
            actix::clock::sleep(delay)
                .into_actor(self)
                .map(move |_, act, ctx| {
                    match act.env.catalogue.filter(&act.spec, &act.env.globals) {
                        Ok(plugin) => {
                            act.watch = Watch::of(&*plugin);
                            act.plugin = Some(plugin);
                            if let Some((batch, next)) = resume {
                                act.run_batch(batch, next, ctx);
                            }
                        }
                        Err(err) => act.restart(err.to_string(), ctx, resume),
                    }
                }),
        );
    }

    fn give_up(&mut self, error: String) {
        // Queued deliveries reach a runner without a plugin: counted as dropped.
        self.plugin = None;
        self.id.exit(&self.env, &self.spec, "Filter", error);
    }

    /// Sends what the plugin injected to the router as pooled packs.
    fn flush_injected(&mut self, ctx: &mut Context<Self>) {
        let injected = self.cx.take_injected();
        if injected.is_empty() {
            return;
        }
        RunnerStats::add(&self.id.stats.injected, injected.len() as u64);
        let pool = self.env.inject_pool.clone();
        let mut packs = Vec::with_capacity(injected.len());
        let mut waiting = Vec::new();
        for (view, loops) in injected {
            match pool.try_acquire() {
                Some(permit) => packs.push(Arc::new(Pack::pooled(view, None, loops, permit))),
                None => waiting.push((view, loops)),
            }
        }
        self.send_to_router(packs, ctx);
        if waiting.is_empty() {
            return;
        }
        // The inject pool is empty: wait a bounded time (pausing this filter)
        // rather than block forever on packs that may sit in our own mailbox.
        let want = waiting.len();
        let fut = async move {
            tokio::time::timeout(Duration::from_millis(500), pool.acquire(want))
                .await
                .ok()
        };
        ctx.wait(fut.into_actor(self).map(move |permits, act, ctx| {
            let permits = permits.unwrap_or_default();
            let lost = waiting.len().saturating_sub(permits.len());
            if lost > 0 {
                RunnerStats::add(&act.id.stats.dropped, lost as u64);
                tracing::error!(plugin = %act.id.name, lost, "Inject pool exhausted; injected messages dropped.");
            }
            let packs = waiting
                .into_iter()
                .zip(permits)
                .map(|((view, loops), permit)| Arc::new(Pack::pooled(view, None, loops, permit)))
                .collect();
            act.send_to_router(packs, ctx);
        }));
    }

    fn send_to_router(&mut self, packs: Vec<PackRef>, ctx: &mut Context<Self>) {
        if packs.is_empty() {
            return;
        }
        self.in_flight.send_modify(|n| *n += 1);
        let in_flight = self.in_flight.clone();
        let send = self.env.router.send(Route(packs));
        ctx.spawn(
            async move {
                let _ = send.await;
                in_flight.send_modify(|n| *n -= 1);
            }
            .into_actor(self),
        );
    }

    /// (Re)starts the `timer_event` interval.
    pub(super) fn schedule_ticker(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.ticker_handle.take() {
            ctx.cancel_future(handle);
        }
        if let Some(every) = self.ticker {
            self.ticker_handle = Some(ctx.run_interval(every, |act, ctx| act.timer_event(ctx)));
        }
    }

    fn timer_event(&mut self, ctx: &mut Context<Self>) {
        let Some(plugin) = self.plugin.as_mut() else {
            return;
        };
        self.cx.begin(self.env.globals.max_timer_inject, 0);
        let cx = &mut self.cx;
        let result = guarded(|| plugin.timer_event(now_ns(), cx));
        self.id.stats.set_extra(plugin.report_fields());
        self.flush_injected(ctx);
        match result {
            Ok(()) => {}
            Err(PluginError::Fatal(text)) => self.restart(text.into_owned(), ctx, None),
            Err(err) => {
                RunnerStats::add(&self.id.stats.errors, 1);
                tracing::warn!(plugin = %self.id.name, error = %err, "Filter timer_event failed.");
            }
        }
    }
}

impl Actor for FilterRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_ticker(ctx);
        // Cheap when nothing is watched; a swapped-in plugin may watch.
        ctx.run_interval(POLL_INTERVAL, |act, _| {
            if act.watch.changed() {
                // A failed reload is logged; the running version stays.
                let _ = act.reload(None);
            }
        });
        if let Some(plugin) = self.plugin.as_mut() {
            self.cx.begin(self.env.globals.max_timer_inject, 0);
            let cx = &mut self.cx;
            if let Err(err) = guarded(|| {
                plugin.started(cx);
                Ok(())
            }) {
                tracing::error!(plugin = %self.id.name, error = %err, "Filter start hook failed.");
            }
            self.flush_injected(ctx);
        }
    }
}

impl Handler<Deliver> for FilterRunner {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        self.id.stats.took_batch(msg.0.len());
        self.run_batch(msg.0, 0, ctx);
    }
}

impl Handler<Drain> for FilterRunner {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(plugin) = self.plugin.as_mut() {
            self.cx.begin(self.env.globals.max_timer_inject, 0);
            let cx = &mut self.cx;
            let _ = guarded(|| {
                plugin.shutdown(cx);
                Ok(())
            });
            self.flush_injected(ctx);
        }
        let mut in_flight = self.in_flight.subscribe();
        Box::pin(
            async move {
                let _ = in_flight.wait_for(|n| *n == 0).await;
            }
            .into_actor(self),
        )
    }
}

impl Handler<Stop> for FilterRunner {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
