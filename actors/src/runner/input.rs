//! InputRunner: the actor that owns one input. It runs the input's future on
//! its arbiter; the input reads bytes into [`StreamSink`]s, which split,
//! decode, take packs from the input pool and hand them to the router
//! (`try_send`, or a parked `send()` while its mailbox is full). An empty
//! pool or a full router therefore stops the input reading, and TCP pushes
//! back on the sender.

use std::rc::Rc;
use std::sync::Arc;

use actix::dev::SendError;
use actix::prelude::*;
use futures_util::FutureExt;
use heka_proto::MessageView;
use tokio::sync::watch;

use crate::config::PluginSpec;
use crate::messages::{Drain, Route, Stop};
use crate::pack::{Pack, PackRef};
use crate::plugin::{BuildError, Input, PluginError};
pub use crate::runner::sink::{DRAIN_IDLE, DRAIN_LIMIT, StreamSink};
pub use crate::runner::stream::StreamDefaults;
use crate::runner::stream::{Parallel, Settings, Stream, StreamStats};
use crate::runner::{Env, Identity, RestartPolicy, panic_error};
use crate::stats::RunnerStats;

/// What an input can do: open record streams, deliver messages, and learn
/// when to stop. Cheap to clone (per-connection tasks each hold one).
#[derive(Clone)]
pub struct InputCx {
    pub(super) inner: Rc<Shared>,
}

pub(super) struct Shared {
    pub(super) env: Env,
    spec: PluginSpec,
    stats: Arc<RunnerStats>,
    settings: Arc<Settings>,
    splitter: String,
    pub(super) decoder: Option<String>,
    stop: watch::Receiver<bool>,
}

impl InputCx {
    /// The input's instance name.
    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    /// The input's spec (for inputs that read extra common keys).
    pub fn spec(&self) -> &PluginSpec {
        &self.inner.spec
    }

    /// The input's statistics row, for inputs that lose data outside a
    /// stream's splitter (LogstreamerInput counts a truncated or unreadable
    /// file in `dropped`).
    pub fn stats(&self) -> &RunnerStats {
        &self.inner.stats
    }

    /// `[hekad] max_message_size`.
    pub fn max_message_size(&self) -> usize {
        self.inner.env.globals.max_message_size as usize
    }

    /// Sets the input's own report figures (what [`crate::Filter`]s report
    /// with `report_fields`), replacing the previous ones.
    pub fn report_fields(&self, fields: Vec<crate::report::Metric>) {
        self.inner.stats.set_extra(fields);
    }

    /// How long an input may still wait for what it routed to be
    /// acknowledged ([`crate::ack`]) before it must give up: until shortly
    /// before `[hekad] shutdown_timeout` has passed since the stop began
    /// (inputs stop first, so the rest of the pipeline still runs while
    /// they wait). Past that, outputs give up and drop what they hold, and
    /// a dropped pack releases its Ack like a handled one, so an input
    /// still waiting would take those records as safe.
    pub fn settle_limit(&self) -> std::time::Duration {
        let timeout = self.inner.env.globals.shutdown_timeout;
        let margin = (timeout / 10).min(std::time::Duration::from_millis(500));
        let left = match self.inner.env.stopping.get() {
            Some(began) => timeout.saturating_sub(began.elapsed()),
            None => timeout,
        };
        left.saturating_sub(margin)
    }

    /// True once a stop was requested.
    pub fn is_stopping(&self) -> bool {
        *self.inner.stop.borrow()
    }

