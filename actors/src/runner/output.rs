//! OutputRunner: the actor that owns one output and its encoder. Each
//! `Deliver` batch is encoded (and framed when `use_framing`) into one
//! buffer, then written with the mailbox paused, so writes are serialised
//! and a slow output holds back the router instead of queueing without
//! bound. A failed write is retried or the output is rebuilt per `retries`;
//! the batch is only released once written. An output that keeps records
//! in memory after `write` returned ([`Output::holds_records`]) makes the
//! runner keep those records' acknowledgements (not the packs: their pool
//! slots go back) until a write or flush empties its buffer, so no
//! producer's checkpoint passes a record that is not written out.
//!
//! Before the first write, the runner calls [`Output::start`] on its own
//! thread with an [`OutputCx`] (and again on every instance rebuilt after
//! a failure): that is where an output spawns work of its own, such as
//! DashboardOutput's HTTP server and its report ticker.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::FutureExt;
use heka_grammar::Matcher;

use crate::ack::Ack;
use crate::catalogue::Catalogue;
use crate::config::{Globals, PluginSpec};
use crate::messages::{Deliver, Drain, Reopen, Stop};
use crate::pack::{EncodedBatch, PackRef};
use crate::pipeline::InjectError;
use crate::plugin::{BuildError, Encoder, Output, PluginError};
use crate::report::Reporter;
use crate::runner::failure::{Failures, route_failures};
use crate::runner::{Env, Identity, RestartPolicy, guarded, panic_error, unhandled};
use crate::stats::RunnerStats;

/// The actor running one output.
pub struct OutputRunner {
    id: Identity,
    env: Env,
    spec: PluginSpec,
    output: Option<Box<dyn Output>>,
    encoder: Option<Box<dyn Encoder>>,
    encoder_stats: Option<Arc<RunnerStats>>,
    use_framing: bool,
    scratch: Vec<u8>,
    spare: Option<EncodedBatch>,
    policy: RestartPolicy,
    exited: bool,
    failures: Failures,
    /// Acknowledgements of records the output holds unwritten, one per
    /// batch (see [`Output::holds_records`]); bounded by its buffer.
    held: Vec<Ack>,
}

/// What an output gets when its runner starts it ([`Output::start`]): its
/// name and what of the running pipeline an output may use.
#[derive(Debug, Clone)]
pub struct OutputCx {
    name: Arc<str>,
    reporter: Option<Reporter>,
}

impl OutputCx {
    /// A context outside any pipeline (tests): reports cannot be routed.
    pub fn detached(name: &str) -> OutputCx {
        OutputCx {
            name: name.into(),
            reporter: None,
        }
    }

    /// The output's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Routes `heka.all-report`, then `heka.memstat`, through the router
    /// like any injected message (Heka's dashboard ticker). Waits while the
    /// inject pool is empty or the router's mailbox is full; `Stopped`
    /// outside a pipeline or once it stopped.
    pub async fn inject_reports(&self) -> Result<(), InjectError> {
        let reporter = self.reporter.as_ref().ok_or(InjectError::Stopped)?;
        reporter.inject_report().await?;
        reporter.inject_memstat().await
    }
}

/// Builds the encoder an output's spec names and decides `use_framing`.
pub fn build_encoder(
    catalogue: &Catalogue,
    templates: &[PluginSpec],
    globals: &Globals,
    spec: &PluginSpec,
    output: &dyn Output,
) -> Result<(Option<Box<dyn Encoder>>, bool), BuildError> {
    let encoder = match &spec.common.encoder {
        Some(name) => {
            let template = templates
                .iter()
                .rev()
                .find(|t| &t.name == name)
                .ok_or_else(|| {
                    BuildError::invalid(spec, format!("encoder `{name}` is not defined"))
                })?;
            Some(catalogue.encoder(template, globals)?)
        }
        None if output.needs_encoder() => {
            return Err(BuildError::invalid(
                spec,
                "this output requires an `encoder`",
            ));
        }
        None => None,
    };
    let framing_default =
        output.frames_protobuf_by_default() && encoder.as_ref().is_some_and(|e| e.is_protobuf());
    Ok((encoder, spec.common.use_framing.unwrap_or(framing_default)))
}

