//! The handle a filter uses to manage other filters while the pipeline runs
//! (SandboxManagerFilter): load, unload and replace filters through the
//! supervisor. These are control messages, never the data path. Each call
//! queues its request at once and returns a future for the reply, so
//! requests made in order are applied in order even if the caller spawns
//! the futures.

use std::future::Future;
use std::sync::Arc;

use actix::Recipient;

use crate::config::PluginSpec;
use crate::messages::{AddFilter, RemoveFilter, ReplaceFilter};
use crate::plugin::BuildError;
use crate::stats::StatsTable;

/// Loads, unloads and replaces filters of a running pipeline.
#[derive(Clone)]
pub struct Control {
    pub(crate) add: Recipient<AddFilter>,
    pub(crate) remove: Recipient<RemoveFilter>,
    pub(crate) replace: Recipient<ReplaceFilter>,
    pub(crate) stats: StatsTable,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

fn stopped(name: &str) -> BuildError {
    BuildError {
        message: format!("{name}: the pipeline has stopped"),
    }
}

impl Control {
    /// Builds and starts a filter (it subscribes to the router at once).
    pub fn load(&self, spec: PluginSpec) -> impl Future<Output = Result<(), BuildError>> + 'static {
        let name = spec.name.clone();
        let reply = self.add.send(AddFilter(spec));
        async move { reply.await.unwrap_or_else(|_| Err(stopped(&name))) }
    }

    /// Removes a running filter once it processed what it had queued
    /// (announced as `heka.terminated`, "Filter unloaded."); false if no
    /// filter of that name runs.
    pub fn unload(&self, name: &str) -> impl Future<Output = bool> + 'static {
        let reply = self.remove.send(RemoveFilter(Arc::from(name)));
        async move { reply.await.unwrap_or(false) }
    }

    /// Replaces a running filter's code and config in place: the running
    /// instance checkpoints (preserve_data), the new one is built from
    /// `spec` and swapped in only if it built. Packs queued for the filter
    /// stay queued, so none is lost or processed twice; a changed
    /// `message_matcher` takes effect for packs routed after the swap.
    pub fn replace(
        &self,
        spec: PluginSpec,
    ) -> impl Future<Output = Result<(), BuildError>> + 'static {
        let name = spec.name.clone();
        let reply = self.replace.send(ReplaceFilter(spec));
        async move { reply.await.unwrap_or_else(|_| Err(stopped(&name))) }
    }

    /// Whether a plugin of that name is running.
    pub fn is_running(&self, name: &str) -> bool {
        self.stats.get(name).is_some()
    }
}
