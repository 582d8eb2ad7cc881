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
mod tests;

#[cfg(test)]
mod limit_tests;
