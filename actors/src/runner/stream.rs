//! One input stream's record pipeline: read buffer → splitter → (text records
//! become messages) → decoder. Runs in the input's task, cutting each read
//! into parts offered to the decode pool when the decoder allows (see
//! `parts.rs`); the sink decodes the rest and routes what comes out, in
//! record order. Bounded: a record never
//! grows past the maximum record size (Heka's MAX_RECORD_SIZE), and every
//! drop is counted.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::BytesMut;
use heka_proto::Field;

use crate::plugin::{BuildError, Decoder, SplitEvent, Splitter};
use crate::runner::decode::{DecodePool, Decoding, Record, TextHeader};
use crate::runner::parts::{Part, Read, Spares, decode_here, offer};
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
/// pool, and how to build the spare decoder instances its workers use.
pub(crate) struct Parallel {
    pub pool: DecodePool,
    pub build: Box<dyn Fn() -> Result<Box<dyn Decoder>, BuildError>>,
    pub spares: Spares,
    /// Spares built so far (at most one per worker).
    pub built: usize,
}

impl Parallel {
    /// Builds the spares the workers need, once: false when not even one
    /// builds (the stream then decodes everything itself).
    fn ready(&mut self, decoding: &Decoding) -> bool {
        while self.built < self.pool.workers() {
            match (self.build)() {
                Ok(spare) => {
                    self.spares
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(spare);
                    self.built += 1;
                }
                Err(err) => {
                    // Built once already, so this should not happen.
                    tracing::warn!(plugin = %decoding.settings.input, error = %err, "Could not build a decoder for a parallel part.");
                    break;
                }
            }
        }
        self.built > 0
    }
}

/// The fewest records worth a part of their own.
const MIN_PART: usize = 32;

/// The most records in one part offered to the pool: small enough that a
/// read (LogstreamerInput's 256 KiB, about 1300 W2 lines) makes several,
/// to spread over the workers and the stream; large enough that a part's
/// job and wake-up cost little next to decoding it. In W2, 512 ran about
/// as fast, and 128 about 10% slower (more wake-ups, more CPU).
const PART: usize = 256;

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

    /// Cuts every whole record in the buffer into a [`Read`]: one part to
    /// decode here, or, when the decoder is stateless and there is a pool,
    /// parts of [`PART`] records offered to the pool. Nothing is decoded or
    /// routed yet (see `sink.rs`).
    pub fn start(&mut self, eof: bool) -> Read {
        self.split(eof);
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
        let count = records.len();
        let parallel = match self.parallel.as_mut() {
            Some(p) if records.len() >= 2 * MIN_PART => p.ready(&decoding).then_some(p),
            _ => None,
        };
        let parts = match parallel {
            Some(p) => offer(&p.pool, &p.spares, &decoding, records, PART),
            None if records.is_empty() => VecDeque::new(),
            None => VecDeque::from([Part::Local(records)]),
        };
        Read {
            parts,
            records: count,
            ack: None,
            decoding,
        }
    }

    /// Decodes `part` here unless it is decoded or a worker has it (see
    /// [`decode_here`]).
    pub fn decode_here(&mut self, part: &mut Part, decoding: &Decoding) -> bool {
        decode_here(part, decoding, self.decoder.as_mut())
    }

    /// Cuts every whole record out of the buffer into `records`; what the
    /// splitter drops is counted and logged here.
    fn split(&mut self, eof: bool) {
        let before = self.records.len();
        loop {
            let event = match self.splitter.split(&mut self.buf, eof) {
                Some(event) => event,
                None => match self.overflow(eof) {
                    Some(event) => event,
                    None => break,
                },
            };
            match event {
                SplitEvent::Record { data, signer } => self.records.push((data, signer)),
                SplitEvent::Dropped { len, reason } => {
                    RunnerStats::add(&self.stats.input.dropped, 1);
                    RunnerStats::add(&self.stats.splitter.dropped, 1);
                    tracing::warn!(plugin = %self.settings.input, bytes = len, reason = %reason, "Input dropped data.");
                }
            }
        }
        // Counted once per read, not per record.
        let cut = (self.records.len() - before) as u64;
        RunnerStats::add(&self.stats.input.received, cut);
        RunnerStats::add(&self.stats.splitter.processed, cut);
    }

    /// Takes the decoder's own report figures (once per read, not per
    /// record).
    pub fn sample_decoder(&self) {
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
