//! Decoding the records a stream's splitter cut: text records become
//! messages (Heka's defaults: fresh uuid, now, the stream's logger, type,
//! hostname and fields), then the stream's decoder, if any, runs on them.
//!
//! [`Decoding`] is everything this needs besides the decoder instance, as
//! a value that can cross threads: a stream whose decoder is stateless
//! ([`Decoder::parallel`]) offers parts of each read to a [`DecodePool`]
//! worker with one of its spare decoder instances, decodes what the pool
//! refuses or has not started yet itself, and routes the parts in order
//! (see `parts.rs` and `sink.rs`). This is Heka's `synchronous_decode =
//! false`: decoding off the input's own task, on worker threads shared by
//! every stream.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use heka_proto::write::{bytes_field, varint_field};
use heka_proto::{Field, MessageView};

use crate::pack::{Pack, PackRef, now_ns};
use crate::plugin::{Decoder, Incoming, PluginError};
use crate::runner::guarded;
use crate::runner::stream::{Settings, StreamStats};
use crate::stats::RunnerStats;

/// A record cut by the splitter, with the signer that verified it.
pub(crate) type Record = (Bytes, Option<Bytes>);

/// The headers a stream stamps on its text records, encoded once per read
/// instead of once per record.
#[derive(Debug)]
pub(crate) struct TextHeader {
    hostname: Bytes,
    logger: Bytes,
    msg_type: Option<Bytes>,
    severity: Option<i32>,
    /// The stream's extra fields, already encoded as message fields.
    fields: Vec<u8>,
}

/// A text record and the headers its stream stamps on it (see
/// [`Incoming::Text`]).
#[derive(Debug, Clone)]
pub struct TextRecord {
    payload: Bytes,
    header: Arc<TextHeader>,
}

impl TextRecord {
    /// A text record with the headers a stream would stamp on it (tests,
    /// embedders driving a decoder themselves).
    pub fn new(
        payload: Bytes,
        hostname: &str,
        logger: &str,
        msg_type: Option<&str>,
        severity: Option<i32>,
        fields: &[Field],
    ) -> TextRecord {
        TextRecord {
            payload,
            header: Arc::new(TextHeader::new(
                hostname, logger, msg_type, severity, fields,
            )),
        }
    }

    /// Another record of the same stream (same headers, shared).
    pub fn with_payload(&self, payload: Bytes) -> TextRecord {
        TextRecord {
            payload,
            header: Arc::clone(&self.header),
        }
    }

    /// The record's bytes, the message's payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The message Heka makes of it: a fresh v4 uuid, now, the headers.
    pub fn message(&self) -> MessageView {
        self.header.message(&self.payload)
    }

    /// The stream's hostname (hekad's, or the peer's).
    pub fn hostname(&self) -> &[u8] {
        &self.header.hostname
    }

    /// The stream's logger (the input's name unless the input set one).
    pub fn logger(&self) -> &[u8] {
        &self.header.logger
    }

    /// The stream's message type, if it sets one.
    pub fn msg_type(&self) -> Option<&[u8]> {
        self.header.msg_type.as_deref()
    }

    /// The stream's severity, if it sets one.
    pub fn severity(&self) -> Option<i32> {
        self.header.severity
    }

    /// The stream's extra fields, encoded as the message's field entries
    /// (tag 10), to be appended as they are.
    pub fn encoded_fields(&self) -> &[u8] {
        &self.header.fields
    }
}

impl TextHeader {
    pub(crate) fn new(
        hostname: &str,
        logger: &str,
        msg_type: Option<&str>,
        severity: Option<i32>,
        fields: &[Field],
    ) -> TextHeader {
        let mut encoded = Vec::new();
        for field in fields {
            use heka_proto::prost::Message as _;
            bytes_field(10, &field.encode_to_vec(), &mut encoded);
        }
        TextHeader {
            hostname: Bytes::copy_from_slice(hostname.as_bytes()),
            logger: Bytes::copy_from_slice(logger.as_bytes()),
            msg_type: msg_type.map(|t| Bytes::copy_from_slice(t.as_bytes())),
            severity,
            fields: encoded,
        }
    }