    /// Resolves when the input is told to stop.
    pub async fn stopped(&self) {
        let mut rx = self.inner.stop.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// A new record stream with its own splitter and decoder instances
    /// (Heka builds one per connection or file).
    pub fn stream(&self, defaults: StreamDefaults) -> Result<StreamSink, BuildError> {
        let env = &self.inner.env;
        let template = |name: &str| {
            env.spec(name).ok_or_else(|| {
                BuildError::invalid(&self.inner.spec, format!("no section named `{name}`"))
            })
        };
        let splitter_spec = template(&self.inner.splitter)?;
        let splitter = env.catalogue.splitter(splitter_spec, &env.globals)?;
        let decoder_spec = self.inner.decoder.as_deref().map(template).transpose()?;
        let decoder = match decoder_spec {
            Some(spec) => Some(env.catalogue.decoder(spec, &env.globals, &env.specs)?),
            None => None,
        };
        let row = |spec: &PluginSpec| {
            let name: Arc<str> = format!("{}-{}", self.inner.spec.name, spec.name).into();
            env.stats
                .register(&name, spec.category, &spec.type_name.as_str().into())
        };
        let stats = StreamStats {
            input: Arc::clone(&self.inner.stats),
            splitter: row(splitter_spec),
            decoder: decoder_spec.map(row),
        };
        let min_buffer = splitter_spec.common.min_buffer_size.unwrap_or(8 * 1024);
        let parallel = match (&env.decode_pool, decoder_spec, &decoder) {
            // Heka's synchronous_decode = true asks for decoding inline.
            (Some(pool), Some(spec), Some(decoder))
                if decoder.parallel()
                    && self.inner.spec.common.synchronous_decode != Some(true) =>
            {
                let (env, spec) = (env.clone(), spec.clone());
                Some(Parallel {
                    pool: pool.clone(),
                    build: Box::new(move || env.catalogue.decoder(&spec, &env.globals, &env.specs)),
                    spares: Default::default(),
                    built: 0,
                })
            }
            _ => None,
        };
        let mut stream = Stream::new(
            splitter,
            decoder,
            Arc::clone(&self.inner.settings),
            defaults,
            stats,
            min_buffer,
        );
        if let Some(parallel) = parallel {
            stream.set_parallel(parallel);
        }
        Ok(StreamSink::new(self.clone(), stream))
    }

    /// Routes whole messages made by the input itself.
    pub async fn deliver(&self, messages: Vec<MessageView>) -> Result<(), PluginError> {
        let packs = messages
            .into_iter()
            .map(|m| Arc::new(Pack::detached(m)))
            .collect();
        self.route(packs).await
    }

    /// The most packs [`InputCx::route`] takes from the pool and hands to
    /// the router at once: never more than a quarter of the pool, so
    /// several streams can make progress and a batch can always be
    /// satisfied.
    pub(super) fn route_chunk(&self) -> usize {
        (self.inner.env.input_pool.size() / 4).max(1)
    }

    /// Takes packs from the input pool (waiting while it is empty) and hands
    /// them to the router: the back-pressure point.
    pub(super) async fn route(&self, mut items: Vec<PackRef>) -> Result<(), PluginError> {
        let env = &self.inner.env;
        let chunk = self.route_chunk();
        while !items.is_empty() {
            let take = items.len().min(chunk);
            let permits = env.input_pool.acquire(take).await;
            let packs: Vec<PackRef> = items
                .drain(..take)
                .zip(permits)
                .map(|(mut pack, permit)| {
                    // Packs reach here straight from the stream, unshared.
                    if let Some(fresh) = Arc::get_mut(&mut pack) {
                        fresh.attach(permit);
                    }
                    pack
                })
                .collect();
            let n = packs.len() as u64;
            // Hand over without a round trip while the router has room (a
            // cross-thread reply per batch costs more than the batch); park
            // on `send()` when its mailbox is full. One batch at a time per
            // stream keeps records in order, and the pool bounds the rest.
            match env.router.try_send(Route(packs)) {
                Ok(()) => {}
                Err(SendError::Full(route)) => env
                    .router
                    .send(route)
                    .await
                    .map_err(|_| PluginError::fatal("the router is gone"))?,
                Err(SendError::Closed(_)) => return Err(PluginError::fatal("the router is gone")),
            }
            RunnerStats::add(&self.inner.stats.injected, n);
        }
        Ok(())
    }
}

/// The actor running one input.
pub struct InputRunner {
    id: Identity,
    env: Env,
    spec: PluginSpec,
    plugin: Option<Box<dyn Input>>,
    settings: Arc<Settings>,
    stop: watch::Sender<bool>,
    policy: RestartPolicy,
    /// True while no run future is in flight.
    finished: watch::Sender<bool>,
}

impl InputRunner {
    /// A runner for an already built input.
    pub fn new(
        env: Env,
        spec: PluginSpec,
        plugin: Box<dyn Input>,
        stats: Arc<RunnerStats>,
    ) -> Self {
        let max_message = env.globals.max_message_size as usize;
        let settings = Arc::new(Settings {
            input: spec.name.as_str().into(),
            hostname: env.globals.hostname.as_str().into(),
            max_record: heka_proto::framing::max_record_size(max_message),
            keep_truncated: false,
            deliver_incomplete_final: false,
            send_decode_failures: spec.common.send_decode_failures.unwrap_or(false),
            log_decode_failures: spec.common.log_decode_failures.unwrap_or(true),
        });
        InputRunner {
            id: Identity {
                name: spec.name.as_str().into(),
                type_name: spec.type_name.as_str().into(),
                stats,
            },
            policy: RestartPolicy::new(spec.retries()),
            settings,
            env,
            spec,
            plugin: Some(plugin),
            stop: watch::channel(false).0,
            finished: watch::channel(false).0,
        }
    }

