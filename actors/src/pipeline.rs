//! The public handle: build a pipeline from specs (a loaded config or code),
//! start it inside the caller's running actix `System`, inject messages,
//! read reports, and stop it. hekad's binary is one user of this API; an
//! application embedding Heka's actors is another.

use std::sync::Arc;

use actix::prelude::*;
use heka_proto::Message;
use tokio::sync::watch;

use crate::build::{Blueprint, BuiltOutput, build};
use crate::catalogue::Catalogue;
use crate::config::{Category, Globals, PluginSpec};
use crate::control::Control;
use crate::dynamic::start_filter;
use crate::messages::{Reopen, Shutdown};
use crate::pack::PackPool;
use crate::plugin::BuildError;
use crate::queue::{open_queue, start_queue};
use crate::report::{Report, Reporter};
use crate::router::Router;
use crate::runner::Env;
use crate::runner::decode::DecodePool;
use crate::runner::input::InputRunner;
use crate::runner::output::OutputRunner;
use crate::stats::{RunnerStats, StatsTable};
use crate::supervisor::PipelineSupervisor;

/// Why an injection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The message does not encode.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The pipeline has stopped.
    #[error("the pipeline has stopped")]
    Stopped,
}

/// A running pipeline.
#[derive(Clone)]
pub struct Pipeline {
    supervisor: Addr<PipelineSupervisor>,
    done: watch::Receiver<Option<i32>>,
    stats: StatsTable,
    reporter: Reporter,
    control: Control,
}

/// Builds every plugin without starting anything (`hekad --check`).
pub fn check(
    globals: &Globals,
    specs: &[PluginSpec],
    catalogue: &Catalogue,
) -> Result<(), Vec<BuildError>> {
    build(specs, catalogue, globals).map(drop)
}

