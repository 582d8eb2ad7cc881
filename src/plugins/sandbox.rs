//! SandboxFilter, SandboxDecoder and SandboxEncoder: Heka's Lua-scripted
//! plugins (HEKA-SPEC §4, §5). Each owns one [`Sandbox`] built from the
//! common sandbox keys and calls the script's `process_message` (and, for
//! filters, `timer_event`); what the script injects goes through a [`Sink`]
//! that applies the plugin type's rules:
//!
//! - Filter: injections go through `FilterCx::inject` (inject limits, loop
//!   and self-match guards; a refusal terminates the sandbox). Message
//!   types are prefixed `heka.sandbox.`, Logger and Hostname are forced;
//!   payloads become `heka.sandbox-output` with `payload_type` and
//!   `payload_name` fields.
//! - Decoder: injected messages are the decoded output; headers they lack
//!   come from the original; nothing injected passes the original through.
//! - Encoder: the last injection is the output; nothing injected outputs
//!   the message's protobuf; status -2 skips the message.
//!
//! Return codes follow Heka: 0 ok, < 0 a failed message
//! (`PluginError::Message`), > 0 and every sandbox error (limits, Lua
//! errors) `PluginError::Fatal`. Heka's sandboxes default `can_exit` to
//! true; the runtime reads `spec.common.can_exit` (see the report on this
//! branch for what it must change).

use std::path::PathBuf;

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::{Pack, now_ns};
use heka_actors::plugin::{BuildError, Decoder, Encoder, Filter, FilterCx, Incoming, PluginError};
use heka_proto::prost::Message as _;
use heka_proto::{Field, MessageView};

use crate::sandbox::api::{PAYLOAD_NAME, PAYLOAD_TYPE, SANDBOX_OUTPUT};
use crate::sandbox::{Call, Injection, Sandbox, SandboxConfig, SandboxSpec, Sink, Template};

/// Prefix of the `Type` of messages a SandboxFilter injects.
pub const TYPE_PREFIX: &str = "heka.sandbox.";
/// Status a SandboxEncoder returns to skip a message silently.
pub const ENCODER_SKIP: i64 = -2;

fn load(spec: &PluginSpec, globals: &Globals) -> Result<(SandboxConfig, Sandbox), BuildError> {
    let cfg: SandboxConfig = super::options(spec)?;
    cfg.validate().map_err(|e| BuildError::invalid(spec, e))?;
    let path = cfg.script_path(globals);
    let source = std::fs::read(&path)
        .map_err(|e| BuildError::invalid(spec, format!("{}: {e}", path.display())))?;
    let chunk_name = path.file_name().map_or_else(
        || cfg.filename.clone(),
        |n| n.to_string_lossy().into_owned(),
    );
    let sandbox = Sandbox::new(SandboxSpec {
        chunk_name,
        source,
        template: Template::Analysis,
        limits: cfg.limits(),
        module_dirs: cfg.module_dirs(globals),
        config: cfg.script_config(),
    })
    .map_err(|e| BuildError::invalid(spec, e))?;
    Ok((cfg, sandbox))
}

/// Heka's preservation file: `<base_dir>/sandbox_preservation/<name>.data`,
/// non-word characters of the name replaced by `_`.
pub fn state_file(globals: &Globals, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    globals
        .base_dir
        .join("sandbox_preservation")
        .join(format!("{safe}.data"))
}

fn fatal(e: impl std::fmt::Display) -> PluginError {
    PluginError::fatal(e.to_string())
}

/// Heka's `process_message` status: 0 done, below 0 this message failed
/// (logged, counted), above 0 the sandbox is finished (fatal).
fn status(status: i64, text: Option<String>) -> Result<(), PluginError> {
    match status {
        0 => Ok(()),
        s if s < 0 => Err(failed(text)),
        s => {
            Err(PluginError::fatal(text.unwrap_or_else(|| {
                format!("process_message() returned {s}")
            })))
        }
    }
}

fn failed(text: Option<String>) -> PluginError {
    PluginError::message(text.unwrap_or_else(|| "process_message() failed".to_owned()))
}

