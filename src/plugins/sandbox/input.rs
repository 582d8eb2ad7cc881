//! SandboxInput: a Lua input (HEKA-SPEC §4.1). Its `process_message()` is
//! the input loop: it reads what it likes through `io` (the IO template)
//! and injects messages, which are routed like any input's. There is no
//! instruction limit and no wall-clock budget, as Heka forced
//! `instruction_limit = 0` for inputs.
//!
//! The call runs on a thread of its own (it may loop for the life of the
//! daemon, and the runner's arbiter serves other actors); injections cross
//! to the runner through a bounded channel, so a full router or an empty
//! input pool blocks the script in `inject_message`, which is Heka's back
//! pressure. On shutdown the sandbox's stop flag ends the loop with
//! "shutting down" at its next hook; a script blocked inside a C function
//! for longer than [`STOP_GRACE`] is abandoned (its state not preserved).
//!
//! Status: 0 done (or `< 0`, logged and counted as a failure): with a
//! `ticker_interval` the call is made again every tick; without one the
//! input has had its single run ("single run completed") and idles until
//! shutdown. Above 0, or a Lua error, the input exits (fatal).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, Input, InputCx, LocalBoxFuture, PluginError};
use heka_proto::{Message, MessageView};
use tokio::sync::{mpsc, oneshot};

use super::{fatal, load, payload_fields, report_fields, restore, save};
use crate::sandbox::api::SANDBOX_OUTPUT;
use crate::sandbox::{Abort, Call, Injection, Limits, Sandbox, SandboxError, Sink, Template};

/// How long a stopping input waits for its script to notice the stop.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Injected messages in flight between the script's thread and the runner.
const CHANNEL: usize = 256;
/// Most messages routed in one batch.
const BATCH: usize = 100;

/// A Lua-scripted input.
#[derive(Debug)]
pub struct SandboxInput {
    /// `None` while the script runs on its thread.
    sandbox: Option<Sandbox>,
    ticker: Option<Duration>,
    state_file: Option<PathBuf>,
    hostname: String,
    failures: u64,
}

/// Where the script's thread puts what it injects.
struct InputSink {
    tx: mpsc::Sender<MessageView>,
    logger: Bytes,
    hostname: Bytes,
}

impl Sink for InputSink {
    fn inject(&mut self, what: Injection) -> Result<(), String> {
        let msg = match what {
            // Routed as the script built it (Heka added nothing for inputs).
            Injection::Message { msg, .. } => msg,
            Injection::Payload {
                payload,
                payload_type,
                payload_name,
            } => {
                let mut msg = Message::new(crate::host::uuid_v4(), crate::host::now_ns());
                msg.r#type = Some(Bytes::from_static(SANDBOX_OUTPUT.as_bytes()));
                msg.logger = Some(self.logger.clone());
                msg.hostname = Some(self.hostname.clone());
                msg.payload = Some(payload);
                msg.fields = payload_fields(payload_type, payload_name).into();
                msg
            }
        };
        let view = MessageView::from_message(&msg).map_err(|e| e.to_string())?;
        // Blocks while the runner is behind; fails once it is gone.
        self.tx
            .blocking_send(view)
            .map_err(|_| "aborted".to_owned())
    }
}

type Outcome = Result<(i64, Option<String>), SandboxError>;