impl Pipeline {
    /// Builds and starts a pipeline. Must be called from inside a running
    /// actix `System`. Runners are spread over `maxprocs` arbiters: the
    /// caller's and `maxprocs - 1` new ones; inputs from the caller's on,
    /// the router, filters and outputs on the new ones. Plugins start in Heka's order:
    /// outputs, filters, router subscriptions, inputs.
    pub fn start(
        globals: Globals,
        specs: Vec<PluginSpec>,
        catalogue: Catalogue,
    ) -> Result<Pipeline, Vec<BuildError>> {
        let Blueprint {
            mut inputs,
            filters,
            mut outputs,
        } = build(&specs, &catalogue, &globals)?;
        let mut errors: Vec<BuildError> = inputs
            .iter_mut()
            .filter_map(|(spec, input)| input.prepare().err().map(|e| BuildError::invalid(spec, e)))
            .collect();
        errors.extend(outputs.iter_mut().filter_map(|built| {
            let prepared = built.output.prepare();
            prepared.err().map(|e| BuildError::invalid(&built.spec, e))
        }));
        if !errors.is_empty() {
            return Err(errors);
        }
        // Disk queues open before anything starts, so their errors stop
        // the start like build errors.
        let mut queues = std::collections::HashMap::new();
        let buffered = outputs
            .iter()
            .map(|o| (&o.spec, o.routing.buffering))
            .chain(filters.iter().map(|(s, _, r)| (s, r.buffering)));
        for (spec, buffering) in buffered {
            if let Some(buffering) = buffering {
                match open_queue(spec, buffering, &globals) {
                    Ok(opened) => {
                        queues.insert(spec.name.clone(), opened);
                    }
                    Err(err) => errors.push(err),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let globals = Arc::new(globals);
        let chansize = globals.plugin_chansize.max(1);
        let stats = StatsTable::default();
        let router_stats = Arc::new(RunnerStats::default());
        let input_pool = PackPool::new("inputRecycleChan", globals.poolsize);
        let inject_pool = PackPool::new("injectRecycleChan", globals.poolsize);
        let arbiters: Vec<Arbiter> = (1..globals.maxprocs.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let mut handles: Vec<ArbiterHandle> = vec![Arbiter::current()];
        handles.extend(arbiters.iter().map(Arbiter::handle));
        // Inputs (with their splitters and decoders, usually the heaviest
        // work) start on the caller's thread; the router, filters and
        // outputs run on the other threads, so a pipeline's stages
        // overlap.
        let n = handles.len();
        let router_home = handles[1 % n].clone();
        let mut next_input = 0usize;
        let mut next_other = 0usize;
        // An output's disk queue (appending, reading back, decoding) runs
        // on another thread than the output itself, starting with the
        // inputs' first: the two halves of a buffered output overlap.
        let queue_handles = handles.clone();
        let mut next_queue = 0usize;
        let mut queue_home = move || {
            next_queue += 1;
            queue_handles[(next_queue - 1) % n].clone()
        };
        let input_handles = handles.clone();
        let mut place_input = move || {
            next_input += 1;
            input_handles[(next_input - 1) % n].clone()
        };
        // With more than one thread, filters and outputs stay off the
        // inputs' first thread.
        let mut place = move || {
            next_other += 1;
            match n {
                1 => handles[0].clone(),
                _ => handles[1 + (next_other - 1) % (n - 1)].clone(),
            }
        };
        let rs = Arc::clone(&router_stats);
        let router = Router::start_in_arbiter(&router_home, move |ctx| {
            ctx.set_mailbox_capacity(chansize);
            Router::new(rs)
        });
        let (done_tx, done) = watch::channel(None);
        let specs = Arc::new(specs);
        let catalogue = Arc::new(catalogue);
        let pools = (input_pool.clone(), inject_pool.clone());
        let table = stats.clone();
        let router_addr = router.clone();
        let reporter = Reporter::new(
            [input_pool.clone(), inject_pool.clone()],
            Arc::clone(&router_stats),
            stats.clone(),
            router.clone().recipient(),
            Arc::clone(&globals),
            std::process::id() as i32,
        );
        let env_reporter = reporter.clone();
        // One decode thread per core: the input's thread decodes only what
        // the pool refuses, or what it takes back while it would otherwise
        // wait (runner/sink.rs); it also reads, splits and routes. W2 with
        // maxprocs = 2, runs interleaved on a shared machine: 571 k lines/s
        // with 2 workers against 551 k with maxprocs - 1 = 1 (8 runs,
        // poolsize 1000), 586 k against 580 k (5 runs, poolsize 10000),
        // at about the same CPU.
        let decode_pool = (globals.maxprocs > 1).then(|| DecodePool::new(globals.maxprocs));
        let supervisor = PipelineSupervisor::create(move |ctx| {
            let env = Env {
                globals: Arc::clone(&globals),
                catalogue,
                specs,
                stats: table.clone(),
                router: router_addr.clone().recipient(),
                subscribe: router_addr.clone().recipient(),
                unsubscribe: router_addr.clone().recipient(),
                input_pool: pools.0,
                inject_pool: pools.1,
                exits: ctx.address().recipient(),
                stopping: Arc::default(),
                control: Control {
                    add: ctx.address().recipient(),
                    remove: ctx.address().recipient(),
                    replace: ctx.address().recipient(),
                    stats: table.clone(),
                },
                pid: std::process::id() as i32,
                decode_pool,
                reporter: env_reporter,
            };
            let register = |spec: &PluginSpec| {
                let s = table.register(
                    &spec.name.as_str().into(),
                    spec.category,
                    &spec.type_name.as_str().into(),
                );
                s.capacity
                    .store(chansize as u64, std::sync::atomic::Ordering::Relaxed);
                s
            };
            let mut out_addrs = Vec::new();
            let mut queue_addrs = Vec::new();
            for built in outputs {
                let BuiltOutput {
                    spec,
                    output,
                    encoder,
                    use_framing: framing,
                    routing,
                } = built;
                let stats = register(&spec);
                let name: Arc<str> = spec.name.as_str().into();
                let queue = queues.remove(&spec.name);
                let home = place();
                let queue = queue.map(|opened| {
                    // Started first so the runner's address can be handed over.
                    (spec.clone(), opened)
                });
                let (e, st) = (env.clone(), Arc::clone(&stats));
                let matcher = Arc::clone(&routing.matcher);
                let addr = OutputRunner::start_in_arbiter(&home, move |ctx| {
                    ctx.set_mailbox_capacity(chansize);
                    OutputRunner::new(e, spec, output, encoder, framing, st).with_matcher(matcher)
                });
                let destination = match queue {
                    Some((spec, opened)) => {
                        let runner = addr.clone().recipient();
                        let q = start_queue(
                            &env,
                            &queue_home(),
                            &spec,
                            opened,
                            runner,
                            Arc::clone(&stats),
                        );
                        queue_addrs.push((Arc::clone(&name), q.clone()));
                        q.recipient()
                    }
                    None => addr.clone().recipient(),
                };
                router_addr.do_send(routing.subscribe(&name, destination, stats));
                out_addrs.push((name, addr));
            }
            let mut filter_addrs = Vec::new();
            for (spec, filter, routing) in filters {
                let queue = queues.remove(&spec.name);
                let (name, addr, q) = start_filter(&env, &place(), spec, filter, routing, queue);
                queue_addrs.extend(q.map(|q| (Arc::clone(&name), q)));
                filter_addrs.push((name, addr));
            }
            let mut input_addrs = Vec::new();
            for (spec, input) in inputs {
                let stats = register(&spec);
                let name: Arc<str> = spec.name.as_str().into();
                let e = env.clone();
                let addr = InputRunner::start_in_arbiter(&place_input(), move |ctx| {
                    ctx.set_mailbox_capacity(chansize);
                    InputRunner::new(e, spec, input, stats)
                });
                input_addrs.push((name, addr));
            }
            PipelineSupervisor {
                env,
                router: router_addr,
                inputs: input_addrs,
                filters: filter_addrs,
                outputs: out_addrs,
                queues: queue_addrs,
                arbiters,
                exit_code: None,
                done: done_tx,
            }
        });
        let control = Control {
            add: supervisor.clone().recipient(),
            remove: supervisor.clone().recipient(),
            replace: supervisor.clone().recipient(),
            stats: stats.clone(),
        };
        Ok(Pipeline {
            control,
            supervisor,
            done,
            stats,
            reporter,
        })
    }

    /// Routes a message as if a filter had injected it (it takes a pack
    /// from the inject pool, waiting while that pool is empty).
    pub async fn inject(&self, msg: &Message) -> Result<(), InjectError> {
        self.reporter.route(msg).await
    }

    /// Routes Heka's `heka.all-report` message (JSON payload of every
    /// runner's statistics), as Heka's dashboard ticker did.
    pub async fn inject_report(&self) -> Result<(), InjectError> {
        self.reporter.inject_report().await
    }

    /// The handle that gathers and routes reports (what DashboardOutput's
    /// ticker uses, through its [`crate::plugin::OutputCx`]).
    pub fn reporter(&self) -> Reporter {
        self.reporter.clone()
    }

    /// Asks for an ordered shutdown with `code` (the first request wins).
    pub fn shutdown(&self, code: i32) {
        self.supervisor.do_send(Shutdown(code));
    }

    /// Shuts down (status 0) and waits until everything accepted was
    /// delivered; returns the exit status.
    pub async fn stop(&self) -> i32 {
        self.shutdown(0);
        self.finished().await
    }

    /// Waits until the pipeline has stopped, by request or because a plugin
    /// that may not exit failed for good; returns the exit status.
    pub async fn finished(&self) -> i32 {
        let mut done = self.done.clone();
        match done.wait_for(Option::is_some).await {
            Ok(code) => code.unwrap_or(1),
            Err(_) => 1,
        }
    }

    /// Builds and starts a filter while running (it subscribes to the
    /// router at once).
    pub async fn add_filter(&self, spec: PluginSpec) -> Result<(), BuildError> {
        self.control.load(spec).await
    }

    /// Replaces a running filter's plugin with one built from `spec` (same
    /// name), keeping its queue; see [`Control::replace`].
    pub async fn replace_filter(&self, spec: PluginSpec) -> Result<(), BuildError> {
        self.control.replace(spec).await
    }

    /// The handle filters get to load, unload and replace filters.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Removes a running filter after it processed what it had queued;
    /// false if there is no such filter.
    pub async fn remove_filter(&self, name: &str) -> bool {
        self.control.unload(name).await
    }

    /// SIGHUP: outputs reopen their files.
    pub fn reopen(&self) {
        self.supervisor.do_send(Reopen);
    }

    /// A statistics snapshot of every runner, the router and the pools.
    pub fn report(&self) -> Report {
        self.reporter.report()
    }

    /// The statistics of one runner.
    pub fn stats(&self, name: &str) -> Option<Arc<RunnerStats>> {
        self.stats.get(name)
    }

    /// Plugin names currently running in a category.
    pub fn running(&self, category: Category) -> Vec<String> {
        self.stats
            .snapshot()
            .into_iter()
            .filter(|r| r.category == category)
            .map(|r| r.name.to_string())
            .collect()
    }
}
