//! The plugin traits every Heka plugin kind implements, with no actix type in
//! any signature: plugins are plain objects the runners own and call, so they
//! can be unit-tested without an actor system. Splitters, decoders and
//! encoders are synchronous and run inside their input or output runner;
//! inputs and outputs are asynchronous and run on their runner's arbiter.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use heka_proto::{Message, MessageView};

use crate::config::{Globals, PluginSpec};
use crate::pack::{EncodedBatch, Pack};
use crate::report::Metric;

pub use crate::runner::decode::TextRecord;
pub use crate::runner::filter::{FilterCx, InjectError};
pub use crate::runner::input::{InputCx, StreamDefaults, StreamSink};
pub use crate::runner::output::OutputCx;

/// A future run on the plugin's own arbiter thread (not `Send`).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What a plugin call can report besides success (Heka's three outcomes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// This message or record failed: it is logged, counted and dropped, and
    /// the plugin goes on with the next one.
    #[error("{0}")]
    Message(Cow<'static, str>),
    /// Try the same work again after a back-off (Heka's RetryMessageError).
    #[error("retrying: {0}")]
    Retry(Cow<'static, str>),
    /// The plugin cannot go on: it is rebuilt per its `retries` table, and
    /// when those are exhausted it exits (`can_exit`) or stops hekad.
    #[error("{0}")]
    Fatal(Cow<'static, str>),
}

impl PluginError {
    /// A per-message failure.
    pub fn message(text: impl Into<Cow<'static, str>>) -> Self {
        PluginError::Message(text.into())
    }
    /// A transient failure worth retrying.
    pub fn retry(text: impl Into<Cow<'static, str>>) -> Self {
        PluginError::Retry(text.into())
    }
    /// A failure that needs a restart.
    pub fn fatal(text: impl Into<Cow<'static, str>>) -> Self {
        PluginError::Fatal(text.into())
    }
}

/// Why a plugin could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    /// The full text, naming the plugin and, for config errors, the file,
    /// line and key.
    pub message: String,
}

impl BuildError {
    /// An error about `spec`'s configuration, prefixed with its location,
    /// section and type.
    pub fn invalid(spec: &PluginSpec, text: impl std::fmt::Display) -> Self {
        BuildError {
            message: format!(
                "{}: section `{}` (type {}): {text}",
                spec.location, spec.name, spec.type_name
            ),
        }
    }
}

/// One thing a splitter found at the front of the buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitEvent {
    /// A whole record, cut off the buffer (it shares the buffer's storage).
    Record {
        /// The record bytes: a protobuf message when the splitter's
        /// [`Splitter::message_bytes`] is true, a payload otherwise.
        data: Bytes,
        /// The verified signer of a signed Heka record.
        signer: Option<Bytes>,
    },
    /// Bytes skipped or a record refused (counted as dropped and logged).
    Dropped {
        /// How many bytes were thrown away.
        len: usize,
        /// Why, for the log line.
        reason: String,
    },
}

/// Cuts a byte stream into records (Heka's Splitter). The runner owns the
/// buffer; a splitter cuts records off its front.
pub trait Splitter: Send {
    /// Returns the next record or drop at the front of `buf`, removing its
    /// bytes, or `None` when more data is needed. `eof` is true once the
    /// stream has ended and no more bytes will come.
    fn split(&mut self, buf: &mut BytesMut, eof: bool) -> Option<SplitEvent>;

    /// True when records are whole protobuf messages (`use_message_bytes`),
    /// false when each record becomes the payload of a new message.
    fn message_bytes(&self) -> bool {
        false
    }
}

/// What a decoder receives.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A record of protobuf message bytes (`use_message_bytes = true`).
    Bytes(Bytes),
    /// A message (what an earlier decoder of a MultiDecoder produced, or a
    /// test's).
    Message(Box<MessageView>),
    /// A text record with the headers its stream stamps on it. Heka made
    /// it a message first (payload = the record, a fresh uuid, now, the
    /// stream's logger, type and hostname); [`TextRecord::message`] does
    /// that, and a decoder that rewrites the message anyway can skip it
    /// and write its result in one pass from the parts.
    Text(TextRecord),
}

