//! LogstreamerInput: the start of the pipeline for log files. It scans
//! `log_directory` at start and every `rescan_interval`, and runs one task
//! per stream found (`tail.rs`), each with its own splitter (TokenSplitter
//! by default) and decoder instance. Every record becomes a message of type
//! `logfile`, Logger = the stream's name, Hostname = `hostname`.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::SystemTime;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, Input, InputCx, LocalBoxFuture, PluginError};
use heka_actors::stats::RunnerStats;
use tokio::task::JoinSet;

use super::config::Settings;
use super::scan::{Problem, scan};
use super::tail::{StreamCx, follow};

/// Heka's LogstreamerInput; see the module docs.
pub struct LogstreamerInput {
    settings: Settings,
}

impl LogstreamerInput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Input>, BuildError> {
        Ok(Box::new(LogstreamerInput {
            settings: Settings::from_spec(spec, globals)?,
        }))
    }
}

impl Input for LogstreamerInput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        let dir = &self.settings.journal_directory;
        std::fs::create_dir_all(dir).map_err(|e| {
            PluginError::fatal(format!(
                "cannot create journal_directory {}: {e}",
                dir.display()
            ))
        })
    }

    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            self.prepare()?;
            let settings = Rc::new(self.settings.clone());
            let shared = Rc::new(StreamCx {
                cx: cx.clone(),
                settings: Rc::clone(&settings),
            });
            let mut streams: JoinSet<Result<(), PluginError>> = JoinSet::new();
            let mut running = HashSet::new();
            let mut reported = HashSet::new();
            loop {
                let found = scan(
                    &settings.log_directory,
                    &settings.pattern,
                    settings.oldest_duration,
                    SystemTime::now(),
                );
                for problem in found.problems {
                    report_problem(&cx, problem, &mut reported);
                }
                for (name, files) in found.streams {
                    if running.insert(name.clone()) {
                        tracing::debug!(plugin = %cx.name(), stream = %name, files = files.len(), "Stream found.");
                        streams.spawn_local(follow(Rc::clone(&shared), name, files));
                    }
                }
                tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    Some(done) = streams.join_next(), if !streams.is_empty() => {
                        // Streams run until the stop; one ending early failed.
                        return Err(ended(done));
                    }
                    _ = tokio::time::sleep(settings.rescan_interval) => {}
                }
            }
            // Each stream writes its journal and ends.
            let mut result = Ok(());
            while let Some(done) = streams.join_next().await {
                if !matches!(done, Ok(Ok(()))) {
                    result = Err(ended(done));
                }
            }
            result
        })
    }

    fn default_splitter(&self) -> &'static str {
        "TokenSplitter"
    }
}

/// The error of a stream task that ended.
fn ended(done: Result<Result<(), PluginError>, tokio::task::JoinError>) -> PluginError {
    match done {
        Ok(Ok(())) => PluginError::fatal("a stream ended"),
        Ok(Err(err)) => err,
        Err(err) => PluginError::fatal(format!("a stream task failed: {err}")),
    }
}

/// Logs a scan problem once (every rescan finds it again).
fn report_problem(cx: &InputCx, problem: Problem, reported: &mut HashSet<String>) {
    if !reported.insert(problem.to_string()) {
        return;
    }
    match &problem {
        Problem::Unsortable(path, err) => {
            tracing::warn!(plugin = %cx.name(), file = %path.display(), error = %err, "File name does not sort: its group sorts as -1.");
        }
        Problem::Unreadable(path, err) => {
            RunnerStats::add(&cx.stats().errors, 1);
            tracing::warn!(plugin = %cx.name(), directory = %path.display(), error = %err, "Directory unreadable.");
        }
    }
}
