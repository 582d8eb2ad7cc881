//! DashboardOutput: Heka's built-in web dashboard, an output at the end of
//! the pipeline. Its default matcher takes hekad's reports and the
//! sandboxes' outputs and terminations from the router; it keeps them as
//! files in its working directory and serves that directory over HTTP with
//! a small page of ours that shows them.
//!
//! - On start ([`Output::prepare`]) it empties the working directory
//!   (`<base_dir>/<working_directory>`, its files and those of `data/`),
//!   copies the UI from `<share_dir>/<static_directory>` (or writes ours,
//!   from `sandboxes/dasher/`, when that folder is absent) and binds
//!   `address`; a busy port or an unwritable folder stops startup, naming
//!   the plugin.
//! - On its runner's thread ([`Output::start`]) it serves the directory
//!   (see `server.rs`) and, every `ticker_interval` seconds, asks the
//!   pipeline to route `heka.all-report` and `heka.memstat`
//!   ([`OutputCx::inject_reports`]): they go through the router like any
//!   message, so filters matching them see them too.
//! - Per message (see `files.rs`): `heka.all-report` →
//!   `data/heka_report.json`; `heka.sandbox-output` →
//!   `data/<Logger>.<payload_name>.<payload_type>` and `data/sandboxes.json`;
//!   `heka.sandbox-terminated` → a line of `data/heka_sandbox_termination.tsv`.
//!   A file that cannot be written is logged and counted (`WriteFailures`)
//!   and the message is not retried: these files are a view of the
//!   pipeline, not data to deliver.

mod files;
mod server;

pub use files::{Added, Sandboxes, Terminations, output_file_name, word_chars};
pub use server::{Refusal, relative_path};

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::pipeline::InjectError;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, OutputCx, PluginError};
use heka_actors::report::Metric;
use heka_proto::{FieldValue, MessageView};
use hyper::header::HeaderMap;
use serde::Deserialize;

use super::http::{HeaderValues, header_map};
use files::{DATA_DIR, REPORT_FILE, SANDBOXES_FILE, TERMINATIONS_FILE, at, write_atomic};

/// Heka's default `address`: every interface, port 4352.
pub const DEFAULT_ADDRESS: &str = ":4352";
/// Heka's default `working_directory`, under `base_dir`.
pub const DEFAULT_WORKING_DIRECTORY: &str = "dashboard";
/// Heka's default `static_directory`, under `share_dir`.
pub const DEFAULT_STATIC_DIRECTORY: &str = "dasher";
/// Heka's default `ticker_interval`, in seconds.
pub const DEFAULT_TICKER_INTERVAL: u64 = 5;
/// Heka's default `message_matcher`.
pub const DEFAULT_MATCHER: &str = "Type == 'heka.all-report' || Type == 'heka.sandbox-terminated' || Type == 'heka.sandbox-output'";

const ALL_REPORT: &[u8] = b"heka.all-report";
const SANDBOX_OUTPUT: &[u8] = b"heka.sandbox-output";
const SANDBOX_TERMINATED: &[u8] = b"heka.sandbox-terminated";

/// DashboardOutput's options, with Heka's names and defaults
/// (`ticker_interval` is a common key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardOutputConfig {
    /// `host:port` to serve on; `:port` means every interface.
    #[serde(default = "default_address")]
    pub address: String,
    /// Where the served files live, relative to `base_dir`.
    #[serde(default = "default_working_directory")]
    pub working_directory: String,
    /// The UI copied into the working directory, relative to `share_dir`.
    #[serde(default = "default_static_directory")]
    pub static_directory: String,
    /// Headers added to every HTTP answer.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
}

fn default_address() -> String {
    DEFAULT_ADDRESS.into()
}

fn default_working_directory() -> String {
    DEFAULT_WORKING_DIRECTORY.into()
}

fn default_static_directory() -> String {
    DEFAULT_STATIC_DIRECTORY.into()
}

