//! Splitters: the first step of every input stream. The input runner reads
//! bytes into its buffer and asks the stream's splitter for records; each
//! record then becomes a message (payload = record, or the record decoded as
//! protobuf when `use_message_bytes` is on) and goes to the decoder. The
//! runner also enforces the record size limit, `keep_truncated` and
//! `deliver_incomplete_final`, so these types only find record boundaries,
//! and never one that ends past the record size limit: one read may take the
//! buffer past the limit, and a record found beyond it would be longer than
//! Heka (whose read buffer was the limit) could ever deliver. Left to the
//! runner, the over-long start is cut off and counted instead.

/// The record size limit for `globals`' `max_message_size`.
pub(crate) fn record_limit(globals: &Globals) -> usize {
    max_record_size(globals.max_message_size as usize)
}

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::BytesMut;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, SplitEvent, Splitter};
use heka_proto::deframer::{Authentication, Deframer, Event};
use heka_proto::framing::{DEFAULT_MAX_MESSAGE_SIZE, max_record_size};
use heka_proto::signing::Signers;
use serde::Deserialize;

use super::options;

/// `[name] type = "TokenSplitter"` options.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSplitterConfig {
    /// The single byte records end with (default `"\n"`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Cut a record after every `count`-th delimiter (default 1).
    #[serde(default = "default_count")]
    pub count: usize,
}

fn default_delimiter() -> String {
    "\n".to_owned()
}

fn default_count() -> usize {
    1
}

/// Heka's TokenSplitter: a record ends right after every `count`-th
/// occurrence of a one-byte delimiter, which stays at the end of the record
/// (so LogstreamerInput payloads keep their `\n`).
#[derive(Debug, Clone)]
pub struct TokenSplitter {
    delimiter: u8,
    count: usize,
    message_bytes: bool,
    max_record: usize,
}

impl TokenSplitter {
    /// A splitter on `delimiter`, cutting after every `count`-th one (at
    /// least 1).
    pub fn new(delimiter: u8, count: usize) -> Self {
        TokenSplitter {
            delimiter,
            count: count.max(1),
            message_bytes: false,
            max_record: max_record_size(DEFAULT_MAX_MESSAGE_SIZE),
        }
    }

    /// Builds the splitter `spec` describes.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Splitter>, BuildError> {
        let config: TokenSplitterConfig = options(spec)?;
        let &[delimiter] = config.delimiter.as_bytes() else {
            return Err(BuildError::invalid(
                spec,
                format!(
                    "delimiter must be exactly one byte, got {:?} ({} bytes)",
                    config.delimiter,
                    config.delimiter.len()
                ),
            ));
        };
        if config.count == 0 {
            return Err(BuildError::invalid(spec, "count must be at least 1"));
        }
        let mut splitter = TokenSplitter::new(delimiter, config.count);
        splitter.message_bytes = spec.common.use_message_bytes.unwrap_or(false);
        splitter.max_record = record_limit(globals);
        Ok(Box::new(splitter))
    }
}

impl Splitter for TokenSplitter {
    fn split(&mut self, buf: &mut BytesMut, _eof: bool) -> Option<SplitEvent> {
        // The buffer is rescanned from its start on every call: the runner
        // may cut its front (over-long records), so remembering how far a
        // previous call got would not be safe. memchr keeps this cheap, and
        // only a record spanning several reads is scanned more than once.
        // A record must end within the size limit (see the module docs).
        let window = &buf[..buf.len().min(self.max_record)];
        let mut end = 0;
        for _ in 0..self.count {
            end += memchr::memchr(self.delimiter, &window[end..])? + 1;
        }
        Some(SplitEvent::Record {
            data: buf.split_to(end).freeze(),
            signer: None,
        })
    }

    fn message_bytes(&self) -> bool {
        self.message_bytes
    }
}

/// `[name] type = "NullSplitter"` options: none of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NullSplitterConfig {}