impl OutputRunner {
    /// A runner for an already built output and encoder.
    pub fn new(
        env: Env,
        spec: PluginSpec,
        output: Box<dyn Output>,
        encoder: Option<Box<dyn Encoder>>,
        use_framing: bool,
        stats: Arc<RunnerStats>,
    ) -> Self {
        // The encoder's report row, `<output>-<encoder>` as Heka names it.
        let encoder_stats = spec
            .common
            .encoder
            .as_deref()
            .and_then(|name| env.spec(name))
            .filter(|_| encoder.is_some())
            .map(|template| {
                let name: Arc<str> = format!("{}-{}", spec.name, template.name).into();
                env.stats.register(
                    &name,
                    template.category,
                    &template.type_name.as_str().into(),
                )
            });
        OutputRunner {
            encoder_stats,
            id: Identity {
                name: spec.name.as_str().into(),
                type_name: spec.type_name.as_str().into(),
                stats,
            },
            policy: RestartPolicy::new(spec.retries()),
            failures: Failures::new(
                spec.name.as_str().into(),
                spec.type_name.as_str().into(),
                &env.globals.hostname,
                env.pid,
                env.globals.max_message_loops,
            ),
            env,
            spec,
            output: Some(output),
            encoder,
            use_framing,
            scratch: Vec::new(),
            spare: None,
            exited: false,
            held: Vec::new(),
        }
    }

    /// Gives the runner its output's matcher, so a failure message that
    /// would come straight back is refused (see [`super::failure`]).
    pub fn with_matcher(mut self, matcher: Arc<Matcher>) -> Self {
        self.failures.set_matcher(matcher);
        self
    }

    /// Encodes `packs` into one batch; what the encoder fails on is
    /// returned with its error.
    fn encode(&mut self, packs: Vec<PackRef>) -> (EncodedBatch, Vec<(PackRef, String)>) {
        let mut failed = Vec::new();
        let mut batch = self.spare.take().unwrap_or_default();
        batch.clear();
        let max = self.env.globals.max_message_size as usize;
        for pack in packs {
            let start = batch.data.len();
            let result = match self.encoder.as_mut() {
                None => Ok(()),
                // The message's own bytes, framed straight into the batch.
                Some(encoder) if self.use_framing && encoder.is_protobuf() => {
                    heka_proto::framing::encode_frame(
                        pack.message.raw(),
                        None,
                        max,
                        &mut batch.data,
                    )
                    .map_err(|e| PluginError::message(e.to_string()))
                }
                Some(encoder) if self.use_framing => {
                    self.scratch.clear();
                    let scratch = &mut self.scratch;
                    guarded(|| encoder.encode(&pack, scratch)).and_then(|()| {
                        if self.scratch.is_empty() {
                            return Ok(());
                        }
                        heka_proto::framing::encode_frame(&self.scratch, None, max, &mut batch.data)
                            .map_err(|e| PluginError::message(e.to_string()))
                    })
                }
                Some(encoder) => {
                    let data = &mut batch.data;
                    guarded(|| encoder.encode(&pack, data))
                }
            };
            if let Some(stats) = &self.encoder_stats {
                RunnerStats::add(&stats.received, 1);
                match &result {
                    Ok(()) => RunnerStats::add(&stats.processed, 1),
                    Err(_) => RunnerStats::add(&stats.errors, 1),
                }
            }
            match result {
                Ok(()) if self.encoder.is_some() && batch.data.len() == start => {
                    // The encoder chose to skip this message.
                    RunnerStats::add(&self.id.stats.processed, 1);
                }
                Ok(()) => {
                    batch.ends.push(batch.data.len());
                    batch.packs.push(pack);
                }
                Err(err) => {
                    batch.data.truncate(start);
                    RunnerStats::add(&self.id.stats.errors, 1);
                    tracing::warn!(plugin = %self.id.name, error = %err, "Encoding failed.");
                    failed.push((pack, format!("encoding failed: {err}")));
                }
            }
        }
        if let (Some(encoder), Some(stats)) = (&self.encoder, &self.encoder_stats) {
            stats.set_extra(encoder.report_fields());
        }
        (batch, failed)
    }