fn payload_fields(payload_type: String, payload_name: String) -> [Field; 2] {
    [
        Field::string(PAYLOAD_TYPE, payload_type).with_representation("file-extension"),
        Field::string(PAYLOAD_NAME, payload_name),
    ]
}

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
        let (cfg, sandbox) = load(spec, globals)?;
        let state_file = cfg.preserve_data.then(|| state_file(globals, &spec.name));
        if let Some(path) = &state_file {
            // A bad state file is reported and the script starts fresh.
            match sandbox.restore_state(path) {
                Ok(outcome) => {
                    tracing::debug!(plugin = %spec.name, ?outcome, "preserve_data restored.")
                }
                Err(err) => {
                    tracing::error!(plugin = %spec.name, error = %err, "preserve_data not restored; starting fresh.")
                }
            }
        }
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
        };
        let (code, text) = self.sandbox.process_message(call).map_err(fatal)?;
        status(code, text)
    }

    fn timer_event(&mut self, now_ns: i64, cx: &mut FilterCx) -> Result<(), PluginError> {
        let mut sink = FilterSink { cx };
        let call = Call {
            message: None,
            sink: Some(&mut sink),
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
        match &self.state_file {
            Some(path) => self.sandbox.save_state(path).map(drop).map_err(fatal),
            None => Ok(()),
        }
    }
}

/// A Lua-scripted decoder.
#[derive(Debug)]
pub struct SandboxDecoder {
    sandbox: Sandbox,
}

struct DecoderSink<'a> {
    original: &'a MessageView,
    out: Vec<MessageView>,
}

impl Sink for DecoderSink<'_> {
    fn inject(&mut self, what: Injection) -> Result<(), String> {
        let orig = self.original.to_message();
        let msg = match what {
            Injection::Message {
                mut msg,
                timestamp_set,
            } => {
                if !timestamp_set {
                    msg.timestamp = orig.timestamp;
                }
                msg.r#type = msg.r#type.or(orig.r#type);
                msg.logger = msg.logger.or(orig.logger);
                msg.payload = msg.payload.or(orig.payload);
                msg.env_version = msg.env_version.or(orig.env_version);
                msg.hostname = msg.hostname.or(orig.hostname);
                msg.severity = msg.severity.or(orig.severity);
                msg.pid = msg.pid.or(orig.pid);
                msg
            }
            Injection::Payload {
                payload,
                payload_type,
                payload_name,
            } => {
                let mut msg = orig;
                msg.payload = Some(payload);
                msg.fields
                    .extend(payload_fields(payload_type, payload_name));
                msg
            }
        };
        let view = MessageView::from_message(&msg).map_err(|e| e.to_string())?;
        self.out.push(view);
        Ok(())
    }
}

impl SandboxDecoder {
    /// Builds a SandboxDecoder from its spec.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Decoder>, BuildError> {
        let (_, sandbox) = load(spec, globals)?;
        Ok(Box::new(SandboxDecoder { sandbox }))
    }
}

impl Decoder for SandboxDecoder {
    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError> {
        let original = match input {
            Incoming::Message(view) => *view,
            Incoming::Bytes(bytes) => MessageView::decode(bytes)
                .map_err(|e| PluginError::message(format!("invalid message bytes: {e}")))?,
        };
        let mut sink = DecoderSink {
            original: &original,
            out: Vec::new(),
        };
        let call = Call {
            message: Some(&original),
            sink: Some(&mut sink),
        };
        let (code, text) = self.sandbox.process_message(call).map_err(fatal)?;
        status(code, text)?;
        if sink.out.is_empty() {
            out.push(original);
        } else {
            out.extend(sink.out);
        }
        Ok(())
    }
}

/// A Lua-scripted encoder.
#[derive(Debug)]
pub struct SandboxEncoder {
    sandbox: Sandbox,
}

#[derive(Default)]
struct EncoderSink {
    last: Option<Vec<u8>>,
}

impl Sink for EncoderSink {
    fn inject(&mut self, what: Injection) -> Result<(), String> {
        self.last = Some(match what {
            Injection::Message { msg, .. } => msg.encode_to_vec(),
            Injection::Payload { payload, .. } => payload.to_vec(),
        });
        Ok(())
    }
}

