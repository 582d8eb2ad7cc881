//! PipelineSupervisor: owns every runner's address. It hears when a plugin
//! gives up (removing it and announcing `heka.terminated` when it may exit,
//! shutting hekad down with status 1 when it may not), and performs the
//! ordered shutdown: inputs, router, filters, router again (for what the
//! filters injected while finishing), outputs, each awaited in turn so
//! everything accepted is delivered before the pipeline reports done.

use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use heka_proto::{Field, MessageView};
use tokio::sync::watch;

use crate::config::SANDBOX_TYPES;
use crate::messages::{Drain, PluginExited, Reload, Reopen, Route, Settle, Shutdown, Stop};
use crate::pack::Pack;
use crate::plugin::message_defaults;
use crate::queue::runner::QueueRunner;
use crate::router::Router;
use crate::runner::Env;
use crate::runner::filter::FilterRunner;
use crate::runner::input::InputRunner;
use crate::runner::output::OutputRunner;

/// The supervisor actor.
pub struct PipelineSupervisor {
    pub(crate) env: Env,
    pub(crate) router: Addr<Router>,
    pub(crate) inputs: Vec<(Arc<str>, Addr<InputRunner>)>,
    pub(crate) filters: Vec<(Arc<str>, Addr<FilterRunner>)>,
    pub(crate) outputs: Vec<(Arc<str>, Addr<OutputRunner>)>,
    /// The disk queues of buffered filters and outputs, by plugin name.
    pub(crate) queues: Vec<(Arc<str>, Addr<QueueRunner>)>,
    pub(crate) arbiters: Vec<Arbiter>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) done: watch::Sender<Option<i32>>,
}

/// Drains one filter or output: a buffered one's queue stops feeding
/// first (what it holds stays on disk), the runner finishes what it was
/// fed, then the queue writes its checkpoint.
async fn drain_runner<A>(addr: &Addr<A>, queue: Option<&Addr<QueueRunner>>)
where
    A: Actor + Handler<Drain>,
    A::Context: actix::dev::ToEnvelope<A, Drain>,
{
    if let Some(q) = queue {
        let _ = q.send(Drain).await;
    }
    let _ = addr.send(Drain).await;
    if let Some(q) = queue {
        let _ = q.send(Settle).await;
    }
}

impl PipelineSupervisor {
    /// Removes and returns the queue of plugin `name`, if it is buffered.
    pub(crate) fn take_queue(&mut self, name: &str) -> Option<Addr<QueueRunner>> {
        let i = self.queues.iter().position(|(n, _)| &**n == name)?;
        Some(self.queues.remove(i).1)
    }

