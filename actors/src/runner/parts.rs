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
