//! One input stream's record pipeline: read buffer → splitter → (text records
//! become messages) → decoder. Runs inline in the input's task; the caller
//! routes what comes out. Bounded: a record never grows past the maximum
//! record size (Heka's MAX_RECORD_SIZE), and every drop is counted.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use heka_proto::prost::Message as _;
use heka_proto::write::{bytes_field, varint_field};
use heka_proto::{Field, MessageView};

use crate::pack::{Pack, PackRef, now_ns};
use crate::plugin::{Decoder, Incoming, PluginError, SplitEvent, Splitter};
use crate::runner::guarded;
use crate::stats::RunnerStats;

/// Header fields stamped on messages made from text records.
#[derive(Debug, Clone, Default)]
pub struct StreamDefaults {
    /// Hostname (TcpInput uses the remote address); hekad's hostname if unset.
    pub hostname: Option<String>,
    /// Message type (TcpInput uses its name); none if unset.
    pub msg_type: Option<String>,
    /// Logger (LogstreamerInput uses the stream's name); the input's name
    /// if unset.
    pub logger: Option<String>,
}

#[derive(Clone)]
pub(crate) struct Settings {
    pub input: Arc<str>,
    pub hostname: Arc<str>,
    pub max_record: usize,
    pub keep_truncated: bool,
    pub deliver_incomplete_final: bool,
    pub send_decode_failures: bool,
    pub log_decode_failures: bool,
}

/// Where a stream counts: its input's row, and the rows of the splitter and
/// decoder templates it instantiated (`<input>-<splitter>`, as Heka names
/// them in reports), shared by every stream of the input.
pub(crate) struct StreamStats {
    pub input: Arc<RunnerStats>,
    pub splitter: Arc<RunnerStats>,
    pub decoder: Option<Arc<RunnerStats>>,
}

pub(crate) struct Stream {
    splitter: Box<dyn Splitter>,
    decoder: Option<Box<dyn Decoder>>,
    settings: Arc<Settings>,
    pub defaults: StreamDefaults,
    /// Fields appended to every text record (ProcessInput's ExitStatus).
    pub fields: Vec<Field>,
    stats: StreamStats,
    pub buf: BytesMut,
    decoded: Vec<MessageView>,
    failed: Option<MessageView>,
    /// Severity stamped on every text record (HttpInput's per-status one).
    pub severity: Option<i32>,
}

impl Stream {
    pub fn new(
        splitter: Box<dyn Splitter>,
        decoder: Option<Box<dyn Decoder>>,
        settings: Arc<Settings>,
        defaults: StreamDefaults,
        stats: StreamStats,
        min_buffer: usize,
    ) -> Stream {
        Stream {
            splitter,
            decoder,
            settings,
            defaults,
            fields: Vec::new(),
            stats,
            buf: BytesMut::with_capacity(min_buffer),
            decoded: Vec::new(),
            failed: None,
            severity: None,
        }
    }

    /// Splits and decodes everything whole in the buffer, appending
    /// packs (not yet holding a pool permit) to `out`. A decoder's `Fatal` error is returned
    /// (the input restarts); other failures are counted and dropped.
    pub fn process(&mut self, eof: bool, out: &mut Vec<PackRef>) -> Result<(), PluginError> {
        loop {
            let event = match self.splitter.split(&mut self.buf, eof) {
                Some(event) => event,
                None => match self.overflow(eof) {
                    Some(event) => event,
                    None => {
                        self.sample_decoder();
                        return Ok(());
                    }
                },
            };
            match event {
                SplitEvent::Record { data, signer } => {
                    RunnerStats::add(&self.stats.input.received, 1);
                    RunnerStats::add(&self.stats.splitter.processed, 1);
                    self.record(data, signer, out)?;
                }
                SplitEvent::Dropped { len, reason } => {
                    RunnerStats::add(&self.stats.input.dropped, 1);
                    RunnerStats::add(&self.stats.splitter.dropped, 1);
                    tracing::warn!(plugin = %self.settings.input, bytes = len, reason = %reason, "Input dropped data.");
                }
            }
        }
    }

    /// Takes the decoder's own report figures (once per chunk of records,
    /// not per record).
    fn sample_decoder(&self) {
        if let (Some(decoder), Some(stats)) = (&self.decoder, &self.stats.decoder) {
            stats.set_extra(decoder.report_fields());
        }
    }

    /// What to do when the splitter needs more data: a buffer at the record
    /// size limit is cut (keep_truncated) or dropped; at end of stream a
    /// partial record is delivered (deliver_incomplete_final) or dropped.
    fn overflow(&mut self, eof: bool) -> Option<SplitEvent> {
        let len = self.buf.len();
        if len >= self.settings.max_record {
            let cut = self.buf.split_to(self.settings.max_record).freeze();
            if self.settings.keep_truncated {
                return Some(SplitEvent::Record {
                    data: cut,
                    signer: None,
                });
            }
            return Some(SplitEvent::Dropped {
                len: cut.len(),
                reason: format!(
                    "record exceeds the maximum record size of {} bytes",
                    self.settings.max_record
                ),
            });
        }
        if eof && len > 0 {
            let rest = self.buf.split().freeze();
            if self.settings.deliver_incomplete_final {
                return Some(SplitEvent::Record {
                    data: rest,
                    signer: None,
                });
            }
            return Some(SplitEvent::Dropped {
                len,
                reason: "incomplete final record at end of stream".to_owned(),
            });
        }
        None
    }