/// Heka's NullSplitter: whatever one read delivered (a UDP datagram, a
/// chunk of a stream) is one record, up to the record size limit.
#[derive(Debug, Clone)]
pub struct NullSplitter {
    message_bytes: bool,
    max_record: usize,
}

impl Default for NullSplitter {
    fn default() -> Self {
        NullSplitter {
            message_bytes: false,
            max_record: max_record_size(DEFAULT_MAX_MESSAGE_SIZE),
        }
    }
}

impl NullSplitter {
    /// Builds the splitter `spec` describes.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Splitter>, BuildError> {
        let NullSplitterConfig {} = options(spec)?;
        Ok(Box::new(NullSplitter {
            message_bytes: spec.common.use_message_bytes.unwrap_or(false),
            max_record: record_limit(globals),
        }))
    }
}

impl Splitter for NullSplitter {
    fn split(&mut self, buf: &mut BytesMut, _eof: bool) -> Option<SplitEvent> {
        let len = buf.len().min(self.max_record);
        (len > 0).then(|| SplitEvent::Record {
            data: buf.split_to(len).freeze(),
            signer: None,
        })
    }

    fn message_bytes(&self) -> bool {
        self.message_bytes
    }
}

/// One `[name.signer.<signer>_<version>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// The shared HMAC secret.
    pub hmac_key: String,
}

/// `[name] type = "HekaFramingSplitter"` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HekaFramingSplitterConfig {
    /// Deliver signed records without checking their HMAC.
    #[serde(default)]
    pub skip_authentication: bool,
    /// Verification keys, by `<signer>_<key_version>`.
    #[serde(default)]
    pub signer: BTreeMap<String, SignerConfig>,
}

/// Heka's HekaFramingSplitter: cuts §1.3 framed records (`RS HLEN HEADER US
/// MESSAGE`) and delivers the MESSAGE bytes, resynchronising past corrupt
/// bytes and authenticating signed records.
///
/// Authentication follows Heka rather than the presence of signer tables:
/// unless `skip_authentication = true`, every signed record is checked, so
/// with no `[name.signer.*]` table at all unsigned records pass and every
/// signed one is dropped as coming from an unknown signer (HEKA-SPEC §9
/// item 2). Heka only looks for an HMAC in headers longer than 13 bytes;
/// no real signature fits in fewer, so checking every header for one is
/// the same rule. Where Heka dropped rejected records silently, they are
/// reported here as [`SplitEvent::Dropped`] (counted and logged), as are
/// the bytes skipped to find the next record.
#[derive(Debug, Clone)]
pub struct HekaFramingSplitter {
    deframer: Deframer,
    message_bytes: bool,
}

impl HekaFramingSplitter {
    /// A splitter for messages up to `max_message_size` bytes.
    pub fn new(max_message_size: usize, auth: Authentication) -> Self {
        HekaFramingSplitter {
            deframer: Deframer::new(max_message_size).with_authentication(auth),
            message_bytes: true,
        }
    }

    /// Builds the splitter `spec` describes; `max_message_size` comes from
    /// the `[hekad]` globals.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Splitter>, BuildError> {
        let config: HekaFramingSplitterConfig = options(spec)?;
        let mut signers = Signers::new();
        for (name, signer) in &config.signer {
            signers
                .insert_named(name, signer.hmac_key.as_bytes())
                .map_err(|err| BuildError::invalid(spec, format!("signer: {err}")))?;
        }
        let auth = if config.skip_authentication {
            Authentication::Skip
        } else {
            Authentication::Verify(Arc::new(signers))
        };
        let mut splitter = HekaFramingSplitter::new(globals.max_message_size as usize, auth);
        splitter.message_bytes = spec.common.use_message_bytes.unwrap_or(true);
        Ok(Box::new(splitter))
    }
}

