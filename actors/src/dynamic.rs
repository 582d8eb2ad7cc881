//! Filters added and removed while the pipeline runs (Heka's dynamic
//! sandboxes): the supervisor builds the filter first, starts its runner and
//! subscribes it; removal unsubscribes it, lets it finish what it has
//! queued, shuts it down and forgets it (announcing `heka.terminated`,
//! "Filter unloaded."); replacement swaps a running filter's plugin in its
//! runner, keeping its mailbox.

use std::sync::Arc;

use actix::prelude::*;

use crate::build::routing;
use crate::config::{Category, PluginSpec};
use crate::messages::{
    AddFilter, Drain, RemoveFilter, ReplaceFilter, Settle, Stop, Swap, Unsubscribe,
};
use crate::plugin::{BuildError, Filter};
use crate::queue::Cursor;
use crate::queue::runner::QueueRunner;
use crate::queue::state::Queue;
use crate::queue::{open_queue, start_queue};
use crate::runner::Env;
use crate::runner::filter::FilterRunner;
use crate::supervisor::PipelineSupervisor;

/// Starts a built filter on `arbiter` and subscribes it to the router
/// (through its disk queue, `opened`, when it is buffered).
pub(crate) fn start_filter(
    env: &Env,
    arbiter: &ArbiterHandle,
    spec: PluginSpec,
    filter: Box<dyn Filter>,
    routing: crate::build::Routing,
    opened: Option<(Queue, Cursor)>,
) -> (Arc<str>, Addr<FilterRunner>, Option<Addr<QueueRunner>>) {
    let chansize = env.globals.plugin_chansize.max(1);
    let name: Arc<str> = spec.name.as_str().into();
    let stats = env
        .stats
        .register(&name, Category::Filter, &spec.type_name.as_str().into());
    stats
        .capacity
        .store(chansize as u64, std::sync::atomic::Ordering::Relaxed);
    let (e, st, m) = (
        env.clone(),
        Arc::clone(&stats),
        Arc::clone(&routing.matcher),
    );
    let queue = opened.map(|opened| (spec.clone(), opened));
    let addr = FilterRunner::start_in_arbiter(arbiter, move |ctx| {
        ctx.set_mailbox_capacity(chansize);
        FilterRunner::new(e, spec, filter, m, st)
    });
    let queue = queue.map(|(spec, opened)| {
        let runner = addr.clone().recipient();
        start_queue(env, arbiter, &spec, opened, runner, Arc::clone(&stats))
    });
    let destination = match &queue {
        Some(q) => q.clone().recipient(),
        None => addr.clone().recipient(),
    };
    env.subscribe
        .do_send(routing.subscribe(&name, destination, stats));
    (name, addr, queue)
}

impl Handler<AddFilter> for PipelineSupervisor {
    type Result = Result<(), BuildError>;

    fn handle(&mut self, AddFilter(spec): AddFilter, _: &mut Context<Self>) -> Self::Result {
        if self.exit_code.is_some() {
            return Err(BuildError::invalid(&spec, "the pipeline is shutting down"));
        }
        if spec.category != Category::Filter {
            return Err(BuildError::invalid(
                &spec,
                "only filters can be added while running",
            ));
        }
        if self.filters.iter().any(|(n, _)| **n == *spec.name) {
            return Err(BuildError::invalid(
                &spec,
                "a filter of that name is running",
            ));
        }
        let filter = self.env.catalogue.filter(&spec, &self.env.globals)?;
        let routing = routing(&spec, filter.default_matcher(), None, &self.env.globals)?;
        let opened = match routing.buffering {
            Some(buffering) => Some(open_queue(&spec, buffering, &self.env.globals)?),
            None => None,
        };
        let (name, addr, queue) = start_filter(
            &self.env,
            &Arbiter::current(),
            spec,
            filter,
            routing,
            opened,
        );
        tracing::info!(plugin = %name, "Filter added.");
        self.queues.extend(queue.map(|q| (Arc::clone(&name), q)));
        self.filters.push((name, addr));
        Ok(())
    }
}

impl Handler<RemoveFilter> for PipelineSupervisor {
    type Result = ResponseActFuture<Self, bool>;

    fn handle(&mut self, RemoveFilter(name): RemoveFilter, _: &mut Context<Self>) -> Self::Result {
        let Some(i) = self.filters.iter().position(|(n, _)| *n == name) else {
            return Box::pin(fut::ready(false));
        };
        let (name, addr) = self.filters.remove(i);
        let queue = self.take_queue(&name);
        let unsubscribe = self.env.unsubscribe.clone();
        let stats = self.env.stats.clone();
        Box::pin(
            async move {
                // Unsubscribe first: once the router replied, nothing more
                // is queued for the filter, and Drain runs after the rest.
                let _ = unsubscribe.send(Unsubscribe(Arc::clone(&name))).await;
                if let Some(q) = &queue {
                    // What the queue holds stays on disk for the next start.
                    let _ = q.send(Drain).await;
                }
                let _ = addr.send(Drain).await;
                if let Some(q) = &queue {
                    let _ = q.send(Settle).await;
                    let _ = q.send(Stop).await;
                }
                let _ = addr.send(Stop).await;
                stats.remove(&name);
                tracing::info!(plugin = %name, "Filter removed.");
                name
            }
            .into_actor(self)
            .map(|name, act, ctx| {
                act.notice("heka.terminated", &name, "Filter unloaded.".to_owned(), ctx);
                true
            }),
        )
    }
}

impl Handler<ReplaceFilter> for PipelineSupervisor {
    type Result = ResponseActFuture<Self, Result<(), BuildError>>;

    fn handle(
        &mut self,
        ReplaceFilter(spec): ReplaceFilter,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let found = self
            .filters
            .iter()
            .find(|(n, _)| **n == *spec.name)
            .cloned();
        let Some((name, addr)) = found else {
            let err = BuildError::invalid(&spec, "no filter of that name is running");
            return Box::pin(fut::ready(Err(err)));
        };
        let subscribe = self.env.subscribe.clone();
        let stats = self.env.stats.get(&name);
        // A buffered filter keeps receiving through its queue.
        let queue = self
            .queues
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, q)| q.clone().recipient());
        Box::pin(
            async move {
                let stopped = || BuildError {
                    message: format!("{name}: the filter stopped"),
                };
                let routing = addr.send(Swap(spec)).await.map_err(|_| stopped())??;
                if let (Some(routing), Some(stats)) = (routing, stats) {
                    // Replaces the subscription of the same name in place.
                    let destination = queue.unwrap_or_else(|| addr.recipient());
                    let _ = subscribe
                        .send(routing.subscribe(&name, destination, stats))
                        .await;
                }
                Ok(())
            }
            .into_actor(self),
        )
    }
}