    /// The message a text record becomes, written as protobuf directly.
    fn message(&self, payload: &[u8]) -> MessageView {
        let mut out = Vec::with_capacity(
            payload.len() + self.hostname.len() + self.logger.len() + self.fields.len() + 64,
        );
        let mut uuid = [0u8; 16];
        fastrand::fill(&mut uuid);
        uuid[6] = (uuid[6] & 0x0f) | 0x40;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        bytes_field(1, &uuid, &mut out);
        varint_field(2, now_ns() as u64, &mut out);
        if let Some(t) = &self.msg_type {
            bytes_field(3, t, &mut out);
        }
        bytes_field(4, &self.logger, &mut out);
        if let Some(severity) = self.severity {
            varint_field(5, i64::from(severity) as u64, &mut out);
        }
        bytes_field(6, payload, &mut out);
        bytes_field(9, &self.hostname, &mut out);
        out.extend_from_slice(&self.fields);
        MessageView::decode(Bytes::from(out)).expect("a message built from valid parts decodes")
    }
}

/// What decoding a stream's records needs besides the decoder instance.
#[derive(Clone)]
pub(crate) struct Decoding {
    pub settings: Arc<Settings>,
    pub stats: Arc<StreamStats>,
    pub header: Arc<TextHeader>,
    /// True when records are protobuf messages (`use_message_bytes`).
    pub message_bytes: bool,
}

impl Decoding {
    /// Decodes `records` in order, appending packs (without pool permits)
    /// to `out`. Stops at a decoder's `Fatal` error; other failures are
    /// counted, logged and dropped (or routed, with `send_decode_failures`).
    pub(crate) fn run(
        &self,
        mut decoder: Option<&mut Box<dyn Decoder>>,
        records: impl IntoIterator<Item = Record>,
        out: &mut Vec<PackRef>,
    ) -> Result<(), PluginError> {
        let mut decoded = Vec::new();
        // Counted once per call: the threads decoding a stream's parts
        // share its counters.
        let header = &self.header;
        let mut tally = Tally::default();
        let mut result = Ok(());
        for (data, signer) in records {
            result = self.record(
                decoder.as_deref_mut(),
                (data, signer, header),
                &mut decoded,
                &mut tally,
                out,
            );
            if result.is_err() {
                break;
            }
        }
        if let Some(stats) = &self.stats.decoder {
            RunnerStats::add(&stats.received, tally.received);
            RunnerStats::add(&stats.processed, tally.processed);
            RunnerStats::add(&stats.errors, tally.errors);
        }
        result
    }

    fn record(
        &self,
        decoder: Option<&mut Box<dyn Decoder>>,
        (data, signer, header): (Bytes, Option<Bytes>, &Arc<TextHeader>),
        decoded: &mut Vec<MessageView>,
        tally: &mut Tally,
        out: &mut Vec<PackRef>,
    ) -> Result<(), PluginError> {
        let incoming = if self.message_bytes {
            Incoming::Bytes(data)
        } else {
            Incoming::Text(TextRecord {
                payload: data,
                header: Arc::clone(header),
            })
        };
        let Some(decoder) = decoder else {
            match incoming.into_message() {
                Ok(view) => out.push(unpooled(view, signer)),
                Err(err) => self.failed(None, &err.to_string(), signer, out),
            }
            return Ok(());
        };
        let failed_text = match &incoming {
            Incoming::Text(text) if self.settings.send_decode_failures => Some(text.clone()),
            _ => None,
        };
        decoded.clear();
        let result = guarded(|| decoder.decode(incoming, decoded));
        tally.received += 1;
        match &result {
            Ok(()) => tally.processed += decoded.len() as u64,
            Err(_) => tally.errors += 1,
        }
        match result {
            Ok(()) => {
                out.extend(decoded.drain(..).map(|view| unpooled(view, signer.clone())));
                Ok(())
            }
            Err(PluginError::Fatal(text)) => Err(PluginError::Fatal(text)),
            Err(err) => {
                decoded.clear();
                self.failed(failed_text, &err.to_string(), signer, out);
                Ok(())
            }
        }
    }

    /// A record that did not decode: logged, and either routed tagged
    /// (`send_decode_failures`, text records) or counted as dropped.
    fn failed(
        &self,
        text: Option<TextRecord>,
        error: &str,
        signer: Option<Bytes>,
        out: &mut Vec<PackRef>,
    ) {
        if self.settings.log_decode_failures {
            tracing::warn!(plugin = %self.settings.input, error = %error, "Decode failed.");
        }
        let tagged = text.and_then(|text| {
            let mut msg = text.message().to_message();
            let error: String = error.chars().take(500).collect();
            msg.fields.push(Field::boolean("decode_failure", true));
            msg.fields.push(Field::string("decode_error", error));
            MessageView::from_message(&msg).ok()
        });
        match tagged {
            Some(view) => out.push(unpooled(view, signer)),
            None => {
                RunnerStats::add(&self.stats.input.dropped, 1);
                RunnerStats::add(&self.stats.input.errors, 1);
                if let Some(stats) = &self.stats.decoder {
                    RunnerStats::add(&stats.dropped, 1);
                }
            }
        }
    }
}

