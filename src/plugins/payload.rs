//! PayloadEncoder: the encoder of outputs that write text (FileOutput,
//! LogOutput, TcpOutput to a non-Heka peer). It runs in the output runner
//! on each matched pack and writes the message payload, optionally with a
//! timestamp in front and a newline after.

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::{Pack, now_ns};
use heka_actors::plugin::{BuildError, Encoder, PluginError};
use serde::Deserialize;

use super::options;
use crate::strftime;

/// Heka's default `ts_format`.
pub const DEFAULT_TS_FORMAT: &str = "[%Y/%b/%d:%H:%M:%S %z]";

/// `[name] type = "PayloadEncoder"` options, with Heka's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayloadEncoderConfig {
    /// Append `\n` to every payload.
    pub append_newlines: bool,
    /// Put a timestamp in front of every payload.
    pub prefix_ts: bool,
    /// Take that timestamp from the message (true) or the clock (false).
    pub ts_from_message: bool,
    /// strftime pattern of the timestamp (rendered in UTC).
    pub ts_format: String,
}

impl Default for PayloadEncoderConfig {
    fn default() -> Self {
        PayloadEncoderConfig {
            append_newlines: true,
            prefix_ts: false,
            ts_from_message: true,
            ts_format: DEFAULT_TS_FORMAT.to_owned(),
        }
    }
}

/// Heka's PayloadEncoder; see the module docs. As in Heka, a space
/// separates the timestamp from the payload unless `ts_format` already ends
/// with one.
#[derive(Debug, Clone)]
pub struct PayloadEncoder {
    config: PayloadEncoderConfig,
    /// Reused for the formatted timestamp.
    ts: String,
}

impl PayloadEncoder {
    /// An encoder with `config`.
    pub fn new(config: PayloadEncoderConfig) -> Self {
        PayloadEncoder {
            config,
            ts: String::new(),
        }
    }

    /// Builds the encoder `spec` describes.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Encoder>, BuildError> {
        Ok(Box::new(PayloadEncoder::new(options(spec)?)))
    }
}

impl Encoder for PayloadEncoder {
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError> {
        let config = &self.config;
        if config.prefix_ts {
            let ns = if config.ts_from_message {
                pack.message.timestamp()
            } else {
                now_ns()
            };
            self.ts.clear();
            strftime::format_into(&mut self.ts, &config.ts_format, &strftime::Tm::utc(ns));
            out.extend_from_slice(self.ts.as_bytes());
            if !config.ts_format.ends_with(' ') {
                out.push(b' ');
            }
        }
        out.extend_from_slice(pack.message.payload());
        if config.append_newlines {
            out.push(b'\n');
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use heka_proto::{Message, MessageView};

    // 2013-07-01 17:44:37.5 UTC.
    const T: i64 = 1_372_700_677_500_000_000;

    fn pack(payload: &'static [u8]) -> Pack {
        let mut msg = Message::new([1; 16], T);
        msg.payload = Some(Bytes::from_static(payload));
        Pack::detached(MessageView::from_message(&msg).unwrap())
    }

    fn encode(options: &str, payload: &'static [u8]) -> Vec<u8> {
        let mut spec = PluginSpec::new("enc", "PayloadEncoder").unwrap();
        spec.options = options.parse().unwrap();
        let mut e = PayloadEncoder::build(&spec, &Globals::default()).unwrap();
        assert!(!e.is_protobuf());
        let mut out = Vec::new();
        e.encode(&pack(payload), &mut out).unwrap();
        out
    }

    #[test]
    fn defaults_append_a_newline() {
        assert_eq!(encode("", b"hello"), b"hello\n");
        assert_eq!(encode("", b""), b"\n");
        assert_eq!(encode("append_newlines = false", b"hello"), b"hello");
    }

    #[test]
    fn timestamps_come_from_the_message_by_default() {
        assert_eq!(
            encode("prefix_ts = true", b"hello"),
            b"[2013/Jul/01:17:44:37 +0000] hello\n"
        );
        assert_eq!(
            encode(
                "prefix_ts = true\nappend_newlines = false\nts_format = '%Y-%m-%d %l:%M%p %Z '",
                b"x"
            ),
            b"2013-07-01  5:44PM UTC x",
            "no second space after a format ending in one"
        );
    }

    #[test]
    fn clock_timestamps_are_now() {
        let out = encode(
            "prefix_ts = true\nts_from_message = false\nts_format = '%s'",
            b"p",
        );
        let text = String::from_utf8(out).unwrap();
        let (secs, rest) = text.split_once(' ').unwrap();
        let secs: i64 = secs.parse().unwrap();
        let now = now_ns() / 1_000_000_000;
        assert!((now - 5..=now).contains(&secs), "{secs} vs {now}");
        assert_eq!(rest, "p\n");
    }

    #[test]
    fn encodings_append_to_the_buffer() {
        let mut e = PayloadEncoder::new(PayloadEncoderConfig::default());
        let mut out = Vec::new();
        e.encode(&pack(b"a"), &mut out).unwrap();
        e.encode(&pack(b"b"), &mut out).unwrap();
        assert_eq!(out, b"a\nb\n");
    }

    #[test]
    fn unknown_and_mistyped_options_are_rejected() {
        for bad in ["prefix_tz = true", "append_newlines = 'yes'"] {
            let mut spec = PluginSpec::new("enc", "PayloadEncoder").unwrap();
            spec.options = bad.parse().unwrap();
            let err = PayloadEncoder::build(&spec, &Globals::default())
                .err()
                .unwrap();
            assert!(err.message.contains("section `enc`"), "{err}");
        }
    }
}