    /// Writes `batch` with the mailbox paused; retries, restarts and gives
    /// up per the plugin's answers and its `retries` table.
    fn write(&mut self, batch: EncodedBatch, ctx: &mut Context<Self>) {
        let Some(mut output) = self.output.take() else {
            self.fail(batch, "the output is not running".into(), ctx);
            return;
        };
        let started = std::time::Instant::now();
        let mut batch = batch;
        // A (re)built output has no memory of this batch.
        batch.attempt = 0;
        let env = self.env.clone();
        let fut = async move {
            let mut backoff = Duration::from_millis(10);
            let result = loop {
                let attempt = std::panic::AssertUnwindSafe(output.write(&batch))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panic_error(panic)));
                match attempt {
                    Err(PluginError::Retry(text)) if env.past_shutdown_timeout() => {
                        break Err(PluginError::message(format!(
                            "still failing {:?} after shutdown began: {text}",
                            env.globals.shutdown_timeout
                        )));
                    }
                    Err(PluginError::Retry(text)) => {
                        tracing::debug!(error = %text, "Output asked to retry.");
                        actix::clock::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        batch.attempt += 1;
                    }
                    other => break other,
                }
            };
            (output, batch, result)
        };
        ctx.wait(fut.into_actor(self).map(move |(output, batch, result), act, ctx| {
            let n = batch.len() as u64;
            act.id.stats.set_extra(output.report_fields());
            if !matches!(result, Ok(()) | Err(PluginError::Message(_))) && !act.held.is_empty() {
                // The output's memory goes with it: those records are never
                // counted as handled, so a disk queue or a journal replays
                // them at the next start.
                tracing::warn!(plugin = %act.id.name, batches = act.held.len(), "Output failed holding unwritten records; they stay unacknowledged.");
                for ack in act.held.drain(..) {
                    ack.fail();
                }
            } else {
                act.hold_acks(&*output, Some(&batch));
            }
            match result {
                Ok(()) => {
                    act.output = Some(output);
                    RunnerStats::add(&act.id.stats.processed, n);
                    act.id.stats.time(started, n);
                    act.policy.reset();
                    act.recycle(batch);
                }
                Err(PluginError::Message(text)) => {
                    act.output = Some(output);
                    if act.env.past_shutdown_timeout() {
                        // Given up at shutdown, not refused by the output.
                        unhandled(&batch.packs);
                    }
                    RunnerStats::add(&act.id.stats.errors, 1);
                    tracing::error!(plugin = %act.id.name, error = %text, records = n, "Output failed a batch.");
                    act.fail(batch, text.into_owned(), ctx);
                }
                Err(err) => {
                    drop(output);
                    act.restart(err.to_string(), Some(batch), ctx);
                }
            }
        }));
    }

    /// The output gave up on `batch`: its records are counted as dropped
    /// here and routed as `heka.output-failure` messages.
    fn fail(&mut self, mut batch: EncodedBatch, error: String, ctx: &mut Context<Self>) {
        let packs = std::mem::take(&mut batch.packs);
        self.recycle(batch);
        self.fail_packs(packs.into_iter().map(|p| (p, error.clone())).collect(), ctx);
    }

    fn fail_packs(&mut self, failed: Vec<(PackRef, String)>, ctx: &mut Context<Self>) {
        if failed.is_empty() {
            return;
        }
        RunnerStats::add(&self.id.stats.dropped, failed.len() as u64);
        let mut messages = Vec::with_capacity(failed.len());
        let mut refused = 0;
        for (pack, error) in failed {
            let built = self.failures.build(std::slice::from_ref(&pack), &error);
            messages.extend(built.messages);
            refused += built.refused;
        }
        if refused > 0 {
            tracing::error!(plugin = %self.id.name, records = refused, "Failed records lost: their heka.output-failure message would loop back.");
        }
        // Paused while routing: a failing output cannot pile up failures.
        let (env, name) = (self.env.clone(), Arc::clone(&self.id.name));
        ctx.wait(async move { route_failures(&env, &name, messages).await }.into_actor(self));
    }

    /// After a call on `output`: keeps `batch`'s acknowledgements while the
    /// output holds records, releases every held one once it holds none.
    fn hold_acks(&mut self, output: &dyn Output, batch: Option<&EncodedBatch>) {
        if !output.holds_records() {
            self.held.clear();
            return;
        }
        for ack in batch.iter().flat_map(|b| &b.packs).filter_map(|p| p.ack()) {
            if !self.held.last().is_some_and(|held| held.same(ack)) {
                self.held.push(ack.clone());
            }
        }
    }

    fn recycle(&mut self, mut batch: EncodedBatch) {
        batch.clear();
        self.spare = Some(batch);
    }

    /// Calls [`Output::start`] on `output` (a fresh or rebuilt instance).
    fn start_output(&self, output: &mut Box<dyn Output>) -> Result<(), PluginError> {
        let cx = OutputCx {
            name: Arc::clone(&self.id.name),
            reporter: Some(self.env.reporter.clone()),
        };
        guarded(|| output.start(cx))
    }

    /// The output failed for good (`batch`, if any, was being written):
    /// rebuilds and starts it after the back-off, then writes `batch` again;
    /// gives up when the plugin's retries are spent.
    fn restart(&mut self, error: String, batch: Option<EncodedBatch>, ctx: &mut Context<Self>) {
        RunnerStats::add(&self.id.stats.errors, 1);
        if self.env.past_shutdown_timeout() {
            if let Some(batch) = batch {
                tracing::error!(plugin = %self.id.name, error = %error, records = batch.len(), "Output still failing after shutdown began.");
                // Kept for the next start by a disk queue, and routed as
                // failures for whatever has no durable producer.
                unhandled(&batch.packs);
                self.fail(batch, error, ctx);
            }
            return;
        }
        let Some(delay) = self.id.next_restart(&mut self.policy, "Output", &error) else {
            if let Some(batch) = batch {
                unhandled(&batch.packs);
                self.fail(batch, error.clone(), ctx);
            }
            self.give_up(error);
            return;
        };
        ctx.wait(
            actix::clock::sleep(delay)
                .into_actor(self)
                .map(move |_, act, ctx| {
                    let rebuilt = act
                        .env
                        .catalogue
                        .output(&act.spec, &act.env.globals)
                        .map_err(|e| e.to_string())
                        .and_then(|mut output| match act.start_output(&mut output) {
                            Ok(()) => Ok(output),
                            Err(e) => Err(e.to_string()),
                        });
                    match rebuilt {
                        Ok(output) => {
                            act.output = Some(output);
                            // The same bytes go to the rebuilt output: nothing the
                            // router handed over is lost by a restart.
                            if let Some(batch) = batch {
                                act.write(batch, ctx);
                            }
                        }
                        Err(err) => act.restart(err, batch, ctx),
                    }
                }),
        );
    }

    fn give_up(&mut self, error: String) {
        self.exited = true;
        self.id.exit(&self.env, &self.spec, "Output", error);
    }

    fn call<F>(&mut self, what: &'static str, f: F) -> ResponseActFuture<Self, ()>
    where
        F: for<'a> FnOnce(
                &'a mut Box<dyn Output>,
            )
                -> crate::plugin::LocalBoxFuture<'a, Result<(), PluginError>>
            + 'static,
    {
        let Some(mut output) = self.output.take() else {
            return Box::pin(fut::ready(()));
        };
        let fut = async move {
            let result = std::panic::AssertUnwindSafe(f(&mut output))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panic_error(panic)));
            (output, result)
        };
        Box::pin(fut.into_actor(self).map(move |(output, result), act, _| {
            act.id.stats.set_extra(output.report_fields());
            act.hold_acks(&*output, None);
            act.output = Some(output);
            if let Err(err) = result {
                RunnerStats::add(&act.id.stats.errors, 1);
                tracing::error!(plugin = %act.id.name, error = %err, "Output {what} failed.");
            }
        }))
    }
}