#[derive(Debug, Default)]
struct Counts {
    reports: u64,
    outputs: u64,
    terminations: u64,
    refused: u64,
    write_failures: u64,
}

/// Heka's DashboardOutput; see the module docs.
#[derive(Debug)]
pub struct DashboardOutput {
    name: Arc<str>,
    address: String,
    dir: PathBuf,
    static_dir: PathBuf,
    ticker: Option<Duration>,
    headers: HeaderMap,
    listener: Option<std::net::TcpListener>,
    sandboxes: Sandboxes,
    terminations: Terminations,
    counts: Counts,
    /// The server and the ticker, aborted at shutdown and on drop.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl DashboardOutput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
        Ok(Box::new(DashboardOutput::new(spec, globals)?))
    }

    /// A DashboardOutput from its spec (nothing touched on disk yet).
    pub fn new(spec: &PluginSpec, globals: &Globals) -> Result<DashboardOutput, BuildError> {
        let config: DashboardOutputConfig = super::options(spec)?;
        let working = Path::new(&config.working_directory);
        if working.components().all(|c| {
            matches!(
                c,
                Component::CurDir | Component::RootDir | Component::Prefix(_)
            )
        }) {
            // It is emptied at start: never base_dir itself or the root.
            return Err(spec
                .invalid(
                    "working_directory",
                    format!(
                        "{:?} must name a folder of its own",
                        config.working_directory
                    ),
                )
                .into());
        }
        let seconds = spec
            .common
            .ticker_interval
            .unwrap_or(DEFAULT_TICKER_INTERVAL);
        Ok(DashboardOutput {
            name: spec.name.as_str().into(),
            headers: header_map(spec, "headers", &config.headers)?,
            dir: globals.base_dir.join(working),
            static_dir: globals.share_dir.join(&config.static_directory),
            ticker: (seconds > 0).then(|| Duration::from_secs(seconds)),
            address: config.address,
            listener: None,
            sandboxes: Sandboxes::default(),
            terminations: Terminations::default(),
            counts: Counts::default(),
            tasks: Vec::new(),
        })
    }

    /// The working directory.
    pub fn directory(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, file: &str) -> PathBuf {
        self.dir.join(DATA_DIR).join(file)
    }

    fn save(&mut self, file: &str, data: &[u8]) {
        let path = self.data_path(file);
        if let Err(err) = write_atomic(&path, data) {
            self.counts.write_failures += 1;
            tracing::warn!(plugin = %self.name, error = %at(&path, "writing", err), "Dashboard file not written.");
        }
    }

    /// Keeps the files current with `messages`; within one batch only the
    /// last content of each file is written.
    pub fn handle<'m>(&mut self, messages: impl Iterator<Item = &'m MessageView>) {
        let mut pending: Vec<(String, &[u8])> = Vec::new();
        let (mut listed, mut terminated) = (false, false);
        let mut put = |file: String, data: &'m [u8]| match pending.iter_mut().find(|p| p.0 == file)
        {
            Some(p) => p.1 = data,
            None => pending.push((file, data)),
        };
        for msg in messages {
            match msg.r#type() {
                ALL_REPORT => {
                    self.counts.reports += 1;
                    put(REPORT_FILE.to_owned(), msg.payload());
                }
                SANDBOX_OUTPUT => {
                    self.counts.outputs += 1;
                    let logger = String::from_utf8_lossy(msg.logger());
                    let name = text_field(msg, b"payload_name").unwrap_or_default();
                    let kind = text_field(msg, b"payload_type").unwrap_or_else(|| "txt".into());
                    match self.sandboxes.add(&logger, &name, &kind) {
                        Added::New(file) => {
                            listed = true;
                            put(file, msg.payload());
                        }
                        Added::Known(file) => put(file, msg.payload()),
                        Added::Refused => {
                            self.counts.refused += 1;
                            tracing::warn!(plugin = %self.name, logger = %logger, payload_name = %name, "Sandbox output not shown: too many outputs.");
                        }
                    }
                }
                SANDBOX_TERMINATED => {
                    self.counts.terminations += 1;
                    let plugin = text_field(msg, b"plugin").unwrap_or_default();
                    let payload = String::from_utf8_lossy(msg.payload());
                    let secs = msg.timestamp().div_euclid(1_000_000_000);
                    self.terminations.add(secs, &plugin, &payload);
                    terminated = true;
                }
                _ => {}
            }
        }
        // Output files first, so every file sandboxes.json lists exists.
        for (file, data) in pending {
            self.save(&file, data);
        }
        if listed {
            let json = self.sandboxes.to_json();
            self.save(SANDBOXES_FILE, json.as_bytes());
        }
        if terminated {
            let text = self.terminations.text();
            self.save(TERMINATIONS_FILE, text.as_bytes());
        }
    }

    fn stop_tasks(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for DashboardOutput {
    fn drop(&mut self) {
        self.stop_tasks();
    }
}

/// A string field's first value, as text.
fn text_field(msg: &MessageView, name: &[u8]) -> Option<String> {
    match msg.field_value(name, 0, 0)? {
        FieldValue::String(v) | FieldValue::Bytes(v) => Some(String::from_utf8_lossy(v).into()),
        _ => None,
    }
}

/// Asks for the reports every `every` until the pipeline stops.
async fn tick(cx: OutputCx, every: Duration) {
    let start = tokio::time::Instant::now() + every;
    let mut interval = tokio::time::interval_at(start, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match cx.inject_reports().await {
            Ok(()) => {}
            Err(InjectError::Stopped) => break,
            Err(err) => {
                tracing::warn!(plugin = %cx.name(), error = %err, "Report not routed.");
            }
        }
    }
}

impl Output for DashboardOutput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        files::prepare_directory(&self.dir, &self.static_dir).map_err(PluginError::fatal)?;
        let listener = super::listen::bind_tcp(&self.address)
            .map_err(|e| PluginError::fatal(format!("cannot listen on {}: {e}", self.address)))?;
        self.listener = Some(listener);
        Ok(())
    }

    fn start(&mut self, cx: OutputCx) -> Result<(), PluginError> {
        self.stop_tasks();
        if self.listener.is_none() {
            // A rebuilt instance: prepare() was not called on it.
            self.prepare()?;
        }
        let std_listener = self.listener.take().expect("prepared above");
        let listening = std_listener.local_addr().ok();
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| PluginError::fatal(format!("cannot listen on {}: {e}", self.address)))?;
        let root = std::fs::canonicalize(&self.dir)
            .map_err(|e| PluginError::fatal(at(&self.dir, "reading", e)))?;
        let site = Rc::new(server::Site {
            name: Arc::clone(&self.name),
            root,
            headers: self.headers.clone(),
        });
        tracing::info!(plugin = %self.name, address = ?listening, directory = %self.dir.display(), "Dashboard serving.");
        self.tasks
            .push(tokio::task::spawn_local(server::run(site, listener)));
        if let Some(every) = self.ticker {
            self.tasks.push(tokio::task::spawn_local(tick(cx, every)));
        }
        Ok(())
    }

    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        self.handle(batch.packs.iter().map(|p| &p.message));
        Box::pin(async { Ok(()) })
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        self.stop_tasks();
        Box::pin(async { Ok(()) })
    }

    fn default_matcher(&self) -> Option<&'static str> {
        Some(DEFAULT_MATCHER)
    }

    fn needs_encoder(&self) -> bool {
        false
    }

    fn report_fields(&self) -> Vec<Metric> {
        let c = &self.counts;
        vec![
            ("ReportsWritten", c.reports, "count"),
            ("SandboxOutputs", c.outputs, "count"),
            ("SandboxTerminations", c.terminations, "count"),
            ("RefusedOutputs", c.refused, "count"),
            ("WriteFailures", c.write_failures, "count"),
        ]
    }
}

#[cfg(test)]
mod tests;