impl Incoming {
    /// The record as a message: bytes decoded, text made into Heka's
    /// text-record message.
    pub fn into_message(self) -> Result<MessageView, PluginError> {
        match self {
            Incoming::Message(view) => Ok(*view),
            Incoming::Text(text) => Ok(text.message()),
            Incoming::Bytes(raw) => MessageView::decode(raw)
                .map_err(|e| PluginError::message(format!("protobuf decode failed: {e}"))),
        }
    }
}

/// Turns records into messages (Heka's Decoder), 0..n messages per record.
pub trait Decoder: Send {
    /// Decodes one record, pushing every resulting message to `out`.
    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError>;

    /// The decoder's own report figures, sampled after each chunk of
    /// records (see [`Filter::report_fields`]).
    fn report_fields(&self) -> Vec<Metric> {
        Vec::new()
    }

    /// True when each record decodes independently of the ones before it
    /// (no state carried between records), so a stream may decode parts of
    /// a read on several threads with separate instances, keeping record
    /// order. False by default (a Lua decoder may keep state).
    fn parallel(&self) -> bool {
        false
    }
}

/// Analyses matched messages and injects new ones (Heka's Filter).
pub trait Filter: Send {
    /// Handles one matched pack.
    fn process(&mut self, pack: &Pack, cx: &mut FilterCx) -> Result<(), PluginError>;

    /// Called every `ticker_interval` seconds with the current time in ns.
    fn timer_event(&mut self, now_ns: i64, cx: &mut FilterCx) -> Result<(), PluginError> {
        let _ = (now_ns, cx);
        Ok(())
    }

    /// Whether the filter has a timer hook (`ticker_interval` is rejected
    /// for filters without one).
    fn has_timer(&self) -> bool {
        false
    }

    /// The default `ticker_interval` in seconds when the config sets none.
    fn default_ticker_interval(&self) -> u64 {
        0
    }

    /// The `message_matcher` used when the config sets none (CounterFilter
    /// has one); without either, the config is rejected.
    fn default_matcher(&self) -> Option<&'static str> {
        None
    }

    /// Called once when the filter's runner starts (not after restarts),
    /// with the pipeline running: a SandboxManagerFilter loads the filters
    /// its working directory holds.
    fn started(&mut self, cx: &mut FilterCx) {
        let _ = cx;
    }

    /// Called once when the filter stops (shutdown or exit).
    fn shutdown(&mut self, cx: &mut FilterCx) {
        let _ = cx;
    }

    /// Files whose change on disk (or a SIGHUP) rebuilds the filter in
    /// place, e.g. a sandbox's script.
    fn watched_files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    /// Persists what a rebuilt instance should start from (a sandbox's
    /// `preserve_data`); called on the running instance before a reload.
    fn checkpoint(&mut self) -> Result<(), PluginError> {
        Ok(())
    }

    /// The filter's own report figures (name, value, representation),
    /// added to its row of the report; sampled after each batch and timer
    /// call. Sandboxes report Memory, MaxMemory, MaxInstructions, MaxOutput.
    fn report_fields(&self) -> Vec<Metric> {
        Vec::new()
    }
}

/// Serialises a pack into bytes for an output (Heka's Encoder).
pub trait Encoder: Send {
    /// Appends the encoding of `pack` to `out`. Appending nothing skips the
    /// message.
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError>;

    /// True for encoders whose output is the message protobuf (so outputs
    /// default `use_framing` to true, as Heka's TcpOutput and FileOutput do).
    /// With framing, the output runner then frames the message's bytes
    /// itself and does not call [`Encoder::encode`].
    fn is_protobuf(&self) -> bool {
        false
    }

    /// The encoder's own report figures, sampled after each batch (see
    /// [`Filter::report_fields`]).
    fn report_fields(&self) -> Vec<Metric> {
        Vec::new()
    }
}

