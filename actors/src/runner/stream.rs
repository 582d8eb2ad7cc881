//! One input stream's record pipeline: read buffer → splitter → (text records
//! become messages) → decoder. Runs in the input's task, handing parts of a
//! read to the decode pool when the decoder allows (see `decode.rs`); the
//! caller routes what comes out, in record order. Bounded: a record never
//! grows past the maximum record size (Heka's MAX_RECORD_SIZE), and every
//! drop is counted.

use std::sync::Arc;

use bytes::BytesMut;
use heka_proto::Field;
use tokio::sync::oneshot;

use crate::pack::PackRef;
use crate::plugin::{BuildError, Decoder, PluginError, SplitEvent, Splitter};
use crate::runner::decode::{DecodePool, Decoding, Record, TextHeader};
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

/// How a stream with a stateless decoder decodes in parallel: the shared
/// pool, and how to build more instances of its decoder (one per part in
/// flight, kept for the next read).
pub(crate) struct Parallel {
    pub pool: DecodePool,
    pub build: Box<dyn Fn() -> Result<Box<dyn Decoder>, BuildError>>,
    pub spares: Vec<Box<dyn Decoder>>,
}

/// The fewest records worth a part of their own.
const MIN_PART: usize = 32;

pub(crate) struct Stream {
    splitter: Box<dyn Splitter>,
    decoder: Option<Box<dyn Decoder>>,
    settings: Arc<Settings>,
    pub defaults: StreamDefaults,
    /// Fields appended to every text record (ProcessInput's ExitStatus).
    pub fields: Vec<Field>,
    stats: Arc<StreamStats>,
    pub buf: BytesMut,
    /// Records cut from the buffer, not yet decoded.
    records: Vec<Record>,
    parallel: Option<Parallel>,
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
            stats: Arc::new(stats),
            buf: BytesMut::with_capacity(min_buffer),
            records: Vec::new(),
            parallel: None,
            severity: None,
        }
    }

    /// Lets the stream decode parts of each read on `parallel`'s pool.
    pub fn set_parallel(&mut self, parallel: Parallel) {
        self.parallel = Some(parallel);
    }

    /// Splits and decodes everything whole in the buffer, appending
    /// packs (not yet holding a pool permit) to `out` in record order. A
    /// decoder's `Fatal` error is returned (the input restarts); other
    /// failures are counted and dropped.
    pub async fn process(&mut self, eof: bool, out: &mut Vec<PackRef>) -> Result<(), PluginError> {
        self.split(eof);
        if self.records.is_empty() {
            return Ok(());
        }
        let hostname = self.defaults.hostname.as_deref();
        let logger = self.defaults.logger.as_deref();
        let decoding = Decoding {
            settings: Arc::clone(&self.settings),
            stats: Arc::clone(&self.stats),
            header: Arc::new(TextHeader::new(
                hostname.unwrap_or(&self.settings.hostname),
                logger.unwrap_or(&self.settings.input),
                self.defaults.msg_type.as_deref(),
                self.severity,
                &self.fields,
            )),
            message_bytes: self.splitter.message_bytes(),
        };
        let records = std::mem::take(&mut self.records);
        let result = match self.parallel.as_mut() {
            Some(parallel) if records.len() >= 2 * MIN_PART => {
                let decoder = self.decoder.as_mut();
                decode_in_parts(parallel, decoder, &decoding, records, out).await
            }
            _ => decoding.run(self.decoder.as_mut(), records, out),
        };
        self.sample_decoder();
        result
    }

    /// Cuts every whole record out of the buffer into `records`; what the
    /// splitter drops is counted and logged here.
    fn split(&mut self, eof: bool) {
        loop {
            let event = match self.splitter.split(&mut self.buf, eof) {
                Some(event) => event,
                None => match self.overflow(eof) {
                    Some(event) => event,
                    None => return,
                },
            };
            match event {
                SplitEvent::Record { data, signer } => {
                    RunnerStats::add(&self.stats.input.received, 1);
                    RunnerStats::add(&self.stats.splitter.processed, 1);
                    self.records.push((data, signer));
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
}

/// Decodes `records` as up to `workers + 1` parts: all but the first go to
/// the pool, each with a spare decoder instance, while this task decodes
/// the first with the stream's own; the parts' packs are appended in order.
async fn decode_in_parts(
    parallel: &mut Parallel,
    decoder: Option<&mut Box<dyn Decoder>>,
    decoding: &Decoding,
    mut records: Vec<Record>,
    out: &mut Vec<PackRef>,
) -> Result<(), PluginError> {
    let parts = (parallel.pool.workers() + 1).min(records.len() / MIN_PART);
    let size = records.len().div_ceil(parts);
    let mut rest = records.split_off(size);
    debug_assert!(parts >= 2);
    let mut pending = Vec::with_capacity(parts - 1);
    while !rest.is_empty() {
        let spare = match parallel.spares.pop() {
            Some(spare) => spare,
            None => match (parallel.build)() {
                Ok(built) => built,
                Err(err) => {
                    // Built once already, so this should not happen; the
                    // stream's own decoder takes what is left, last.
                    tracing::warn!(plugin = %decoding.settings.input, error = %err, "Could not build a decoder for a parallel part.");
                    break;
                }
            },
        };
        let tail = rest.split_off(size.min(rest.len()));
        let part = std::mem::replace(&mut rest, tail);
        let (tx, rx) = oneshot::channel();
        let job_decoding = decoding.clone();
        parallel.pool.run(Box::new(move || {
            let mut spare = spare;
            let mut packs = Vec::with_capacity(part.len());
            let result = job_decoding.run(Some(&mut spare), part, &mut packs);
            let _ = tx.send((spare, packs, result));
        }));
        pending.push(rx);
    }
    let mut decoder = decoder;
    let mut result = decoding.run(decoder.as_deref_mut(), records, out);
    for rx in pending {
        let Ok((spare, packs, part_result)) = rx.await else {
            // A worker panicked outside the decoder's guard: its part is
            // gone, which must not pass silently.
            result = result.and(Err(PluginError::fatal("a decode thread failed")));
            continue;
        };
        parallel.spares.push(spare);
        if result.is_ok() {
            out.extend(packs);
            result = part_result;
        }
    }
    if result.is_ok() && !rest.is_empty() {
        result = decoding.run(decoder, rest, out);
    }
    result
}
