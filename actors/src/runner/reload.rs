//! Live reload of a filter whose files changed (a sandbox's script): the
//! FilterRunner polls the modification times of its plugin's watched files
//! and, when one changed (or on SIGHUP), checkpoints the running instance,
//! builds a new one from the same spec and swaps it in only if the build
//! succeeded. The mailbox is untouched, so no queued pack is lost or
//! processed twice; a broken edit leaves the old instance running.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use actix::prelude::*;

use crate::messages::Reload;
use crate::plugin::Filter;
use crate::runner::filter::FilterRunner;
use crate::runner::guarded;

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
    /// Checkpoints, rebuilds and swaps the plugin; keeps the old one when the
    /// new one does not build.
    pub(crate) fn reload(&mut self) {
        let Some(old) = self.plugin.as_mut() else {
            return;
        };
        let name = &self.spec.name;
        if let Err(err) = guarded(|| old.checkpoint()) {
            tracing::warn!(plugin = %name, error = %err, "Checkpoint before reload failed.");
        }
        match self.env.catalogue.filter(&self.spec, &self.env.globals) {
            Ok(new) => {
                self.watch = Watch::of(&*new);
                self.plugin = Some(new);
                tracing::info!(plugin = %name, "Filter reloaded.");
            }
            Err(err) => {
                tracing::error!(plugin = %name, error = %err, "Reload failed; the running version stays.");
            }
        }
    }
}

impl Handler<Reload> for FilterRunner {
    type Result = ();

    fn handle(&mut self, msg: Reload, _: &mut Context<Self>) {
        // Only filters that watch files (sandboxes) reload; a forced
        // reload of the others would just lose their state.
        if self.watch.changed() || (msg.force && !self.watch.is_empty()) {
            self.reload();
        }
    }
}
