//! ProcessInput: the start of a pipeline branch fed by external programs.
//! Every `ticker_interval` seconds (15 by default) it runs its command
//! chain (`[name.command.0]`, `[name.command.1]`, …: each one's stdout
//! piped into the next one's stdin, see [`chain`]) and cuts the last
//! command's stdout (and stderr with `stderr = true`) into records with the
//! input's splitter (TokenSplitter unless configured), one stream each.
//!
//! Messages made from those records carry Type `ProcessInput`, Logger = the
//! input's name, and the fields Heka added: `ProcessInputName`
//! (`<name>.stdout` or `<name>.stderr`), `ExitStatus` (the last command's
//! exit code, -1 after a signal) and, when a command failed,
//! `SubcmdErrors` (one line per failed command).
//!
//! Decisions where Heka behaved by accident:
//! - Heka made every record wait for the chain's exit status, and only the
//!   first record of a run actually got it (the others waited for the
//!   next run). Here a run's output is held until the chain has exited, so
//!   every record carries its run's ExitStatus; a run printing more than
//!   [`HOLD_LIMIT`] bytes has its earlier records routed as they complete,
//!   without ExitStatus (logged once per run), so memory stays bounded.
//! - With `ticker_interval = 0` the chain runs once and is expected to run
//!   for long: its records are routed as they complete (without
//!   ExitStatus, which is not known yet); what remains at exit carries it.
//!   When it exits, the input exits too and is restarted per `retries`.
//! - Heka forgot `env` and `directory` after the first run; they apply to
//!   every run here.
//! - `timeout` (seconds, 0 = none) covers the whole run: the commands
//!   still running are killed (SIGKILL) and reported in SubcmdErrors.
//!   The chain is also killed when hekad stops; what it printed is routed.
//! - A command that cannot be started (missing program) fails the input,
//!   which is restarted per `retries`, as in Heka.

pub mod chain;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, StreamDefaults, StreamSink,
};
use heka_proto::Field;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use chain::{Cut, Outcome, Step};

/// Seconds between runs when `ticker_interval` is not set.
pub const DEFAULT_TICKER_INTERVAL: u64 = 15;
/// The Type of every message this input makes.
pub const MESSAGE_TYPE: &str = "ProcessInput";
/// Field naming the input and stream: `<name>.stdout` / `<name>.stderr`.
pub const FIELD_PROCESS_INPUT_NAME: &str = "ProcessInputName";
/// Integer field: the last command's exit code.
pub const FIELD_EXIT_STATUS: &str = "ExitStatus";
/// String field: the failures of the chain's commands, one per line.
pub const FIELD_SUBCMD_ERRORS: &str = "SubcmdErrors";
/// Bytes of a run's output held back waiting for the exit status.
pub const HOLD_LIMIT: usize = 1 << 20;
/// How long the output pipes may stay open after the chain exited (a
/// background grandchild can hold them) before the input stops reading.
pub const PIPE_GRACE: Duration = Duration::from_secs(1);

/// One `[name.command.N]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program to run.
    pub bin: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// `KEY=VALUE` strings: the command's whole environment when set.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Working directory ("" = hekad's).
    #[serde(default)]
    pub directory: String,
}

/// ProcessInput's options (Heka's names and defaults; `ticker_interval`
/// is the common key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessInputConfig {
    /// The chain, keyed "0", "1", … in pipe order.
    pub command: BTreeMap<String, CommandConfig>,
    /// Run once at start instead of after the first interval.
    #[serde(default)]
    pub immediate_start: bool,
    /// Make messages of the last command's stdout (default true).
    #[serde(default = "yes")]
    pub stdout: bool,
    /// Make messages of the last command's stderr (default false).
    #[serde(default)]
    pub stderr: bool,
    /// Seconds a run may take before it is killed (0 = no limit).
    #[serde(default)]
    pub timeout: u64,
}

fn yes() -> bool {
    true
}

/// Heka's ProcessInput.
pub struct ProcessInput {
    steps: Vec<Step>,
    ticker_interval: u64,
    immediate_start: bool,
    stdout: bool,
    stderr: bool,
    timeout: Duration,
}