/// Delivers encoded batches somewhere (Heka's Output). Calls are serialised:
/// the runner does not start a write before the previous one finished.
pub trait Output: Send + 'static {
    /// Acquires what the output needs before the pipeline starts (binds
    /// its socket, prepares its directory). Not called by `hekad --check`
    /// nor on instances rebuilt after a failure (their
    /// [`Output::start`] does it); an error here stops startup.
    fn prepare(&mut self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Called on the runner's thread before the first write, on the first
    /// instance and on every instance rebuilt after a failure: spawn here
    /// what runs beside the writes (with `tokio::task::spawn_local`, and
    /// stop it in [`Output::shutdown`] and on drop). `cx` offers what of
    /// the pipeline an output may use (routing reports). An error counts as
    /// a failure of the output: rebuilt per `retries`, then it exits.
    fn start(&mut self, cx: OutputCx) -> Result<(), PluginError> {
        let _ = cx;
        Ok(())
    }

    /// Delivers a batch. `Retry` makes the runner call again with the same
    /// batch after a back-off; a failure must not lose part of a batch
    /// silently (the output remembers what it already wrote).
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>>;

    /// Called every [`Output::flush_interval`], when the output has one
    /// (SandboxOutput gives its `ticker_interval`, FileOutput its
    /// `flush_interval`).
    fn flush(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        Box::pin(async { Ok(()) })
    }

    /// How often the runner calls [`Output::flush`], if at all.
    fn flush_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// SIGHUP: reopen files (log rotation).
    fn reopen(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        Box::pin(async { Ok(()) })
    }

    /// Called once at shutdown after the last batch; flush everything.
    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        self.flush()
    }

    /// The `message_matcher` used when the config sets none.
    fn default_matcher(&self) -> Option<&'static str> {
        None
    }

    /// Whether the output needs an encoder (LogOutput and FileOutput do).
    fn needs_encoder(&self) -> bool {
        true
    }

    /// Whether `use_framing` defaults to true when the encoder is the
    /// ProtobufEncoder (Heka's TcpOutput and FileOutput).
    fn frames_protobuf_by_default(&self) -> bool {
        false
    }

    /// The output's own report figures, sampled after each write and
    /// flush (see [`Filter::report_fields`]).
    fn report_fields(&self) -> Vec<Metric> {
        Vec::new()
    }

    /// True while records from earlier `write` calls sit in the output's
    /// own memory, not yet written out (FileOutput's pending buffer,
    /// ElasticSearchOutput's pending bulk request). The runner then keeps
    /// those records' acknowledgements (see [`crate::ack`]) until a write or
    /// flush leaves this false, so a disk queue's checkpoint or an input's
    /// journal never passes a record that a crash would lose.
    fn holds_records(&self) -> bool {
        false
    }

    /// The type's own disk buffering defaults, when it is buffered unless
    /// the config says `use_buffering = false` (Heka's TcpOutput and
    /// ElasticSearchOutput); used only when the `buffering` table is
    /// omitted.
    fn default_buffering(&self) -> Option<crate::config::Buffering> {
        None
    }
}

/// Produces records or messages (Heka's Input). `run` returns when the input
/// is told to stop ([`InputCx::stopped`]) or fails. While it runs, an input
/// publishes its own report figures with [`InputCx::report_fields`].
pub trait Input: Send + 'static {
    /// Acquires what the input needs before the pipeline starts (binds its
    /// socket). Not called by `hekad --check`; an error here stops startup.
    fn prepare(&mut self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Runs until stopped. Returning `Ok` before a stop was requested counts
    /// as an exit ("Run exited.").
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>>;

    /// The splitter this input type uses when the config names none.
    fn default_splitter(&self) -> &'static str {
        "NullSplitter"
    }

    /// The decoder this input type uses when the config names none.
    fn default_decoder(&self) -> Option<&'static str> {
        None
    }
}

/// A message built by code (for injection): helper used by filters.
pub fn message_defaults(hostname: &str, pid: i32) -> Message {
    let mut uuid = [0u8; 16];
    fastrand::fill(&mut uuid);
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let mut msg = Message::new(uuid, crate::pack::now_ns());
    msg.hostname = Some(Bytes::copy_from_slice(hostname.as_bytes()));
    msg.pid = Some(pid);
    msg
}

/// Factory signatures: build a plugin from its spec and the globals.
pub type BuildFn<T> = fn(&PluginSpec, &Globals) -> Result<Box<T>, BuildError>;

impl From<crate::config::ConfigError> for BuildError {
    fn from(err: crate::config::ConfigError) -> Self {
        BuildError {
            message: err.to_string(),
        }
    }
}
