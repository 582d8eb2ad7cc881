//! SandboxEncoder: a Lua encoder run inline by the output runner, once per
//! pack. The last injection is the output; with nothing injected the
//! message's protobuf is (a copy with `write_message`'s changes if the
//! script wrote); status -2 skips the message.

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::Pack;
use heka_actors::plugin::{BuildError, Encoder, PluginError};
use heka_actors::report::Metric;
use heka_proto::prost::Message as _;

use super::{ENCODER_SKIP, fatal, load, report_fields, status};
use crate::sandbox::{Call, Edit, Injection, Sandbox, Sink, Template};

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
        let (_, sandbox) = load(spec, globals, Template::Analysis, |l| l)?;
        Ok(Box::new(SandboxEncoder { sandbox }))
    }
}

impl Encoder for SandboxEncoder {
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError> {
        let mut sink = EncoderSink::default();
        let mut edit = Edit::default();
        let call = Call {
            message: Some(&pack.message),
            sink: Some(&mut sink),
            edit: Some(&mut edit),
        };
        let (code, text) = self.sandbox.process_message(call).map_err(fatal)?;
        if code == ENCODER_SKIP {
            return Ok(());
        }
        status(code, text)?;
        match (sink.last, edit.take()) {
            (Some(bytes), _) => out.extend_from_slice(&bytes),
            // write_message changed a copy: the pack stays as other outputs see it.
            (None, Some(msg)) => msg.encode(out).map_err(fatal)?,
            (None, None) => out.extend_from_slice(pack.message.raw()),
        }
        Ok(())
    }

    fn report_fields(&self) -> Vec<Metric> {
        report_fields(self.sandbox.usage())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{pack, spec};
    use super::*;

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

    #[test]
    fn write_message_changes_a_copy_that_becomes_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let src = r#"
            function process_message()
                write_message("Payload", "rewritten")
                write_message("Fields[seen]", true)
                return 0
            end"#;
        let (spec, globals) = spec("SandboxEncoder", dir.path(), src);
        let mut encoder = SandboxEncoder::build(&spec, &globals).unwrap();
        let pack = pack("x");
        let mut out = Vec::new();
        encoder.encode(&pack, &mut out).unwrap();
        let view = heka_proto::MessageView::decode(out.into()).unwrap();
        assert_eq!(view.payload(), b"rewritten");
        assert_eq!(view.r#type(), b"x");
        assert_eq!(
            view.field_value(b"seen", 0, 0),
            Some(heka_proto::FieldValue::Bool(true))
        );
        // The pack other outputs see is unchanged.
        assert_eq!(pack.message.payload(), b"");
    }
}