impl ProcessInput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let config: ProcessInputConfig = crate::plugins::options(spec)?;
        Ok(Box::new(Self::new(spec, config)?))
    }

    /// Checks the options: commands numbered 0..n without gaps, `env`
    /// entries of the form `KEY=VALUE`.
    pub fn new(spec: &PluginSpec, config: ProcessInputConfig) -> Result<Self, BuildError> {
        if config.command.is_empty() {
            return Err(BuildError::invalid(spec, "No Command Configured"));
        }
        let mut steps = Vec::with_capacity(config.command.len());
        for index in 0..config.command.len() {
            let cmd = config.command.get(&index.to_string()).ok_or_else(|| {
                BuildError::invalid(
                    spec,
                    format!(
                        "Expected to find a command at index [{}][{index}]",
                        spec.name
                    ),
                )
            })?;
            let env = match &cmd.env {
                None => None,
                Some(entries) => Some(
                    entries
                        .iter()
                        .map(|entry| {
                            entry
                                .split_once('=')
                                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                .ok_or_else(|| {
                                    BuildError::invalid(
                                        spec,
                                        format!(
                                            "command.{index}.env entry {entry:?} is not KEY=VALUE"
                                        ),
                                    )
                                })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            steps.push(Step {
                bin: cmd.bin.clone(),
                args: cmd.args.clone(),
                env,
                directory: (!cmd.directory.is_empty()).then(|| PathBuf::from(&cmd.directory)),
            });
        }
        Ok(ProcessInput {
            steps,
            ticker_interval: spec
                .common
                .ticker_interval
                .unwrap_or(DEFAULT_TICKER_INTERVAL),
            immediate_start: config.immediate_start,
            stdout: config.stdout,
            stderr: config.stderr,
            timeout: Duration::from_secs(config.timeout),
        })
    }

    fn sink(&self, cx: &InputCx, wanted: bool) -> Result<Option<StreamSink>, PluginError> {
        if !wanted {
            return Ok(None);
        }
        let defaults = StreamDefaults {
            hostname: None,
            msg_type: Some(MESSAGE_TYPE.to_owned()),
            logger: None,
        };
        cx.stream(defaults)
            .map(Some)
            .map_err(|e| PluginError::fatal(e.to_string()))
    }

    /// Runs the chain once and routes its output.
    async fn run_once(
        &self,
        cx: &InputCx,
        sinks: &mut Sinks,
        live: bool,
    ) -> Result<(), PluginError> {
        let names = [
            format!("{}.stdout", cx.name()),
            format!("{}.stderr", cx.name()),
        ];
        for (sink, name) in sinks.both().into_iter().zip(&names) {
            if let Some(sink) = sink {
                sink.set_fields(vec![Field::string(FIELD_PROCESS_INPUT_NAME, name)]);
            }
        }
        let mut running =
            chain::start(&self.steps).map_err(|e| PluginError::fatal(e.to_string()))?;
        let stdout = running.stdout.take();
        let stderr = running.stderr.take();
        let started = Instant::now();
        let outcome = {
            let cut = async {
                tokio::select! {
                    why = chain::deadline(started, self.timeout) => why,
                    _ = cx.stopped() => Cut::Stop,
                }
            };
            let wait = running.wait(cut);
            let [out_sink, err_sink] = sinks.both();
            let pumps = async {
                let (a, b) = tokio::join!(
                    pump(cx, stdout, out_sink, live),
                    pump(cx, stderr, err_sink, live)
                );
                a.and(b)
            };
            tokio::pin!(wait, pumps);
            let mut outcome = None;
            let mut pumped = false;
            let mut grace = None;
            while outcome.is_none() || !pumped {
                tokio::select! {
                    done = &mut wait, if outcome.is_none() => {
                        outcome = Some(done);
                        grace = Some(Instant::now() + PIPE_GRACE);
                    }
                    result = &mut pumps, if !pumped => {
                        result?;
                        pumped = true;
                    }
                    _ = sleep_until(grace), if grace.is_some() && !pumped => {
                        tracing::warn!(plugin = %cx.name(), "The chain exited but its output stays open; reading stopped.");
                        pumped = true;
                    }
                }
            }
            outcome.expect("the loop ends with an outcome")
        };
        report(cx, &outcome);
        for (sink, name) in sinks.both().into_iter().zip(&names) {
            if let Some(sink) = sink {
                sink.set_fields(fields(name, &outcome));
                sink.flush(true).await?;
            }
        }
        Ok(())
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn report(cx: &InputCx, outcome: &Outcome) {
    if outcome.errors.is_empty() {
        tracing::debug!(plugin = %cx.name(), "Command chain finished.");
    } else {
        tracing::warn!(plugin = %cx.name(), exit_status = outcome.exit_status, errors = %outcome.errors.join("; "), "Command chain failed.");
    }
}

/// The fields of a finished run's messages, in Heka's order.
pub fn fields(stream_name: &str, outcome: &Outcome) -> Vec<Field> {
    let mut fields = vec![
        Field::string(FIELD_PROCESS_INPUT_NAME, stream_name),
        Field::integer(FIELD_EXIT_STATUS, outcome.exit_status),
    ];
    if !outcome.errors.is_empty() {
        fields.push(Field::string(
            FIELD_SUBCMD_ERRORS,
            outcome.errors.join("\n"),
        ));
    }
    fields
}

/// The input's two streams (either may be off).
struct Sinks {
    stdout: Option<StreamSink>,
    stderr: Option<StreamSink>,
}

impl Sinks {
    fn both(&mut self) -> [Option<&mut StreamSink>; 2] {
        [self.stdout.as_mut(), self.stderr.as_mut()]
    }
}

/// Reads one pipe to its end into `sink` (or discards it: an unread pipe
/// would block the command). Live streams route records as they complete;
/// held ones only once [`HOLD_LIMIT`] bytes wait.
async fn pump<R: AsyncRead + Unpin>(
    cx: &InputCx,
    pipe: Option<R>,
    sink: Option<&mut StreamSink>,
    live: bool,
) -> Result<(), PluginError> {
    let Some(mut pipe) = pipe else {
        return Ok(());
    };
    let Some(sink) = sink else {
        let mut scratch = vec![0u8; 8192];
        while matches!(pipe.read(&mut scratch).await, Ok(n) if n > 0) {}
        return Ok(());
    };
    let mut warned = false;
    loop {
        let buf = sink.buffer();
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        match pipe.read_buf(buf).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(plugin = %cx.name(), error = %err, "Reading the command's output failed.");
                return Ok(());
            }
        }
        let held = sink.buffer().len();
        if live || held >= HOLD_LIMIT {
            if !live && !warned {
                warned = true;
                tracing::warn!(plugin = %cx.name(), bytes = held, "Command output exceeds the hold limit; routing records before the exit status is known.");
            }
            sink.flush(false).await?;
        }
    }
}

impl Input for ProcessInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let mut sinks = Sinks {
                stdout: self.sink(&cx, self.stdout)?,
                stderr: self.sink(&cx, self.stderr)?,
            };
            if self.ticker_interval == 0 {
                // A long-running process: its exit ends the input (and
                // its restart policy decides what happens next).
                return self.run_once(&cx, &mut sinks, true).await;
            }
            if self.immediate_start {
                self.run_once(&cx, &mut sinks, false).await?;
            }
            let period = Duration::from_secs(self.ticker_interval);
            let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !cx.is_stopping() {
                tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    _ = ticker.tick() => self.run_once(&cx, &mut sinks, false).await?,
                }
            }
            Ok(())
        })
    }

    fn default_splitter(&self) -> &'static str {
        "TokenSplitter"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> PluginSpec {
        let config =
            heka_actors::config::Config::from_str(text, std::path::Path::new("p.toml")).unwrap();
        config.plugin("proc").unwrap().clone()
    }

    fn build(text: &str) -> Result<Box<dyn Input>, String> {
        ProcessInput::build(&spec(text), &Globals::default()).map_err(|e| e.message)
    }

    #[test]
    fn commands_must_be_numbered_from_zero() {
        let ok = "[proc]\ntype = \"ProcessInput\"\n[proc.command.0]\nbin = \"true\"\n[proc.command.1]\nbin = \"cat\"\n";
        assert!(build(ok).is_ok());
        let gap = "[proc]\ntype = \"ProcessInput\"\n[proc.command.0]\nbin = \"true\"\n[proc.command.2]\nbin = \"cat\"\n";
        let err = build(gap).err().unwrap();
        assert!(err.contains("index [proc][1]"), "{err}");
        let none = "[proc]\ntype = \"ProcessInput\"\ncommand = {}\n";
        assert!(build(none).err().unwrap().contains("No Command Configured"));
        let env = "[proc]\ntype = \"ProcessInput\"\n[proc.command.0]\nbin = \"true\"\nenv = [\"NOEQUALS\"]\n";
        assert!(build(env).err().unwrap().contains("KEY=VALUE"));
        let unknown =
            "[proc]\ntype = \"ProcessInput\"\n[proc.command.0]\nbin = \"true\"\npath = \"x\"\n";
        assert!(build(unknown).is_err());
    }

    #[test]
    fn defaults_are_heka_s() {
        let text = "[proc]\ntype = \"ProcessInput\"\n[proc.command.0]\nbin = \"true\"\n";
        let s = spec(text);
        let input = ProcessInput::new(&s, crate::plugins::options(&s).unwrap()).unwrap();
        assert_eq!(input.ticker_interval, 15);
        assert!(!input.immediate_start && input.stdout && !input.stderr);
        assert_eq!(input.timeout, Duration::ZERO);
        assert_eq!(input.default_splitter(), "TokenSplitter");
    }

    #[test]
    fn fields_follow_heka_s_order() {
        let ok = Outcome {
            exit_status: 0,
            errors: vec![],
        };
        let f = fields("p.stdout", &ok);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, FIELD_PROCESS_INPUT_NAME.as_bytes());
        assert_eq!(f[0].value_string, [&b"p.stdout"[..]]);
        assert_eq!(f[1].name, FIELD_EXIT_STATUS.as_bytes());
        let failed = Outcome {
            exit_status: 2,
            errors: vec!["a".into(), "b".into()],
        };
        let f = fields("p.stdout", &failed);
        assert_eq!(f[2].name, FIELD_SUBCMD_ERRORS.as_bytes());
        assert_eq!(f[2].value_string, [&b"a\nb"[..]]);
        assert_eq!(f[1].value_integer, [2]);
    }
}