    fn record(
        &mut self,
        data: Bytes,
        signer: Option<Bytes>,
        out: &mut Vec<PackRef>,
    ) -> Result<(), PluginError> {
        let incoming = if self.splitter.message_bytes() {
            Incoming::Bytes(data)
        } else {
            Incoming::Message(Box::new(self.text_message(data)))
        };
        let Some(decoder) = self.decoder.as_mut() else {
            match incoming {
                Incoming::Message(view) => out.push(unpooled(*view, signer)),
                Incoming::Bytes(raw) => match MessageView::decode(raw) {
                    Ok(view) => out.push(unpooled(view, signer)),
                    Err(err) => self.decode_failed(None, &err.to_string()),
                },
            }
            return Ok(());
        };
        let failed_text = match &incoming {
            Incoming::Message(view) if self.settings.send_decode_failures => Some((**view).clone()),
            _ => None,
        };
        let decoded = &mut self.decoded;
        let result = guarded(|| decoder.decode(incoming, decoded));
        if let Some(stats) = &self.stats.decoder {
            RunnerStats::add(&stats.received, 1);
            match &result {
                Ok(()) => RunnerStats::add(&stats.processed, self.decoded.len() as u64),
                Err(_) => RunnerStats::add(&stats.errors, 1),
            }
        }
        match result {
            Ok(()) => {
                out.extend(
                    self.decoded
                        .drain(..)
                        .map(|view| unpooled(view, signer.clone())),
                );
                Ok(())
            }
            Err(PluginError::Fatal(text)) => Err(PluginError::Fatal(text)),
            Err(err) => {
                self.decoded.clear();
                self.decode_failed(failed_text, &err.to_string());
                if let Some(view) = self.tagged_failure() {
                    out.push(unpooled(view, signer));
                }
                Ok(())
            }
        }
    }

    fn decode_failed(&mut self, failed: Option<MessageView>, error: &str) {
        if self.settings.log_decode_failures {
            tracing::warn!(plugin = %self.settings.input, error = %error, "Decode failed.");
        }
        match failed {
            Some(view) => {
                let mut msg = view.to_message();
                let error: String = error.chars().take(500).collect();
                msg.fields.push(Field::boolean("decode_failure", true));
                msg.fields.push(Field::string("decode_error", error));
                self.failed = MessageView::from_message(&msg).ok();
            }
            None => {
                RunnerStats::add(&self.stats.input.dropped, 1);
                RunnerStats::add(&self.stats.input.errors, 1);
                if let Some(stats) = &self.stats.decoder {
                    RunnerStats::add(&stats.dropped, 1);
                }
            }
        }
    }

    fn tagged_failure(&mut self) -> Option<MessageView> {
        self.failed.take()
    }

    /// A text record as Heka makes it: new uuid, now, logger = the input's
    /// name (or the stream's own logger), payload = the record, plus the
    /// stream's hostname, type and extra fields.
    /// The message a text record becomes, written as protobuf directly
    /// (this runs once per record): a fresh v4 uuid, now, the stream's
    /// type, logger, severity, hostname and extra fields, the record as
    /// payload.
    fn text_message(&self, payload: Bytes) -> MessageView {
        let hostname = self
            .defaults
            .hostname
            .as_deref()
            .unwrap_or(&self.settings.hostname);
        let logger = self
            .defaults
            .logger
            .as_deref()
            .unwrap_or(&self.settings.input);
        let mut out = Vec::with_capacity(payload.len() + hostname.len() + logger.len() + 64);
        let mut uuid = [0u8; 16];
        fastrand::fill(&mut uuid);
        uuid[6] = (uuid[6] & 0x0f) | 0x40;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        bytes_field(1, &uuid, &mut out);
        varint_field(2, now_ns() as u64, &mut out);
        if let Some(t) = &self.defaults.msg_type {
            bytes_field(3, t.as_bytes(), &mut out);
        }
        bytes_field(4, logger.as_bytes(), &mut out);
        if let Some(severity) = self.severity {
            varint_field(5, i64::from(severity) as u64, &mut out);
        }
        bytes_field(6, &payload, &mut out);
        bytes_field(9, hostname.as_bytes(), &mut out);
        for field in &self.fields {
            bytes_field(10, &field.encode_to_vec(), &mut out);
        }
        MessageView::decode(Bytes::from(out)).expect("a message built from valid parts decodes")
    }
}

/// A pack straight from the decoder, boxed once where it will live: the
/// pool permit is attached in place when it is routed (a MessageView is a
/// few hundred bytes; moving it through several vectors showed up as a
/// tenth of the input's time in memmove).
fn unpooled(view: MessageView, signer: Option<Bytes>) -> PackRef {
    let mut pack = Pack::detached(view);
    pack.signer = signer;
    Arc::new(pack)
}