    fn shutdown(&mut self, code: i32, ctx: &mut Context<Self>) {
        if self.exit_code.is_some() {
            return;
        }
        self.exit_code = Some(code);
        let _ = self.env.stopping.set(std::time::Instant::now());
        tracing::info!(code, "Shutting down.");
        let inputs: Vec<_> = self.inputs.iter().map(|(_, a)| a.clone()).collect();
        let queue_of = |name: &Arc<str>| {
            self.queues
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, q)| q.clone())
        };
        let filters: Vec<_> = self
            .filters
            .iter()
            .map(|(n, a)| (a.clone(), queue_of(n)))
            .collect();
        let outputs: Vec<_> = self
            .outputs
            .iter()
            .map(|(n, a)| (a.clone(), queue_of(n)))
            .collect();
        let router = self.router.clone();
        let drain = async move {
            for input in &inputs {
                let _ = input.send(Drain).await;
            }
            let _ = router.send(Drain).await;
            for (filter, queue) in &filters {
                drain_runner(filter, queue.as_ref()).await;
            }
            let _ = router.send(Drain).await;
            for (output, queue) in &outputs {
                drain_runner(output, queue.as_ref()).await;
            }
            for input in &inputs {
                let _ = input.send(Stop).await;
            }
            for (filter, queue) in &filters {
                let _ = filter.send(Stop).await;
                if let Some(q) = queue {
                    let _ = q.send(Stop).await;
                }
            }
            for (output, queue) in &outputs {
                let _ = output.send(Stop).await;
                if let Some(q) = queue {
                    let _ = q.send(Stop).await;
                }
            }
            let _ = router.send(Stop).await;
        };
        ctx.spawn(drain.into_actor(self).map(move |_, act, ctx| {
            for arbiter in act.arbiters.drain(..) {
                arbiter.stop();
            }
            tracing::info!(code, "Shutdown complete.");
            let _ = act.done.send(Some(code));
            ctx.stop();
        }));
    }

    /// Routes Heka's `heka.terminated` (or, for a Lua sandbox,
    /// `heka.sandbox-terminated`) notice for a plugin that exited.
    fn announce(&mut self, exit: &PluginExited, ctx: &mut Context<Self>) {
        if SANDBOX_TYPES.contains(&&*exit.type_name) {
            // Heka's sandboxes announce themselves with the bare reason.
            self.notice(
                "heka.sandbox-terminated",
                &exit.name,
                exit.error.clone(),
                ctx,
            );
        } else {
            let text = format!(
                "{} (type {}) terminated. Error: {}",
                exit.name, exit.type_name, exit.error
            );
            self.notice("heka.terminated", &exit.name, text, ctx);
        }
    }

    /// Routes a hekad notice of `type_name` about `plugin`.
    pub(crate) fn notice(
        &mut self,
        type_name: &'static str,
        plugin: &str,
        payload: String,
        ctx: &mut Context<Self>,
    ) {
        let mut msg = message_defaults(&self.env.globals.hostname, self.env.pid);
        msg.logger = Some(Bytes::from_static(b"hekad"));
        msg.r#type = Some(Bytes::from_static(type_name.as_bytes()));
        msg.payload = Some(Bytes::from(payload));
        msg.fields.push(Field::string("plugin", plugin.as_bytes()));
        let Ok(view) = MessageView::from_message(&msg) else {
            return;
        };
        let pool = self.env.inject_pool.clone();
        let router = self.env.router.clone();
        ctx.spawn(
            async move {
                let permit = pool.acquire(1).await.pop().expect("asked for one permit");
                let _ = router
                    .send(Route(vec![Arc::new(Pack::pooled(view, None, 0, permit))]))
                    .await;
            }
            .into_actor(self),
        );
    }
}

impl Actor for PipelineSupervisor {
    type Context = Context<Self>;
}

impl Handler<PluginExited> for PipelineSupervisor {
    type Result = ();

    fn handle(&mut self, exit: PluginExited, ctx: &mut Context<Self>) {
        if self.exit_code.is_some() {
            return;
        }
        if !exit.can_exit {
            tracing::error!(
                plugin = %exit.name,
                error = %exit.error,
                "Plugin '{}' (type {}) has stopped, shutting down.",
                exit.name,
                exit.type_name
            );
            self.shutdown(1, ctx);
            return;
        }
        tracing::warn!(plugin = %exit.name, error = %exit.error, "Plugin exited and was removed.");
        let name = &exit.name;
        if let Some(i) = self.inputs.iter().position(|(n, _)| n == name) {
            let (_, addr) = self.inputs.remove(i);
            addr.do_send(Stop);
        }
        if let Some(i) = self.filters.iter().position(|(n, _)| n == name) {
            let (_, addr) = self.filters.remove(i);
            addr.do_send(Stop);
        }
        if let Some(i) = self.outputs.iter().position(|(n, _)| n == name) {
            let (_, addr) = self.outputs.remove(i);
            addr.do_send(Stop);
        }
        if let Some(queue) = self.take_queue(name) {
            // Its feeder stops; what is on disk stays for the next start.
            queue.do_send(Stop);
        }
        self.env.stats.remove(name);
        self.announce(&exit, ctx);
    }
}

impl Handler<Shutdown> for PipelineSupervisor {
    type Result = ();

    fn handle(&mut self, Shutdown(code): Shutdown, ctx: &mut Context<Self>) {
        self.shutdown(code, ctx);
    }
}

impl Handler<Reopen> for PipelineSupervisor {
    type Result = ();

    fn handle(&mut self, _: Reopen, _: &mut Context<Self>) {
        for (_, output) in &self.outputs {
            output.do_send(Reopen);
        }
        // Filters that watch files (sandbox scripts) reload on SIGHUP too.
        for (_, filter) in &self.filters {
            filter.do_send(Reload { force: true });
        }
        tracing::info!(
            outputs = self.outputs.len(),
            "Reopen requested from every output."
        );
    }
}
