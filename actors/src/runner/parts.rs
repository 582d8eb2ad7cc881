//! Reads in flight: what a stream cut from one read of its input, as parts
//! on their way through decoding, in record order, until the sink routes
//! them (see `sink.rs`). A stream whose decoder is stateless offers each
//! part to the [`DecodePool`]; whoever claims a part first decodes it (a
//! worker, or the stream itself when the part's turn to be routed comes,
//! or earlier, while it would otherwise wait), so the stream never waits
//! for a part still sitting in the pool's queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::ack::Ack;
use crate::pack::PackRef;
use crate::plugin::{Decoder, PluginError};
use crate::runner::decode::{DecodePool, Decoding, Record};

/// What a worker hands back: the packs, and how decoding ended.
pub(crate) type Decoded = (Vec<PackRef>, Result<(), PluginError>);

/// A part's records, taken by whoever decodes the part first.
type Claim = Mutex<Option<Vec<Record>>>;

/// A stream's spare decoder instances, one per worker that may decode one
/// of its parts at once (not one per part in flight: each instance keeps
/// its own regex caches, a few hundred KiB, and a worker only needs one
/// while it runs a part).
pub(crate) type Spares = Arc<Mutex<Vec<Box<dyn Decoder>>>>;

/// One read's records, cut into parts, and the producer's Ack its packs
/// will hold (`StreamSink::flush_acked`'s `mark`).
pub(crate) struct Read {
    pub parts: VecDeque<Part>,
    /// How many records the read holds.
    pub records: usize,
    pub ack: Option<Ack>,
    /// The headers and settings of the read's records, as they were when it
    /// was cut (an input may change them between reads).
    pub decoding: Decoding,
}

impl Read {
    /// Says that this read will never be handled in full (a failure, or the
    /// stream dropped with the read in flight): its producer's position
    /// stays before it.
    pub fn abandon(&mut self) {
        self.parts.clear();
        if let Some(ack) = self.ack.take() {
            ack.fail();
        }
    }
}

/// A part of a read on its way to the router.
pub(crate) enum Part {
    /// To be decoded by the stream, with its own decoder, in record order.
    Local(Vec<Record>),
    /// Offered to the pool; `reply` answers once a worker decoded it, unless
    /// the stream claimed it first.
    Offered {
        claim: Arc<Claim>,
        reply: oneshot::Receiver<Decoded>,
    },
    /// Decoded, waiting for its turn to be routed.
    Done {
        packs: Vec<PackRef>,
        result: Result<(), PluginError>,
    },
}

/// Cuts `records` into parts of `size` and offers them to `pool` in order.
/// A worker decodes a part with one of the stream's `spares`. Parts the
/// pool refuses (its queue is full), and any after them, stay with the
/// stream.
pub(crate) fn offer(
    pool: &DecodePool,
    spares: &Spares,
    decoding: &Decoding,
    mut records: Vec<Record>,
    size: usize,
) -> VecDeque<Part> {
    let mut parts = VecDeque::with_capacity(records.len().div_ceil(size));
    let mut refused = false;
    while !records.is_empty() {
        let rest = records.split_off(size.min(records.len()));
        let part = std::mem::replace(&mut records, rest);
        if refused {
            parts.push_back(Part::Local(part));
            continue;
        }
        let claim = Arc::new(Mutex::new(Some(part)));
        let (tx, reply) = oneshot::channel();
        let (job_claim, job_spares) = (Arc::clone(&claim), Arc::clone(spares));
        let job_decoding = decoding.clone();
        let job = Box::new(move || {
            // No spare free (should not happen: one per worker): the part
            // stays claimable and the stream decodes it.
            let Some(mut spare) = lock(&job_spares).pop() else {
                return;
            };
            let Some(records) = lock(&job_claim).take() else {
                // The stream got to it first.
                lock(&job_spares).push(spare);
                return;
            };
            let mut packs = Vec::with_capacity(records.len());
            let result = job_decoding.run(Some(&mut spare), records, &mut packs);
            lock(&job_spares).push(spare);
            let _ = tx.send((packs, result));
        });
        match pool.try_run(job) {
            Ok(()) => parts.push_back(Part::Offered { claim, reply }),
            Err(job) => {
                drop(job);
                refused = true;
                match lock(&claim).take() {
                    Some(part) => parts.push_back(Part::Local(part)),
                    // Unreachable: a refused job never ran.
                    None => parts.push_back(Part::Offered {
                        claim: Arc::clone(&claim),
                        reply,
                    }),
                }
            }
        }
    }
    parts
}

