//! SandboxDecoder: a Lua decoder run inline by the input's stream, once per
//! record. Injected messages are the decoded output (headers they lack come
//! from the original); with nothing injected the original passes through,
//! with what `write_message` changed in it.

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, Decoder, Incoming, PluginError};
use heka_actors::report::Metric;
use heka_proto::MessageView;

use super::{fatal, load, payload_fields, report_fields, status};
use crate::sandbox::{Call, Edit, Injection, Sandbox, Sink, Template};

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
        let (_, sandbox) = load(spec, globals, Template::Analysis, |l| l)?;
        Ok(Box::new(SandboxDecoder { sandbox }))
    }
}

impl Decoder for SandboxDecoder {
    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError> {
        let original = input.into_message()?;
        let mut sink = DecoderSink {
            original: &original,
            out: Vec::new(),
        };
        let mut edit = Edit::default();
        let call = Call {
            message: Some(&original),
            sink: Some(&mut sink),
            edit: Some(&mut edit),
        };
        let (code, text) = self.sandbox.process_message(call).map_err(fatal)?;
        status(code, text)?;
        if !sink.out.is_empty() {
            out.extend(sink.out);
            return Ok(());
        }
        match edit.take() {
            // What write_message changed passes through in place of the original.
            Some(msg) => out.push(
                MessageView::from_message(&msg).map_err(|e| PluginError::message(e.to_string()))?,
            ),
            None => out.push(original),
        }
        Ok(())
    }

    fn report_fields(&self) -> Vec<Metric> {
        report_fields(self.sandbox.usage())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::spec;
    use super::*;
    use bytes::Bytes;
    use heka_proto::Message;

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
    fn write_message_edits_the_message_that_passes_through() {
        let dir = tempfile::tempdir().unwrap();
        let src = r#"
            function process_message()
                write_message("Fields[status]", read_message("Payload"))
                write_message("Type", "decoded")
                return 0
            end"#;
        let (spec, globals) = spec("SandboxDecoder", dir.path(), src);
        let mut decoder = SandboxDecoder::build(&spec, &globals).unwrap();
        let mut m = Message::new([2; 16], 9);
        m.payload = Some(Bytes::from_static(b"200"));
        let input = Incoming::Message(Box::new(MessageView::from_message(&m).unwrap()));
        let mut out = Vec::new();
        decoder.decode(input, &mut out).unwrap();
        assert_eq!(out[0].r#type(), b"decoded");
        assert_eq!(
            out[0].field_value(b"status", 0, 0),
            Some(heka_proto::FieldValue::String(b"200"))
        );
        assert_eq!(
            (out[0].uuid(), out[0].payload()),
            (&[2; 16][..], &b"200"[..])
        );
    }
}
