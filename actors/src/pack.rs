//! Packs: a decoded message plus its encoded bytes, shared read-only by every
//! plugin it matched (`PackRef = Arc<Pack>`), and the two pools that bound how
//! many exist at once. A pack holds a pool permit; the permit returns when the
//! last reference drops, so a stalled consumer starves its producers (Heka's
//! pack-pool back pressure) instead of growing memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use heka_proto::MessageView;
use tokio::sync::Semaphore;

use crate::ack::Ack;

/// A routed message. Immutable once it reaches the router.
#[derive(Debug)]
pub struct Pack {
    /// The message, decoded over its protobuf bytes (`message.raw()`).
    pub message: MessageView,
    /// The verified signer of the record it came from, if it was signed.
    pub signer: Option<Bytes>,
    /// How many times this message chain was injected by filters.
    pub loops: u32,
    permit: Option<Permit>,
    /// The producer's claim, released when this pack is dropped (every
    /// destination handled it); see [`crate::ack`].
    ack: Option<Ack>,
}

/// A shared pack.
pub type PackRef = Arc<Pack>;

impl Pack {
    /// A pack outside any pool (tests, benchmarks, tools).
    pub fn detached(message: MessageView) -> Pack {
        Pack {
            message,
            signer: None,
            loops: 0,
            permit: None,
            ack: None,
        }
    }

    /// A pack holding a permit of `pool`.
    pub fn pooled(message: MessageView, signer: Option<Bytes>, loops: u32, permit: Permit) -> Pack {
        Pack {
            message,
            signer,
            loops,
            permit: Some(permit),
            ack: None,
        }
    }

    /// Makes a pack built outside the pool count against it (inputs box
    /// packs as they decode them and take permits when routing).
    pub(crate) fn attach(&mut self, permit: Permit) {
        self.permit = Some(permit);
    }

    /// The producer's claim this pack holds, if any: an output that keeps
    /// records after its write returned holds a clone of it (not the pack,
    /// whose pool slot goes back) until the records are written out, and a
    /// message made from this one (an output's failure message) takes a
    /// clone so the producer's position waits for it too.
    pub fn ack(&self) -> Option<&Ack> {
        self.ack.as_ref()
    }

    /// Ties this pack to a producer's mark: the mark completes only once
    /// this pack (and every other holding it) is dropped.
    pub fn set_ack(&mut self, ack: Ack) {
        self.ack = Some(ack);
    }
}

/// One slot of a [`PackPool`]; returns to the pool when dropped.
#[derive(Debug)]
pub struct Permit {
    pool: Arc<PoolInner>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.pool.in_use.fetch_sub(1, Ordering::Relaxed);
        self.pool.semaphore.add_permits(1);
    }
}

#[derive(Debug)]
struct PoolInner {
    name: &'static str,
    size: usize,
    semaphore: Semaphore,
    in_use: AtomicUsize,
}

/// A fixed number of pack slots (`poolsize`). Inputs draw from one pool and
/// filter injections from another, so filters cannot starve inputs.
#[derive(Debug, Clone)]
pub struct PackPool {
    inner: Arc<PoolInner>,
}

impl PackPool {
    /// A pool of `size` packs (at least 1).
    pub fn new(name: &'static str, size: usize) -> PackPool {
        let size = size.max(1);
        PackPool {
            inner: Arc::new(PoolInner {
                name,
                size,
                semaphore: Semaphore::new(size),
                in_use: AtomicUsize::new(0),
            }),
        }
    }

    /// Waits for `n` permits (n is capped at the pool size by the caller).
    pub async fn acquire(&self, n: usize) -> Vec<Permit> {
        let n = n.min(self.inner.size);
        let permit = self
            .inner
            .semaphore
            .acquire_many(n as u32)
            .await
            .expect("pack pools are never closed");
        permit.forget();
        self.issue(n)
    }

    /// Takes one permit if one is free right now.
    pub fn try_acquire(&self) -> Option<Permit> {
        let permit = self.inner.semaphore.try_acquire().ok()?;
        permit.forget();
        self.issue(1).pop()
    }

    fn issue(&self, n: usize) -> Vec<Permit> {
        self.inner.in_use.fetch_add(n, Ordering::Relaxed);
        (0..n)
            .map(|_| Permit {
                pool: Arc::clone(&self.inner),
            })
            .collect()
    }

    /// The pool's name in reports (`inputRecycleChan`, `injectRecycleChan`).
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The pool size.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Packs currently checked out.
    pub fn in_use(&self) -> usize {
        self.inner.in_use.load(Ordering::Relaxed)
    }
}

/// Encoded records for one output write: the records back to back in `data`,
/// each ending at the matching offset in `ends`, and the packs they came from
/// (held until the write finished, so their pool slots stay taken).
#[derive(Debug, Default)]
pub struct EncodedBatch {
    /// All encoded records, concatenated.
    pub data: Vec<u8>,
    /// End offset of each record in `data`.
    pub ends: Vec<usize>,
    /// The packs, in the same order.
    pub packs: Vec<PackRef>,
    /// 0 for the first `write` of this batch to an output instance, then
    /// 1, 2, … for each call after a `Retry` (the same bytes again). An
    /// output that keeps progress across a Retry (what it already buffered
    /// or sent) trusts it only when this is above 0.
    pub attempt: u32,
}

impl EncodedBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no record.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The records one by one.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let rec = &self.data[start..end];
            start = end;
            rec
        })
    }

    /// Empties the batch, keeping its allocation.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.packs.clear();
        self.attempt = 0;
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_return_when_packs_drop() {
        let pool = PackPool::new("input", 3);
        let permits = pool.acquire(3).await;
        assert_eq!(pool.in_use(), 3);
        assert!(pool.try_acquire().is_none());
        drop(permits);
        assert_eq!(pool.in_use(), 0);
        assert!(pool.try_acquire().is_some());
    }

    #[test]
    fn batch_records_split_at_their_ends() {
        let batch = EncodedBatch {
            data: b"onetwothree".to_vec(),
            ends: vec![3, 6, 11],
            packs: vec![],
            attempt: 0,
        };
        let recs: Vec<&[u8]> = batch.records().collect();
        assert_eq!(recs, [&b"one"[..], b"two", b"three"]);
    }
}