impl SandboxInput {
    /// Builds a SandboxInput from its spec.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let (cfg, sandbox) = load(spec, globals, Template::Io, |l| Limits {
            instructions: 0,
            call_time: None,
            ..l
        })?;
        let state_file = restore(&cfg, &sandbox, spec, globals);
        Ok(Box::new(SandboxInput {
            sandbox: Some(sandbox),
            ticker: spec
                .common
                .ticker_interval
                .filter(|&s| s > 0)
                .map(Duration::from_secs),
            state_file,
            hostname: globals.hostname.clone(),
            failures: 0,
        }))
    }

    fn report(&self, cx: &InputCx) {
        if let Some(sandbox) = &self.sandbox {
            let mut fields = report_fields(sandbox.usage());
            fields.push(("ProcessMessageFailures", self.failures, "count"));
            cx.report_fields(fields);
        }
    }

    /// One `process_message()` call on its own thread, routing what it
    /// injects as it goes. Gives the sandbox back unless it was abandoned.
    async fn call(&self, sandbox: Sandbox, cx: &InputCx) -> (Outcome, Option<Sandbox>) {
        let (tx, mut rx) = mpsc::channel(CHANNEL);
        let (done_tx, done_rx) = oneshot::channel();
        let stopper = sandbox.stopper();
        let usage = sandbox.usage_handle();
        let mut sink = InputSink {
            tx,
            logger: Bytes::copy_from_slice(cx.name().as_bytes()),
            hostname: Bytes::copy_from_slice(self.hostname.as_bytes()),
        };
        let mut sandbox = sandbox;
        let spawned = std::thread::Builder::new()
            .name(format!("sandbox-input-{}", cx.name()))
            .spawn(move || {
                let call = Call {
                    sink: Some(&mut sink),
                    ..Call::default()
                };
                let outcome = sandbox.process_message(call);
                // The sink (and with it the channel) closes after this.
                let _ = done_tx.send((outcome, sandbox));
            });
        if let Err(err) = spawned {
            return (Err(SandboxError::Setup(err.to_string())), None);
        }
        let mut deadline = None;
        let mut routing_failed = false;
        let mut batch = Vec::new();
        loop {
            // The stop comes first: a script injecting without pause keeps
            // the channel ready.
            let next = tokio::select! {
                biased;
                _ = cx.stopped(), if deadline.is_none() => {
                    stopper.stop();
                    deadline = Some(tokio::time::Instant::now() + STOP_GRACE);
                    continue;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {
                    tracing::error!(plugin = %cx.name(), "SandboxInput did not stop in time; abandoned.");
                    return (Err(SandboxError::Abort(Abort::Stopped)), None);
                }
                next = rx.recv() => next,
            };
            let Some(view) = next else { break };
            batch.push(view);
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(view) => batch.push(view),
                    Err(_) => break,
                }
            }
            let messages = std::mem::take(&mut batch);
            if routing_failed {
                continue;
            }
            if let Err(err) = cx.deliver(messages).await {
                tracing::error!(plugin = %cx.name(), error = %err, "SandboxInput cannot route; stopping it.");
                routing_failed = true;
                stopper.stop();
            }
            let mut fields = report_fields(&usage);
            fields.push(("ProcessMessageFailures", self.failures, "count"));
            cx.report_fields(fields);
        }
        match done_rx.await {
            Ok((outcome, sandbox)) => (outcome, Some(sandbox)),
            Err(_) => (
                Err(SandboxError::Setup("the input thread panicked".into())),
                None,
            ),
        }
    }

    async fn run_loop(&mut self, cx: &InputCx) -> Result<(), PluginError> {
        loop {
            let sandbox = self
                .sandbox
                .take()
                .ok_or_else(|| PluginError::fatal("the sandbox was abandoned"))?;
            let (outcome, sandbox) = self.call(sandbox, cx).await;
            let Some(sandbox) = sandbox else {
                return Ok(());
            };
            self.sandbox = Some(sandbox);
            self.report(cx);
            match outcome {
                Err(SandboxError::Abort(Abort::Stopped)) if cx.is_stopping() => return Ok(()),
                Err(err) => return Err(fatal(err)),
                Ok((code, text)) if code > 0 => {
                    return Err(PluginError::fatal(
                        text.unwrap_or_else(|| format!("process_message() returned {code}")),
                    ));
                }
                Ok((code, text)) if code < 0 => {
                    self.failures += 1;
                    let error =
                        text.unwrap_or_else(|| format!("process_message() returned {code}"));
                    tracing::error!(plugin = %cx.name(), error = %error, "SandboxInput process_message failed.");
                }
                Ok(_) => {}
            }
            let Some(every) = self.ticker else {
                tracing::info!(plugin = %cx.name(), "single run completed");
                cx.stopped().await;
                return Ok(());
            };
            tokio::select! {
                _ = cx.stopped() => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

impl Input for SandboxInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let result = self.run_loop(&cx).await;
            // preserve_data, whether the input stopped or failed (Heka saved
            // in Destroy either way); an abandoned sandbox has nothing to save.
            if let Some(sandbox) = &self.sandbox {
                if let Err(err) = save(sandbox, self.state_file.as_ref()) {
                    tracing::error!(plugin = %cx.name(), error = %err, "preserve_data not saved");
                }
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use heka_actors::Pipeline;
    use heka_actors::config::{Category, Config};

    /// A SandboxInput whose single run injects `n` messages (one each way)
    /// into a real pipeline, where a SandboxOutput appends each to a file
    /// and asks for one retry.
    fn config(dir: &std::path::Path, input_extra: &str) -> String {
        let input = dir.join("in.lua");
        std::fs::write(
            &input,
            r#"
            runs = 0
            function process_message()
                runs = runs + 1
                local n = read_config("n")
                for i = 1, n do
                    if i % 2 == 0 then
                        inject_message{Type = "gen", Payload = tostring(i), Fields = {run = runs}}
                    else
                        inject_payload("txt", "gen", tostring(i))
                    end
                end
                return 0
            end"#,
        )
        .unwrap();
        let output = dir.join("out.lua");
        std::fs::write(
            &output,
            r#"
            local path = read_config("path")
            local retried = false
            function process_message()
                local p = read_message("Payload")
                if p == "5" and not retried then retried = true return -3 end
                local f = assert(io.open(path, "a"))
                f:write(read_message("Type"), " ", p, "\n")
                f:close()
                return 0
            end"#,
        )
        .unwrap();
        format!(
            r#"
            [hekad]
            base_dir = "{base}"

            [gen]
            type = "SandboxInput"
            filename = "{input}"
            preserve_data = true
            {input_extra}
            [gen.config]
            n = 10

            [writer]
            type = "SandboxOutput"
            message_matcher = "Type == 'gen' || Type == 'heka.sandbox-output'"
            filename = "{output}"
            [writer.config]
            path = "{base}/lines.txt"
            "#,
            base = dir.display(),
            input = input.display(),
            output = output.display(),
        )
    }

    fn lines(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("lines.txt"))
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    async fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if what() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[test]
    fn injected_messages_reach_an_output_that_writes_them_with_io() {
        let dir = tempfile::tempdir().unwrap();
        let text = config(dir.path(), "");
        let config = Config::from_str(&text, std::path::Path::new("t.toml")).unwrap();
        let dir_path = dir.path().to_path_buf();
        let report = actix_rt::System::new().block_on(async move {
            let pipeline = Pipeline::start(
                config.globals,
                config.plugins,
                crate::catalogue::catalogue(),
            )
            .unwrap();
            assert!(
                wait_for(|| lines(&dir_path).len() == 10).await,
                "{:?}",
                lines(&dir_path)
            );
            // The single run is over; the input idles until shutdown.
            assert_eq!(pipeline.running(Category::Input), ["gen"]);
            let report = pipeline.report().to_text();
            assert_eq!(pipeline.stop().await, 0);
            report
        });
        let mut got = lines(dir.path());
        got.sort_by_key(|l| l.split(' ').nth(1).unwrap().parse::<u32>().unwrap());
        let want: Vec<String> = (1..=10)
            .map(|i| {
                let t = if i % 2 == 0 {
                    "gen"
                } else {
                    "heka.sandbox-output"
                };
                format!("{t} {i}")
            })
            .collect();
        assert_eq!(got, want);
        // Both sandboxes report Heka's figures.
        for name in ["gen:", "writer:"] {
            let row = report
                .split(name)
                .nth(1)
                .unwrap_or_else(|| panic!("{report}"));
            for field in ["Memory:", "MaxMemory:", "MaxInstructions:", "MaxOutput:"] {
                assert!(row.contains(field), "{name} {field}\n{report}");
            }
        }
        // preserve_data kept the input's globals.
        let saved =
            std::fs::read_to_string(dir.path().join("sandbox_preservation/gen.data")).unwrap();
        assert!(saved.contains(r#"_G["runs"] = 1"#), "{saved}");
    }

    #[test]
    fn a_ticking_input_runs_every_tick_and_stops_an_endless_loop() {
        let dir = tempfile::tempdir().unwrap();
        let ticking = config(dir.path(), "ticker_interval = 1");
        let config_t = Config::from_str(&ticking, std::path::Path::new("t.toml")).unwrap();
        let dir_path = dir.path().to_path_buf();
        actix_rt::System::new().block_on(async move {
            let pipeline = Pipeline::start(
                config_t.globals,
                config_t.plugins,
                crate::catalogue::catalogue(),
            )
            .unwrap();
            assert!(wait_for(|| lines(&dir_path).len() >= 20).await);
            assert_eq!(pipeline.stop().await, 0);
        });
        // An input looping forever, injecting all the while, is stopped at
        // shutdown ("shutting down").
        let config = Config::from_str(&config(dir.path(), ""), std::path::Path::new("t.toml"));
        std::fs::write(
            dir.path().join("in.lua"),
            "function process_message() while true do inject_message{Type = 'spin'} end end",
        )
        .unwrap();
        let config = config.unwrap();
        let started = Instant::now();
        actix_rt::System::new().block_on(async move {
            let pipeline = Pipeline::start(
                config.globals,
                config.plugins,
                crate::catalogue::catalogue(),
            )
            .unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(pipeline.stop().await, 0);
        });
        assert!(started.elapsed() < STOP_GRACE, "{:?}", started.elapsed());
    }
}