/// A decoder's counts over one call of [`Decoding::run`].
#[derive(Default)]
struct Tally {
    received: u64,
    processed: u64,
    errors: u64,
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

type Job = Box<dyn FnOnce() + Send>;

/// Jobs queued per worker before the pool refuses more. Enough that every
/// part of a read (a few hundred records each, see `stream.rs`) is offered
/// while the previous read is routed, so the workers stay busy; the
/// stream takes back, from the end, what they have not started when it
/// would otherwise wait. In W2 with one worker, 4 ran about 7% faster than
/// 2 (with 2 the stream kept half of each read to decode one part at a
/// time while the worker went idle); with two workers, about the same.
pub(crate) const QUEUED_PER_WORKER: usize = 4;

/// Worker threads decoding parts of streams' reads. The job queue is
/// bounded ([`QUEUED_PER_WORKER`] per worker): when it is full the pool
/// refuses the job and the stream decodes the part itself, so a busy pool
/// slows nobody down and nothing queues without bound. The threads end when the pipeline
/// (every clone) is dropped.
#[derive(Clone)]
pub struct DecodePool {
    jobs: SyncSender<Job>,
    workers: usize,
}

impl DecodePool {
    /// Starts `workers` threads (at least one).
    pub fn new(workers: usize) -> DecodePool {
        let workers = workers.max(1);
        let (jobs, queue) = sync_channel::<Job>(workers * QUEUED_PER_WORKER);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers {
            let queue: Arc<Mutex<Receiver<Job>>> = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("hekad-decode-{i}"))
                .spawn(move || {
                    loop {
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            // A panic outside a decoder's own guard must not
                            // take the thread with it (queued jobs would then
                            // never run); the job's reply channel drops, and
                            // its stream reports the failure.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(error = %err, "Could not start a decode thread; decoding inline.");
            }
        }
        DecodePool { jobs, workers }
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Queues `job`, or hands it back when the queue is full or closed
    /// (the caller then does the work itself).
    pub(crate) fn try_run(&self, job: Job) -> Result<(), Job> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => Err(job),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pool of one worker, busy until the returned gate is sent to.
    pub(crate) fn busy_pool() -> (DecodePool, std::sync::mpsc::Sender<()>) {
        let pool = DecodePool::new(1);
        let (started_tx, started) = std::sync::mpsc::channel();
        let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
        let blocker = pool.try_run(Box::new(move || {
            let _ = started_tx.send(());
            let _ = gate_rx.recv();
        }));
        assert!(blocker.is_ok());
        started.recv().unwrap();
        (pool, gate)
    }

    #[test]
    fn a_full_pool_refuses_the_job() {
        let here = std::thread::current().id();
        let (pool, gate) = busy_pool();
        // The worker is busy: a queue's worth of jobs fill it, the next is
        // refused.
        let (done_tx, done) = std::sync::mpsc::channel();
        let mut refused = 0;
        for _ in 0..=QUEUED_PER_WORKER {
            let done_tx = done_tx.clone();
            let job = pool.try_run(Box::new(move || {
                let _ = done_tx.send(std::thread::current().id());
            }));
            if let Err(job) = job {
                refused += 1;
                job();
            }
        }
        assert_eq!(refused, 1, "the job past the queue's bound is handed back");
        assert_eq!(done.try_recv().unwrap(), here, "the caller ran it, at once");
        gate.send(()).unwrap();
        for _ in 0..QUEUED_PER_WORKER {
            assert_ne!(done.recv().unwrap(), here, "queued jobs ran on the worker");
        }
    }

    #[test]
    fn a_panicking_job_leaves_the_worker_running() {
        let pool = DecodePool::new(1);
        let (tx, rx) = std::sync::mpsc::channel();
        assert!(
            pool.try_run(Box::new(|| panic!("outside any guard")))
                .is_ok()
        );
        let here = std::thread::current().id();
        // Queued behind the panic (the queue is not full), so it runs on the
        // worker only if the worker survived.
        let queued = pool.try_run(Box::new(move || {
            let _ = tx.send(std::thread::current().id());
        }));
        assert!(queued.is_ok());
        let ran_on = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the job after a panic ran");
        assert_ne!(ran_on, here);
    }
}
