//! The protobuf decoder and encoder: the two ends of Heka-to-Heka transport.
//! ProtobufDecoder sits after a splitter in an input stream and turns the
//! record's bytes into the routed message; ProtobufEncoder sits in an output
//! and hands the message's own protobuf bytes to it (framed by the output
//! when `use_framing` is on).

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::Pack;
use heka_actors::plugin::{BuildError, Decoder, Encoder, Incoming, PluginError};
use heka_proto::MessageView;
use serde::Deserialize;

use super::options;

/// `[name] type = "ProtobufDecoder"` options: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtobufDecoderConfig {}

/// Heka's ProtobufDecoder: the record is a protobuf `Message`. The view is
/// built over the record's own bytes, which are then forwarded untouched
/// (Heka marks them trusted), so decoding copies nothing.
#[derive(Debug, Clone, Default)]
pub struct ProtobufDecoder;

impl ProtobufDecoder {
    /// Builds the decoder `spec` describes.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Decoder>, BuildError> {
        let ProtobufDecoderConfig {} = options(spec)?;
        Ok(Box::new(ProtobufDecoder))
    }
}

impl Decoder for ProtobufDecoder {
    fn parallel(&self) -> bool {
        true
    }

    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError> {
        let raw = match input {
            Incoming::Bytes(raw) => raw,
            // Heka decodes the pack's MsgBytes; for a record that a text
            // splitter delivered, those are the record, i.e. the payload.
            Incoming::Message(view) => payload_bytes(&view),
            Incoming::Text(text) => text.payload().clone(),
        };
        let view = MessageView::decode(raw)
            .map_err(|err| PluginError::message(format!("protobuf decode failed: {err}")))?;
        out.push(view);
        Ok(())
    }
}

/// The payload of `view` as a slice of its bytes (no copy).
fn payload_bytes(view: &MessageView) -> Bytes {
    let payload = view.payload();
    if payload.is_empty() {
        Bytes::new()
    } else {
        view.raw().slice_ref(payload)
    }
}

/// `[name] type = "ProtobufEncoder"` options: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtobufEncoderConfig {}

/// Heka's ProtobufEncoder: the output gets the message's protobuf bytes as
/// they travelled through the pipeline. Those bytes are what the decoder or
/// the injecting filter produced and the view was validated over, so they
/// are copied out unchanged rather than re-encoded (Heka's trusted bytes).
#[derive(Debug, Clone, Default)]
pub struct ProtobufEncoder;

impl ProtobufEncoder {
    /// Builds the encoder `spec` describes.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Encoder>, BuildError> {
        let ProtobufEncoderConfig {} = options(spec)?;
        Ok(Box::new(ProtobufEncoder))
    }
}

impl Encoder for ProtobufEncoder {
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError> {
        out.extend_from_slice(pack.message.raw());
        Ok(())
    }

    fn is_protobuf(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heka_proto::prost::Message as _;
    use heka_proto::{Field, Message};

    fn sample() -> Message {
        let mut msg = Message::new([7; 16], 1_400_000_000_000_000_000);
        msg.r#type = Some(Bytes::from_static(b"TEST"));
        msg.severity = Some(6);
        msg.fields = vec![Field::string("s", "v"), Field::integers("n", [1, 2])];
        msg
    }

    fn spec(type_name: &str, options: &str) -> PluginSpec {
        let mut spec = PluginSpec::new("p", type_name).unwrap();
        spec.options = options.parse().unwrap();
        spec
    }

    #[test]
    fn message_bytes_round_trip_without_copying() {
        let raw = Bytes::from(sample().encode_to_vec());
        let mut d =
            ProtobufDecoder::build(&spec("ProtobufDecoder", ""), &Globals::default()).unwrap();
        let mut out = Vec::new();
        d.decode(Incoming::Bytes(raw.clone()), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_message(), sample());
        assert_eq!(out[0].raw().as_ptr(), raw.as_ptr(), "the record is shared");
    }

    #[test]
    fn a_text_record_decodes_its_payload() {
        let inner = sample().encode_to_vec();
        let mut outer = Message::new([1; 16], 5);
        outer.payload = Some(inner.into());
        let view = MessageView::from_message(&outer).unwrap();
        let mut out = Vec::new();
        ProtobufDecoder
            .decode(Incoming::Message(Box::new(view)), &mut out)
            .unwrap();
        assert_eq!(out[0].to_message(), sample());
    }

    #[test]
    fn bad_bytes_are_a_message_error() {
        let mut out = Vec::new();
        // Field 1 announces 16 bytes but only 2 follow.
        let err = ProtobufDecoder
            .decode(Incoming::Bytes(Bytes::from_static(b"\x0a\x10ab")), &mut out)
            .unwrap_err();
        let PluginError::Message(text) = &err else {
            panic!("{err:?}");
        };
        assert!(text.starts_with("protobuf decode failed: "), "{text}");
        assert!(out.is_empty());
        let mut text_record = Message::new([1; 16], 5);
        text_record.payload = Some(Bytes::from_static(b"not protobuf"));
        let view = MessageView::from_message(&text_record).unwrap();
        assert!(matches!(
            ProtobufDecoder.decode(Incoming::Message(Box::new(view)), &mut out),
            Err(PluginError::Message(_))
        ));
    }

    #[test]
    fn the_encoder_forwards_the_bytes_it_was_given() {
        // Unpacked integers and a 10-byte negative severity: prost would
        // write these differently, so equality shows nothing was re-encoded.
        let mut raw = Message::new([2; 16], 9).encode_to_vec();
        raw.extend_from_slice(&[
            0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        raw.extend_from_slice(&[0x52, 0x07, 0x0a, 0x01, b'n', 0x10, 0x02, 0x30, 0x05]);
        let view = MessageView::decode(Bytes::from(raw.clone())).unwrap();
        assert_eq!(view.severity(), -1);
        let pack = Pack::detached(view);
        let mut e =
            ProtobufEncoder::build(&spec("ProtobufEncoder", ""), &Globals::default()).unwrap();
        assert!(e.is_protobuf());
        let mut out = b"prefix".to_vec();
        e.encode(&pack, &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix", "the encoder appends");
        assert_eq!(&out[6..], &raw[..]);

        let pack = Pack::detached(MessageView::from_message(&sample()).unwrap());
        out.clear();
        e.encode(&pack, &mut out).unwrap();
        assert_eq!(out, sample().encode_to_vec());
    }

    #[test]
    fn unknown_options_are_rejected() {
        assert!(
            ProtobufDecoder::build(&spec("ProtobufDecoder", "x = 1"), &Globals::default()).is_err()
        );
        assert!(
            ProtobufEncoder::build(&spec("ProtobufEncoder", "x = 1"), &Globals::default()).is_err()
        );
    }
}
