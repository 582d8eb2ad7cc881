//! SandboxOutput: a Lua output (HEKA-SPEC §4.6). The OutputRunner hands it
//! each batch of matched packs; the script's `process_message()` runs once
//! per pack, reads it with `read_message` and delivers it itself, usually
//! through `io` (the IO template). No encoder is needed (Heka ignored it),
//! and, as in Heka's SandboxOutput, there is no instruction limit (the
//! per-call wall-clock budget still holds).
//!
//! Status per message: 0 delivered; -3 retry this message (the runner
//! backs off and hands the same batch again; what was already delivered is
//! not run twice); any other value below 0 a failure, logged and counted
//! (ProcessMessageFailures), the batch goes on; above 0, or a Lua error, is
//! fatal. `timer_event(ns)` runs every `ticker_interval` seconds and once
//! at shutdown with `timer_event_on_shutdown`; an error there is fatal
//! too: the next write reports it and the runner retires the output.

use std::path::PathBuf;
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::{EncodedBatch, now_ns};
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use heka_actors::report::Metric;

use super::{fatal, load, report_fields, restore, save};
use crate::sandbox::{Call, Limits, Sandbox, Template};

/// Status asking to deliver the same message again after a back-off.
pub const OUTPUT_RETRY: i64 = -3;

/// A Lua-scripted output.
#[derive(Debug)]
pub struct SandboxOutput {
    sandbox: Sandbox,
    ticker: Option<Duration>,
    timer_on_shutdown: bool,
    state_file: Option<PathBuf>,
    /// Packs of the batch in hand already processed (kept across a Retry).
    done: usize,
    /// Messages whose `process_message` returned a failure.
    failures: u64,
    /// Why `timer_event` terminated the sandbox.
    terminated: Option<String>,
}

impl SandboxOutput {
    /// Builds a SandboxOutput from its spec.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
        let (cfg, sandbox) = load(spec, globals, Template::Io, |l| Limits {
            instructions: 0,
            ..l
        })?;
        let state_file = restore(&cfg, &sandbox, spec, globals);
        Ok(Box::new(SandboxOutput {
            sandbox,
            ticker: spec
                .common
                .ticker_interval
                .filter(|&s| s > 0)
                .map(Duration::from_secs),
            timer_on_shutdown: cfg.timer_event_on_shutdown,
            state_file,
            done: 0,
            failures: 0,
            terminated: None,
        }))
    }

    fn process(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        if let Some(why) = &self.terminated {
            return Err(PluginError::fatal(why.clone()));
        }
        if batch.attempt == 0 {
            self.done = 0;
        }
        while let Some(pack) = batch.packs.get(self.done) {
            let call = Call {
                message: Some(&pack.message),
                ..Call::default()
            };
            let (code, text) = self.sandbox.process_message(call).map_err(fatal)?;
            match code {
                0 => {}
                OUTPUT_RETRY => {
                    return Err(PluginError::retry(
                        text.unwrap_or_else(|| "process_message() asked to retry".to_owned()),
                    ));
                }
                c if c < 0 => {
                    self.failures += 1;
                    let error = text.unwrap_or_else(|| format!("process_message() returned {c}"));
                    tracing::warn!(error = %error, "SandboxOutput failed to deliver a message.");
                }
                c => {
                    return Err(PluginError::fatal(
                        text.unwrap_or_else(|| format!("process_message() returned {c}")),
                    ));
                }
            }
            self.done += 1;
        }
        Ok(())
    }

    fn timer(&mut self) -> Result<(), PluginError> {
        if let Some(why) = &self.terminated {
            return Err(PluginError::fatal(why.clone()));
        }
        let result = self.sandbox.timer_event(now_ns(), Call::default());
        result.map_err(|e| {
            let why = e.to_string();
            self.terminated = Some(why.clone());
            PluginError::fatal(why)
        })
    }
}

impl Output for SandboxOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        let result = self.process(batch);
        Box::pin(std::future::ready(result))
    }

    fn flush(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        Box::pin(std::future::ready(self.timer()))
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.ticker
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        let timer = if self.timer_on_shutdown && self.terminated.is_none() {
            self.timer()
        } else {
            Ok(())
        };
        let saved = save(&self.sandbox, self.state_file.as_ref());
        Box::pin(std::future::ready(timer.and(saved)))
    }

    fn needs_encoder(&self) -> bool {
        false
    }

    fn report_fields(&self) -> Vec<Metric> {
        let mut fields = report_fields(self.sandbox.usage());
        fields.push(("ProcessMessageFailures", self.failures, "count"));
        fields
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::testing::{pack, spec};
    use super::*;

    /// The value of a future that is ready at once (sandbox writes are).
    fn now<T>(mut fut: LocalBoxFuture<'_, T>) -> T {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("writes are synchronous"),
        }
    }

    fn batch(types: &[&str]) -> EncodedBatch {
        let mut b = EncodedBatch::default();
        for t in types {
            b.packs.push(Arc::new(pack(t)));
            b.ends.push(0);
        }
        b
    }

    /// Writes every message's Type to a file with io; "busy" asks for a
    /// retry the first time it is seen, "bad" fails, "die" is fatal.
    const SCRIPT: &str = r#"
        local path = read_config("path")
        local busy_seen = false
        ticks = 0
        function process_message()
            local t = read_message("Type")
            if t == "busy" and not busy_seen then busy_seen = true return -3, "busy" end
            if t == "bad" then return -1, "bad message" end
            if t == "die" then return 1, "dying" end
            local f = assert(io.open(path, "a"))
            f:write(t, "\n")
            f:close()
            return 0
        end
        function timer_event(ns)
            ticks = ticks + 1
            if ticks == 2 then error("timer broke") end
        end"#;

    #[test]
    fn writes_each_message_to_a_file_retries_and_counts_failures() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spec, globals) = spec("SandboxOutput", dir.path(), SCRIPT);
        let out = dir.path().join("out.txt");
        let mut cfg = toml::Table::new();
        cfg.insert("path".into(), out.display().to_string().into());
        spec.options.insert("config".into(), cfg.into());
        spec.common.ticker_interval = Some(5);
        let mut output = SandboxOutput::build(&spec, &globals).unwrap();
        assert!(!output.needs_encoder());
        assert_eq!(output.flush_interval(), Some(Duration::from_secs(5)));
        let run = |o: &mut Box<dyn Output>, b: &EncodedBatch| now(o.write(b));
        let mut b = batch(&["one", "busy", "bad", "two"]);
        assert_eq!(run(&mut output, &b), Err(PluginError::retry("busy")));
        // The runner hands the same batch again: "one" is not written twice.
        b.attempt = 1;
        assert_eq!(run(&mut output, &b), Ok(()));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\nbusy\ntwo\n");
        let fields = output.report_fields();
        let get = |name: &str| fields.iter().find(|f| f.0 == name).unwrap().1;
        assert_eq!(get("ProcessMessageFailures"), 1);
        assert!(get("Memory") > 0 && get("MaxMemory") >= get("Memory"));
        assert!(get("MaxOutput") == 0);

        // A fatal status ends the output; so does a failed timer_event.
        let b = batch(&["die"]);
        assert!(matches!(run(&mut output, &b), Err(PluginError::Fatal(t)) if t == "dying"));
        let flush = |o: &mut Box<dyn Output>| now(o.flush());
        assert_eq!(flush(&mut output), Ok(()));
        assert!(
            matches!(flush(&mut output), Err(PluginError::Fatal(t)) if t.contains("timer broke"))
        );
        let b = batch(&["three"]);
        assert!(matches!(run(&mut output, &b), Err(PluginError::Fatal(_))));
    }
}