impl SandboxEncoder {
    /// Builds a SandboxEncoder from its spec.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Encoder>, BuildError> {
        let (_, sandbox) = load(spec, globals)?;
        Ok(Box::new(SandboxEncoder { sandbox }))
    }
}

impl Encoder for SandboxEncoder {
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError> {
        let mut sink = EncoderSink::default();
        let call = Call {
            message: Some(&pack.message),
            sink: Some(&mut sink),
        };
        let (code, text) = self.sandbox.process_message(call).map_err(fatal)?;
        if code == ENCODER_SKIP {
            return Ok(());
        }
        status(code, text)?;
        match sink.last {
            Some(bytes) => out.extend_from_slice(&bytes),
            None => out.extend_from_slice(pack.message.raw()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heka_proto::{FieldValue, Message};

    fn spec(type_name: &str, dir: &std::path::Path, src: &str) -> (PluginSpec, Globals) {
        std::fs::write(dir.join("s.lua"), src).unwrap();
        let mut spec = PluginSpec::new("Sbx", type_name).unwrap();
        spec.options.insert("filename".into(), "s.lua".into());
        let mut cfg = toml::Table::new();
        cfg.insert("greeting".into(), "hi".into());
        spec.options.insert("config".into(), cfg.into());
        let globals = Globals {
            share_dir: dir.to_path_buf(),
            ..Globals::default()
        };
        (spec, globals)
    }

    fn pack(t: &str) -> Pack {
        let mut m = Message::new([1; 16], 5);
        m.r#type = Some(Bytes::copy_from_slice(t.as_bytes()));
        m.hostname = Some(Bytes::from_static(b"orig-host"));
        Pack::detached(MessageView::from_message(&m).unwrap())
    }

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

    #[test]
    fn decoder_passes_through_or_emits_injections() {
        let dir = tempfile::tempdir().unwrap();
        let src = r#"
            function process_message()
                local p = read_message("Payload")
                if p == "split" then
                    inject_message{Payload = "a"}
                    inject_message{Payload = "b", Type = "t"}
                elseif p == "bad" then
                    return -1
                end
                return 0
            end"#;
        let (spec, globals) = spec("SandboxDecoder", dir.path(), src);
        let mut decoder = SandboxDecoder::build(&spec, &globals).unwrap();
        let input = |p: &str| {
            let mut m = Message::new([2; 16], 9);
            m.payload = Some(Bytes::copy_from_slice(p.as_bytes()));
            m.r#type = Some(Bytes::from_static(b"orig"));
            Incoming::Message(Box::new(MessageView::from_message(&m).unwrap()))
        };
        let mut out = Vec::new();
        decoder.decode(input("keep"), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload(), b"keep");
        out.clear();
        decoder.decode(input("split"), &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].payload(), out[0].r#type()),
            (&b"a"[..], &b"orig"[..])
        );
        assert_eq!(
            out[0].timestamp(),
            9,
            "missing headers come from the original"
        );
        assert_eq!(out[1].r#type(), b"t");
        assert_ne!(out[0].uuid(), &[2; 16][..]);
        out.clear();
        assert!(decoder.decode(input("bad"), &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn encoder_outputs_last_injection_protobuf_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let src = r#"
            function process_message()
                local t = read_message("Type")
                if t == "skip" then return -2 end
                if t == "raw" then return 0 end
                add_to_payload("first") inject_payload()
                inject_payload("txt", "", "line: ", t)
                return 0
            end"#;
        let (spec, globals) = spec("SandboxEncoder", dir.path(), src);
        let mut encoder = SandboxEncoder::build(&spec, &globals).unwrap();
        let mut out = Vec::new();
        encoder.encode(&pack("x"), &mut out).unwrap();
        assert_eq!(out, b"line: x");
        out.clear();
        encoder.encode(&pack("skip"), &mut out).unwrap();
        assert!(out.is_empty());
        let raw = pack("raw");
        encoder.encode(&raw, &mut out).unwrap();
        assert_eq!(&out[..], &raw.message.raw()[..]);
    }
}
