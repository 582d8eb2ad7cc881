//! SandboxFilter: a Lua filter the FilterRunner calls per matched pack and
//! on its ticker. Injections go through `FilterCx::inject` (inject limits,
//! loop and self-match guards; a refusal terminates the sandbox). Message
//! types are prefixed `heka.sandbox.`, Logger and Hostname are forced;
//! payloads become `heka.sandbox-output` with `payload_type` and
//! `payload_name` fields.

use std::path::PathBuf;

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::{Pack, now_ns};
use heka_actors::plugin::{BuildError, Filter, FilterCx, PluginError};
use heka_actors::report::Metric;

use super::{TYPE_PREFIX, fatal, load, payload_fields, report_fields, restore, save, status};
use crate::sandbox::api::SANDBOX_OUTPUT;
use crate::sandbox::{Call, Injection, Sandbox, Sink, Template};

/// A Lua-scripted filter.
#[derive(Debug)]
pub struct SandboxFilter {
    sandbox: Sandbox,
    timer_on_shutdown: bool,
    /// The script, watched for edits (a change reloads the filter).
    script: PathBuf,
    /// Where `preserve_data` keeps the globals, when it is on.
    state_file: Option<PathBuf>,
}

struct FilterSink<'a> {
    cx: &'a mut FilterCx,
}

impl Sink for FilterSink<'_> {
    fn inject(&mut self, what: Injection) -> Result<(), String> {
        let mut base = self.cx.new_message();
        let msg = match what {
            Injection::Message { mut msg, .. } => {
                let mut t = TYPE_PREFIX.as_bytes().to_vec();
                t.extend_from_slice(msg.r#type.as_deref().unwrap_or_default());
                msg.r#type = Some(t.into());
                msg.logger = base.logger.take();
                msg.hostname = base.hostname.take();
                msg
            }
            Injection::Payload {
                payload,
                payload_type,
                payload_name,
            } => {
                base.r#type = Some(Bytes::from_static(SANDBOX_OUTPUT.as_bytes()));
                base.payload = Some(payload);
                base.fields = payload_fields(payload_type, payload_name).into();
                base
            }
        };
        self.cx.inject(&msg).map_err(|e| e.to_string())
    }
}

impl SandboxFilter {
    /// Builds a SandboxFilter from its spec.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Filter>, BuildError> {
        let (cfg, sandbox) = load(spec, globals, Template::Analysis, |l| l)?;
        let state_file = restore(&cfg, &sandbox, spec, globals);
        Ok(Box::new(SandboxFilter {
            sandbox,
            timer_on_shutdown: cfg.timer_event_on_shutdown,
            script: cfg.script_path(globals),
            state_file,
        }))
    }

    /// The sandbox (tests and reports).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Filter for SandboxFilter {
    fn process(&mut self, pack: &Pack, cx: &mut FilterCx) -> Result<(), PluginError> {
        let mut sink = FilterSink { cx };
        let call = Call {
            message: Some(&pack.message),
            sink: Some(&mut sink),
            ..Call::default()
        };
        let (code, text) = self.sandbox.process_message(call).map_err(fatal)?;
        status(code, text)
    }

    fn timer_event(&mut self, now_ns: i64, cx: &mut FilterCx) -> Result<(), PluginError> {
        let mut sink = FilterSink { cx };
        let call = Call {
            sink: Some(&mut sink),
            ..Call::default()
        };
        self.sandbox.timer_event(now_ns, call).map_err(fatal)
    }

    fn has_timer(&self) -> bool {
        true
    }

    fn shutdown(&mut self, cx: &mut FilterCx) {
        if self.timer_on_shutdown {
            if let Err(err) = self.timer_event(now_ns(), cx) {
                tracing::error!(%err, "timer_event at shutdown failed");
            }
        }
        if let Err(err) = self.checkpoint() {
            tracing::error!(plugin = %cx.name(), %err, "preserve_data not saved");
        }
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        vec![self.script.clone()]
    }

    fn checkpoint(&mut self) -> Result<(), PluginError> {
        save(&self.sandbox, self.state_file.as_ref())
    }

    fn report_fields(&self) -> Vec<Metric> {
        report_fields(self.sandbox.usage())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{pack, spec};
    use super::*;
    use crate::sandbox::api::{PAYLOAD_NAME, PAYLOAD_TYPE};
    use heka_proto::FieldValue;

    const FILTER: &str = r#"
        function process_message()
            local t = read_message("Type")
            if t == "fail" then return -1, "no good" end
            if t == "fatal" then return 1 end
            inject_message{Type = t, Logger = "ignored", Hostname = "ignored", Payload = read_config("greeting")}
            return 0
        end
        function timer_event(ns)
            add_to_payload(ns > 0)
            inject_payload("json", "tick")
        end"#;

    #[test]
    fn filter_injects_with_heka_s_rules() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, globals) = spec("SandboxFilter", dir.path(), FILTER);
        let mut filter = SandboxFilter::build(&spec, &globals).unwrap();
        assert!(filter.has_timer());
        let mut cx = FilterCx::new("Sbx", "heka-host", 1, 4);
        cx.begin(1, 0);
        filter.process(&pack("x"), &mut cx).unwrap();
        cx.begin(10, 0);
        filter.timer_event(now_ns(), &mut cx).unwrap();
        let out: Vec<_> = cx.take_injected().into_iter().map(|(v, _)| v).collect();
        assert_eq!(out[0].r#type(), b"heka.sandbox.x");
        assert_eq!(out[0].logger(), b"Sbx");
        assert_eq!(out[0].hostname(), b"heka-host");
        assert_eq!(out[0].payload(), b"hi");
        assert_eq!(out[1].r#type(), SANDBOX_OUTPUT.as_bytes());
        assert_eq!(out[1].payload(), b"true");
        assert_eq!(
            out[1].field_value(PAYLOAD_TYPE.as_bytes(), 0, 0),
            Some(FieldValue::String(b"json"))
        );
        assert_eq!(
            out[1].field_value(PAYLOAD_NAME.as_bytes(), 0, 0),
            Some(FieldValue::String(b"tick"))
        );

        // Return codes: < 0 fails the message, > 0 is fatal.
        cx.begin(1, 0);
        assert_eq!(
            filter.process(&pack("fail"), &mut cx),
            Err(PluginError::message("no good"))
        );
        assert!(matches!(
            filter.process(&pack("fatal"), &mut cx),
            Err(PluginError::Fatal(_))
        ));
        // An exceeded inject limit terminates the sandbox.
        cx.begin(0, 0);
        let err = filter.process(&pack("x"), &mut cx).unwrap_err();
        assert!(
            matches!(&err, PluginError::Fatal(t) if t.contains("limit")),
            "{err:?}"
        );
    }

    #[test]
    fn build_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spec, globals) = spec("SandboxFilter", dir.path(), "x = ");
        let err = SandboxFilter::build(&spec, &globals).err().unwrap();
        assert!(err.message.contains("s.lua"), "{}", err.message);
        spec.options.insert("filename".into(), "missing.lua".into());
        assert!(SandboxFilter::build(&spec, &globals).is_err());
        spec.options.insert("bogus".into(), 1.into());
        let err = SandboxFilter::build(&spec, &globals).err().unwrap();
        assert!(err.message.contains("bogus"), "{}", err.message);
    }
}
