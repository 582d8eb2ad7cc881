//! Live reload of a filter whose files changed (a sandbox's script): the
//! FilterRunner polls the modification times of its plugin's watched files
//! and, when one changed (or on SIGHUP), checkpoints the running instance,
//! builds a new one from the same spec and swaps it in only if the build
//! succeeded. A [`Swap`] (SandboxManagerFilter's reload) does the same with
//! a new spec. The mailbox is untouched, so no queued pack is lost or
//! processed twice; a broken edit leaves the old instance running.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;

use crate::build::{Routing, routing};
use crate::config::PluginSpec;
use crate::messages::{Reload, Swap};
use crate::plugin::{BuildError, Filter};
use crate::runner::filter::{FilterRunner, ticker};
use crate::runner::{RestartPolicy, guarded};

/// How often watched files are checked.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The watched files of a filter and the modification times last seen.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    files: Vec<(PathBuf, Option<SystemTime>)>,
}

fn mtime(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Watch {
    /// Starts watching what `plugin` names.
    pub fn of(plugin: &dyn Filter) -> Watch {
        Watch {
            files: plugin
                .watched_files()
                .into_iter()
                .map(|p| {
                    let t = mtime(&p);
                    (p, t)
                })
                .collect(),
        }
    }

    /// Whether anything is watched.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether a file changed since the last look (records the new times).
    pub fn changed(&mut self) -> bool {
        let mut changed = false;
        for (path, seen) in &mut self.files {
            let now = mtime(path);
            if now != *seen {
                *seen = now;
                changed = true;
            }
        }
        changed
    }
}

impl FilterRunner {
    /// Checkpoints the running plugin, builds a new one from `spec` (or the
    /// current spec) and swaps it in; keeps the old one when the new one
    /// does not build. Returns the new routing if the matcher or signer
    /// changed.
    pub(crate) fn reload(
        &mut self,
        spec: Option<PluginSpec>,
    ) -> Result<Option<Routing>, BuildError> {
        let Some(old) = self.plugin.as_mut() else {
            return Err(BuildError {
                message: format!("{}: the filter is restarting", self.spec.name),
            });
        };
        let name = self.spec.name.clone();
        if let Err(err) = guarded(|| old.checkpoint()) {
            tracing::warn!(plugin = %name, error = %err, "Checkpoint before reload failed.");
        }
        let spec = spec.unwrap_or_else(|| self.spec.clone());
        let built = self
            .env
            .catalogue
            .filter(&spec, &self.env.globals)
            .and_then(|new| {
                let routing = routing(&spec, new.default_matcher(), None, &self.env.globals)?;
                Ok((new, routing))
            });
        let (new, routing) = match built {
            Ok(built) => built,
            Err(err) => {
                tracing::error!(plugin = %name, error = %err, "Reload failed; the running version stays.");
                return Err(err);
            }
        };
        let rerouted = spec.common.message_matcher != self.spec.common.message_matcher
            || spec.common.message_signer != self.spec.common.message_signer;
        self.watch = Watch::of(&*new);
        self.ticker = ticker(&spec, &*new);
        self.policy = RestartPolicy::new(spec.retries());
        self.cx.set_matcher(Arc::clone(&routing.matcher));
        self.plugin = Some(new);
        self.spec = spec;
        tracing::info!(plugin = %name, "Filter reloaded.");
        Ok(rerouted.then_some(routing))
    }
}

impl Handler<Reload> for FilterRunner {
    type Result = ();

    fn handle(&mut self, msg: Reload, _: &mut Context<Self>) {
        // Only filters that watch files (sandboxes) reload; a forced
        // reload of the others would just lose their state.
        if self.watch.changed() || (msg.force && !self.watch.is_empty()) {
            let _ = self.reload(None);
        }
    }
}

impl Handler<Swap> for FilterRunner {
    type Result = Result<Option<Routing>, BuildError>;

    fn handle(&mut self, Swap(spec): Swap, ctx: &mut Context<Self>) -> Self::Result {
        let ticker = self.ticker;
        let routing = self.reload(Some(spec))?;
        if self.ticker != ticker {
            self.schedule_ticker(ctx);
        }
        Ok(routing)
    }
}