impl Actor for OutputRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Read before the start, which may fail and leave no instance
        // until a rebuilt one arrives.
        let flush_every = self.output.as_ref().and_then(|o| o.flush_interval());
        if let Some(mut output) = self.output.take() {
            match self.start_output(&mut output) {
                Ok(()) => self.output = Some(output),
                Err(err) => {
                    drop(output);
                    tracing::error!(plugin = %self.id.name, error = %err, "Output failed to start.");
                    self.restart(err.to_string(), None, ctx);
                }
            }
        }
        if let Some(every) = flush_every {
            ctx.run_interval(every, |act, ctx| {
                let flush = act.call("flush", |o| o.flush());
                ctx.wait(flush);
            });
        }
    }
}

impl Handler<Deliver> for OutputRunner {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        let stats = &self.id.stats;
        stats.took_batch(msg.0.len());
        if self.exited {
            unhandled(&msg.0);
            let failed = msg
                .0
                .into_iter()
                .map(|p| (p, "the output exited".to_owned()));
            self.fail_packs(failed.collect(), ctx);
            return;
        }
        let (batch, failed) = self.encode(msg.0);
        self.fail_packs(failed, ctx);
        if !batch.is_empty() {
            self.write(batch, ctx);
        } else {
            self.recycle(batch);
        }
    }
}

impl Handler<Reopen> for OutputRunner {
    type Result = ();

    fn handle(&mut self, _: Reopen, ctx: &mut Context<Self>) {
        let reopen = self.call("reopen", |o| o.reopen());
        ctx.wait(reopen);
    }
}

impl Handler<Drain> for OutputRunner {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        // Everything delivered before this message was written (FIFO
        // mailbox, writes pause it); the reply waits for the final flush.
        AtomicResponse::new(self.call("shutdown", |o| o.shutdown()))
    }
}

impl Handler<Stop> for OutputRunner {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