impl Splitter for HekaFramingSplitter {
    fn split(&mut self, buf: &mut BytesMut, eof: bool) -> Option<SplitEvent> {
        // At the end of the stream a partial record is reported as dropped
        // and the bytes behind its separator are scanned again, so a whole
        // record hidden after a torn one is still found.
        let event = if eof {
            self.deframer.next_at_eof(buf)
        } else {
            self.deframer.next(buf)
        }?;
        Some(match event {
            Event::Record(record) => SplitEvent::Record {
                data: record.message,
                signer: record.signer,
            },
            Event::Corrupt {
                offset,
                len,
                reason,
            } => SplitEvent::Dropped {
                len,
                reason: format!("skipped {len} bytes at stream offset {offset}: {reason}"),
            },
            Event::Rejected { offset, len, error } => SplitEvent::Dropped {
                len,
                reason: format!("dropped the {len}-byte record at stream offset {offset}: {error}"),
            },
        })
    }

    fn message_bytes(&self) -> bool {
        self.message_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use heka_actors::config::PluginSpec;
    use heka_proto::framing::encode_frame;
    use heka_proto::signing::SigningKey;
    use heka_proto::{DEFAULT_MAX_MESSAGE_SIZE, HmacHashFunction};

    fn spec(name: &str, type_name: &str, options: &str) -> PluginSpec {
        let mut spec = PluginSpec::new(name, type_name).unwrap();
        spec.options = options.parse().unwrap();
        spec
    }

    fn build(f: heka_actors::plugin::BuildFn<dyn Splitter>, options: &str) -> Box<dyn Splitter> {
        f(&spec("split", "AnySplitter", options), &Globals::default()).unwrap()
    }

    /// Feeds `data` in chunks of `chunk` bytes, draining the splitter after
    /// each, then once more at end of stream. Returns the events and what
    /// was left in the buffer.
    fn run(splitter: &mut dyn Splitter, data: &[u8], chunk: usize) -> (Vec<SplitEvent>, Vec<u8>) {
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(e) = splitter.split(&mut buf, false) {
                events.push(e);
            }
        }
        while let Some(e) = splitter.split(&mut buf, true) {
            events.push(e);
        }
        (events, buf.to_vec())
    }

