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

/// What a worker hands back: the spare decoder it used, the packs, and
/// how decoding ended.
type Decoded = (Box<dyn Decoder>, Vec<PackRef>, Result<(), PluginError>);

/// A part's records and the spare decoder for them, taken by whoever
/// decodes the part first.
type Claim = Mutex<Option<(Vec<Record>, Box<dyn Decoder>)>>;

/// One read's records, cut into parts, and the producer's Ack its packs
/// will hold (`StreamSink::flush_acked`'s `mark`).
pub(crate) struct Read {
    pub parts: VecDeque<Part>,
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

/// Cuts `records` into parts of `size` and offers them to `pool` in order,
/// each with a spare decoder (`spares`, else one from `build`). Parts the
/// pool refuses (its queue is full), and any after them, stay with the
/// stream.
pub(crate) fn offer(
    pool: &DecodePool,
    spares: &mut Vec<Box<dyn Decoder>>,
    build: &dyn Fn() -> Result<Box<dyn Decoder>, crate::plugin::BuildError>,
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
        let spare = match spares.pop() {
            Some(spare) => spare,
            None => match build() {
                Ok(spare) => spare,
                Err(err) => {
                    // Built once already, so this should not happen; the
                    // stream's own decoder takes what is left.
                    tracing::warn!(plugin = %decoding.settings.input, error = %err, "Could not build a decoder for a parallel part.");
                    refused = true;
                    parts.push_back(Part::Local(part));
                    continue;
                }
            },
        };
        let claim = Arc::new(Mutex::new(Some((part, spare))));
        let (tx, reply) = oneshot::channel();
        let (job_claim, job_decoding) = (Arc::clone(&claim), decoding.clone());
        let job = Box::new(move || {
            let Some((records, mut spare)) = take(&job_claim) else {
                // The stream got to it first.
                return;
            };
            let mut packs = Vec::with_capacity(records.len());
            let result = job_decoding.run(Some(&mut spare), records, &mut packs);
            let _ = tx.send((spare, packs, result));
        });
        match pool.try_run(job) {
            Ok(()) => parts.push_back(Part::Offered { claim, reply }),
            Err(job) => {
                drop(job);
                refused = true;
                match take(&claim) {
                    Some((part, spare)) => {
                        spares.push(spare);
                        parts.push_back(Part::Local(part));
                    }
                    // Unreachable: a refused job never ran.
                    None => parts.push_back(Part::Offered { claim, reply }),
                }
            }
        }
    }
    parts
}

/// Decodes `part` here if nobody has yet: a local part with the stream's
/// own `decoder`, an offered one the pool has not started with the spare
/// it carries (returned to `spares`). False when the part is decoded
/// already or a worker is on it.
pub(crate) fn decode_here(
    part: &mut Part,
    decoding: &Decoding,
    decoder: Option<&mut Box<dyn Decoder>>,
    spares: Option<&mut Vec<Box<dyn Decoder>>>,
) -> bool {
    let mut packs = Vec::new();
    let result = match part {
        Part::Done { .. } => return false,
        Part::Local(records) => {
            packs.reserve(records.len());
            decoding.run(decoder, std::mem::take(records), &mut packs)
        }
        Part::Offered { claim, .. } => {
            let Some((records, mut spare)) = take(claim) else {
                return false;
            };
            packs.reserve(records.len());
            let result = decoding.run(Some(&mut spare), records, &mut packs);
            if let Some(spares) = spares {
                spares.push(spare);
            }
            result
        }
    };
    *part = Part::Done { packs, result };
    true
}

fn take(claim: &Claim) -> Option<(Vec<Record>, Box<dyn Decoder>)> {
    // Poisoned only by a panic while holding the lock, which does nothing
    // but take the value.
    claim.lock().unwrap_or_else(PoisonError::into_inner).take()
}