    fn cx(&self) -> InputCx {
        let plugin = self.plugin.as_ref();
        let splitter = self.spec.common.splitter.clone().unwrap_or_else(|| {
            plugin
                .map_or("NullSplitter", |p| p.default_splitter())
                .to_owned()
        });
        let decoder = self
            .spec
            .common
            .decoder
            .clone()
            .or_else(|| plugin.and_then(|p| p.default_decoder()).map(str::to_owned));
        let mut settings = Settings::clone(&self.settings);
        if let Some(split) = self.env.spec(&splitter) {
            settings.keep_truncated = split.common.keep_truncated.unwrap_or(false);
            settings.deliver_incomplete_final =
                split.common.deliver_incomplete_final.unwrap_or(false);
        }
        InputCx {
            inner: Rc::new(Shared {
                env: self.env.clone(),
                spec: self.spec.clone(),
                stats: Arc::clone(&self.id.stats),
                settings: Arc::new(settings),
                splitter,
                decoder,
                stop: self.stop.subscribe(),
            }),
        }
    }

    fn launch(&mut self, ctx: &mut Context<Self>) {
        let cx = self.cx();
        let Some(mut plugin) = self.plugin.take() else {
            return;
        };
        self.finished.send_replace(false);
        let run = async move {
            let result = std::panic::AssertUnwindSafe(plugin.run(cx))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panic_error(panic)));
            (plugin, result)
        };
        ctx.spawn(
            run.into_actor(self)
                .map(|(plugin, result), act, ctx| act.ended(plugin, result, ctx)),
        );
    }

    fn ended(
        &mut self,
        plugin: Box<dyn Input>,
        result: Result<(), PluginError>,
        ctx: &mut Context<Self>,
    ) {
        if *self.stop.borrow() {
            self.finished.send_replace(true);
            return;
        }
        let error = match result {
            Ok(()) => "Run exited.".to_owned(),
            Err(err) => err.to_string(),
        };
        drop(plugin);
        RunnerStats::add(&self.id.stats.errors, 1);
        let Some(delay) = self.id.next_restart(&mut self.policy, "Input", &error) else {
            self.finished.send_replace(true);
            self.id.exit(&self.env, &self.spec, "Input", error);
            return;
        };
        // Nothing is in flight while the restart waits: a stop now ends the
        // input at once, and the restart below does not happen.
        self.finished.send_replace(true);
        ctx.run_later(delay, |act, ctx| {
            if *act.stop.borrow() {
                return;
            }
            match act.env.catalogue.input(&act.spec, &act.env.globals) {
                Ok(plugin) => {
                    act.plugin = Some(plugin);
                    act.launch(ctx);
                }
                Err(err) => act.ended(
                    Box::new(Gone),
                    Err(PluginError::fatal(err.to_string())),
                    ctx,
                ),
            }
        });
    }
}

/// Stands in for an input whose rebuild failed, so the restart path is one.
struct Gone;

impl Input for Gone {
    fn run<'a>(
        &'a mut self,
        _cx: InputCx,
    ) -> crate::plugin::LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async { Err(PluginError::fatal("rebuild failed")) })
    }
}

impl Actor for InputRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.launch(ctx);
    }
}

impl Handler<Drain> for InputRunner {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        // `send_replace`, not `send`: between a failure and its restart no
        // InputCx is alive, `send` then fails without storing the value, and
        // the restarted input would never learn that it must stop.
        self.stop.send_replace(true);
        if self.plugin.is_some() {
            // Not running (waiting for a restart): nothing in flight.
            self.finished.send_replace(true);
        }
        let mut finished = self.finished.subscribe();
        Box::pin(
            async move {
                let _ = finished.wait_for(|done| *done).await;
            }
            .into_actor(self),
        )
    }
}

impl Handler<Stop> for InputRunner {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