    fn records(events: &[SplitEvent]) -> Vec<&[u8]> {
        events
            .iter()
            .map(|e| match e {
                SplitEvent::Record { data, .. } => &data[..],
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn token_records_do_not_depend_on_chunking() {
        let data = b"one\ntwo\n\nthree is longer\nfour\npartial";
        for chunk in 1..=data.len() {
            let mut s = build(TokenSplitter::build, "");
            let (events, rest) = run(s.as_mut(), data, chunk);
            assert_eq!(
                records(&events),
                [
                    &b"one\n"[..],
                    b"two\n",
                    b"\n",
                    b"three is longer\n",
                    b"four\n"
                ],
                "chunk size {chunk}"
            );
            assert_eq!(rest, b"partial", "the runner decides about the tail");
            assert!(!s.message_bytes());
        }
    }

    #[test]
    fn token_count_and_custom_delimiter() {
        let mut s = build(TokenSplitter::build, "delimiter = '|'\ncount = 2");
        for chunk in [1, 3, 100] {
            let (events, rest) = run(s.as_mut(), b"a|b|c|d|e|", chunk);
            assert_eq!(records(&events), [&b"a|b|"[..], b"c|d|"]);
            assert_eq!(rest, b"e|");
        }
    }

    #[test]
    fn token_delimiter_must_be_one_byte() {
        for bad in ["''", "'ab'", "'é'"] {
            let err = TokenSplitter::build(
                &spec("lines", "TokenSplitter", &format!("delimiter = {bad}")),
                &Globals::default(),
            )
            .err()
            .unwrap();
            assert!(err.message.contains("section `lines`"), "{err}");
            assert!(err.message.contains("exactly one byte"), "{err}");
        }
        let err = TokenSplitter::build(
            &spec("lines", "TokenSplitter", "count = 0"),
            &Globals::default(),
        )
        .err()
        .unwrap();
        assert!(err.message.contains("count must be at least 1"), "{err}");
        let err = TokenSplitter::build(
            &spec("lines", "TokenSplitter", "delimeter = ','"),
            &Globals::default(),
        )
        .err()
        .unwrap();
        assert!(
            err.message.contains("section `lines`") && err.message.contains("delimeter"),
            "{err}"
        );
    }

    #[test]
    fn use_message_bytes_is_honoured() {
        let mut sp = spec("s", "TokenSplitter", "");
        sp.common.use_message_bytes = Some(true);
        assert!(
            TokenSplitter::build(&sp, &Globals::default())
                .unwrap()
                .message_bytes()
        );
        assert!(
            NullSplitter::build(&sp, &Globals::default())
                .unwrap()
                .message_bytes()
        );
        sp.common.use_message_bytes = Some(false);
        assert!(
            !HekaFramingSplitter::build(&sp, &Globals::default())
                .unwrap()
                .message_bytes()
        );
        assert!(build(HekaFramingSplitter::build, "").message_bytes());
    }

    #[test]
    fn null_splitter_takes_each_chunk_whole() {
        let mut s = build(NullSplitter::build, "");
        let mut buf = BytesMut::new();
        assert_eq!(s.split(&mut buf, false), None);
        buf.extend_from_slice(b"datagram one");
        assert_eq!(
            s.split(&mut buf, false),
            Some(SplitEvent::Record {
                data: Bytes::from_static(b"datagram one"),
                signer: None
            })
        );
        assert!(buf.is_empty());
        assert_eq!(s.split(&mut buf, true), None);
        assert!(
            NullSplitter::build(&spec("n", "NullSplitter", "x = 1"), &Globals::default()).is_err()
        );
    }

    fn key(secret: &str) -> SigningKey {
        SigningKey {
            signer: "ops".into(),
            version: 1,
            hash: HmacHashFunction::Md5,
            key: secret.as_bytes().to_vec(),
        }
    }

    fn frame(out: &mut Vec<u8>, message: &[u8], key: Option<&SigningKey>) {
        encode_frame(message, key, DEFAULT_MAX_MESSAGE_SIZE, out).unwrap();
    }

    const SIGNED: &str = "[signer.ops_1]\nhmac_key = 'secret'";

    #[test]
    fn signed_records_are_verified() {
        let mut data = Vec::new();
        frame(&mut data, b"good", Some(&key("secret")));
        frame(&mut data, b"forged", Some(&key("wrong")));
        frame(&mut data, b"plain", None);
        let mut s = build(HekaFramingSplitter::build, SIGNED);
        let (events, rest) = run(s.as_mut(), &data, data.len());
        assert!(rest.is_empty());
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(
            events[0],
            SplitEvent::Record {
                data: Bytes::from_static(b"good"),
                signer: Some(Bytes::from_static(b"ops"))
            }
        );
        let SplitEvent::Dropped { reason, len } = &events[1] else {
            panic!("{:?}", events[1]);
        };
        assert!(
            reason.contains("bad HMAC") && reason.contains("ops"),
            "{reason}"
        );
        assert!(*len > 6);
        assert_eq!(
            events[2],
            SplitEvent::Record {
                data: Bytes::from_static(b"plain"),
                signer: None
            }
        );
    }

    #[test]
    fn without_signers_signed_records_are_dropped_unless_skipped() {
        let mut data = Vec::new();
        frame(&mut data, b"signed", Some(&key("secret")));
        frame(&mut data, b"plain", None);
        let mut s = build(HekaFramingSplitter::build, "");
        let (events, _) = run(s.as_mut(), &data, 7);
        assert!(
            matches!(&events[0], SplitEvent::Dropped { reason, .. } if reason.contains("unknown signer")),
            "{events:?}"
        );
        assert_eq!(records(&events[1..]), [&b"plain"[..]]);

        let mut s = build(HekaFramingSplitter::build, "skip_authentication = true");
        let (events, _) = run(s.as_mut(), &data, 7);
        assert_eq!(records(&events), [&b"signed"[..], b"plain"]);
        assert!(matches!(
            &events[0],
            SplitEvent::Record { signer: None, .. }
        ));
    }

    /// The records (with signers) and the total of dropped bytes.
    fn tally(events: &[SplitEvent]) -> (Vec<(Bytes, Option<Bytes>)>, usize) {
        let mut records = Vec::new();
        let mut dropped = 0;
        for e in events {
            match e {
                SplitEvent::Record { data, signer } => records.push((data.clone(), signer.clone())),
                SplitEvent::Dropped { len, .. } => dropped += len,
            }
        }
        (records, dropped)
    }

    #[test]
    fn garbage_is_skipped_and_counted_with_its_offset() {
        let mut data = b"junk".to_vec();
        frame(&mut data, b"first", Some(&key("secret")));
        let garbage_at = data.len();
        data.extend_from_slice(b"more junk");
        frame(&mut data, b"second", None);
        let mut s = build(HekaFramingSplitter::build, SIGNED);
        let (events, rest) = run(s.as_mut(), &data, data.len());
        assert!(rest.is_empty());
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(
            events[0],
            SplitEvent::Dropped {
                len: 4,
                reason: "skipped 4 bytes at stream offset 0: data before a record separator".into()
            }
        );
        assert_eq!(
            events[2],
            SplitEvent::Dropped {
                len: 9,
                reason: format!(
                    "skipped 9 bytes at stream offset {garbage_at}: data before a record separator"
                )
            }
        );
        let ops = Some(Bytes::from_static(b"ops"));
        let expected = vec![
            (Bytes::from_static(b"first"), ops),
            (Bytes::from_static(b"second"), None),
        ];
        assert_eq!(tally(&events), (expected.clone(), 13));

        // Chunked, a run of garbage may be reported in pieces, but the
        // records and the bytes dropped are the same.
        for chunk in 1..data.len() {
            let mut s = build(HekaFramingSplitter::build, SIGNED);
            let (events, rest) = run(s.as_mut(), &data, chunk);
            assert!(rest.is_empty());
            assert_eq!(tally(&events), (expected.clone(), 13), "chunk {chunk}");
        }
    }

    #[test]
    fn a_torn_final_record_is_dropped_at_eof() {
        let mut data = Vec::new();
        frame(&mut data, b"whole", None);
        let mut torn = Vec::new();
        frame(&mut torn, b"torn record", None);
        data.extend_from_slice(&torn[..torn.len() - 3]);
        let mut s = build(HekaFramingSplitter::build, "");
        let (events, rest) = run(s.as_mut(), &data, 5);
        assert!(rest.is_empty());
        assert_eq!(records(&events[..1]), [&b"whole"[..]]);
        assert!(matches!(&events[1..], [SplitEvent::Dropped { .. }, ..]));
    }

    #[test]
    fn signer_names_need_a_version_and_keys_a_key() {
        for bad in ["[signer.ops]\nhmac_key = 'k'", "[signer.ops_1]\nkey = 'k'"] {
            let err = HekaFramingSplitter::build(
                &spec("frames", "HekaFramingSplitter", bad),
                &Globals::default(),
            )
            .err()
            .unwrap();
            assert!(err.message.contains("section `frames`"), "{err}");
        }
    }

    #[test]
    fn oversized_messages_are_refused_by_the_global_limit() {
        let mut data = Vec::new();
        frame(&mut data, &[b'x'; 2000], None);
        frame(&mut data, b"small", None);
        let globals = Globals {
            max_message_size: 1500,
            ..Globals::default()
        };
        let mut s =
            HekaFramingSplitter::build(&spec("f", "HekaFramingSplitter", ""), &globals).unwrap();
        let (events, _) = run(s.as_mut(), &data, 512);
        let SplitEvent::Dropped { reason, .. } = &events[0] else {
            panic!("{events:?}");
        };
        assert!(reason.contains("maximum message size"), "{reason}");
        let (records, dropped) = tally(&events);
        assert_eq!(records, [(Bytes::from_static(b"small"), None)]);
        assert_eq!(dropped + 10, data.len(), "everything else was skipped");
    }
}

#[cfg(test)]
mod limit_tests;