/// Decodes `part` here, with the stream's own `decoder`, if nobody has
/// yet. False when the part is decoded already or a worker is on it.
pub(crate) fn decode_here(
    part: &mut Part,
    decoding: &Decoding,
    decoder: Option<&mut Box<dyn Decoder>>,
) -> bool {
    let records = match part {
        Part::Done { .. } => return false,
        Part::Local(records) => std::mem::take(records),
        Part::Offered { claim, .. } => match lock(claim).take() {
            Some(records) => records,
            None => return false,
        },
    };
    let mut packs = Vec::with_capacity(records.len());
    let result = decoding.run(decoder, records, &mut packs);
    *part = Part::Done { packs, result };
    true
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoned only by a panic while holding the lock, which does nothing
    // but take or put a value.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Incoming;
    use crate::runner::decode::TextHeader;
    use crate::runner::stream::{Settings, StreamStats};
    use bytes::Bytes;
    use heka_proto::MessageView;

    /// Text records as they are, counting every record it decodes.
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);

    impl Decoder for Counting {
        fn decode(
            &mut self,
            input: Incoming,
            out: &mut Vec<MessageView>,
        ) -> Result<(), PluginError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            out.push(input.into_message()?);
            Ok(())
        }
    }

    fn decoding() -> Decoding {
        Decoding {
            settings: Arc::new(Settings {
                input: "in".into(),
                hostname: "host".into(),
                max_record: 1 << 20,
                keep_truncated: false,
                deliver_incomplete_final: false,
                send_decode_failures: false,
                log_decode_failures: false,
            }),
            stats: Arc::new(StreamStats {
                input: Arc::default(),
                splitter: Arc::default(),
                decoder: None,
            }),
            header: Arc::new(TextHeader::new("host", "in", None, None, &[])),
            message_bytes: false,
        }
    }

    fn records(range: std::ops::Range<usize>) -> Vec<Record> {
        range.map(|n| (Bytes::from(n.to_string()), None)).collect()
    }

    fn payloads(part: &Part) -> Vec<String> {
        match part {
            Part::Done { packs, result } => {
                assert!(result.is_ok());
                let text = |p: &PackRef| String::from_utf8_lossy(p.message.payload()).into_owned();
                packs.iter().map(text).collect()
            }
            _ => panic!("not decoded"),
        }
    }

    /// With the only worker busy, the first parts wait in the queue and the
    /// rest are refused: the stream decodes every part itself (taking back
    /// the queued ones), and the worker, once free, skips what was taken.
    #[test]
    fn the_stream_takes_back_queued_parts_and_keeps_refused_ones() {
        let (pool, gate) = crate::runner::decode::tests::busy_pool();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let spares: Spares = Arc::new(Mutex::new(vec![Box::new(Counting(Arc::clone(&count)))]));
        let queued = crate::runner::decode::QUEUED_PER_WORKER;
        let decoding = decoding();
        let mut parts = offer(&pool, &spares, &decoding, records(0..100), 10);
        assert_eq!(parts.len(), 10);
        let offered = parts
            .iter()
            .filter(|p| matches!(p, Part::Offered { .. }))
            .count();
        assert_eq!(offered, queued, "the queue's worth offered, the rest kept");
        let mut own: Box<dyn Decoder> = Box::new(Counting(Arc::clone(&count)));
        for part in parts.iter_mut() {
            assert!(decode_here(part, &decoding, Some(&mut own)));
            assert!(!decode_here(part, &decoding, Some(&mut own)), "once");
        }
        gate.send(()).unwrap();
        // The worker ran the queued jobs after the blocker: each found its
        // part taken and decoded nothing.
        let (done_tx, done) = std::sync::mpsc::channel();
        while pool
            .try_run(Box::new({
                let done_tx = done_tx.clone();
                move || {
                    let _ = done_tx.send(());
                }
            }))
            .is_err()
        {
            std::thread::yield_now();
        }
        done.recv_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 100);
        let got: Vec<String> = parts.iter().flat_map(payloads).collect();
        let want: Vec<String> = (0..100).map(|n| n.to_string()).collect();
        assert_eq!(got, want);
    }

    /// A failed read's Ack never settles, so its producer's position stays
    /// before it; a read dropped once routed settles.
    #[test]
    fn an_abandoned_read_fails_its_ack() {
        for abandon in [false, true] {
            let mut tracker = crate::ack::Tracker::new();
            let mut read = Read {
                parts: VecDeque::from([Part::Local(records(0..3))]),
                records: 3,
                ack: Some(tracker.mark(7)),
                decoding: decoding(),
            };
            if abandon {
                read.abandon();
            }
            drop(read);
            let want = (!abandon).then_some(7);
            assert_eq!(tracker.settled(), want, "abandoned: {abandon}");
        }
    }
}
