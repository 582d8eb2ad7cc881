//! Acknowledgements: how a producer learns that what it handed to the
//! pipeline is safe. A producer (LogstreamerInput's stream, TcpInput in ack
//! mode, a disk queue's reader) opens a [`Tracker`] and, for each batch it
//! routes, takes an [`Ack`] marking the position the batch ends at
//! ([`Tracker::mark`]). Every pack of the batch holds a clone of the Ack
//! (`Pack::ack`); a pack drops once every filter and output it matched
//! handled it (an output after writing it, a buffered plugin after its disk
//! queue took it), so when the last clone drops the batch is safe.
//! [`Tracker::settled`] then gives the newest position up to which every
//! batch is safe, in order: a producer checkpoints there and, after a crash,
//! replays from there, skipping nothing.
//!
//! Marks complete out of order (one output may be slower than another) but
//! settle in order. How many are open at once is bounded by the producer:
//! each holds at least one pooled pack or is settled as soon as the producer
//! drops its own clone.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// A batch's claim on its tracker: cloned into every pack of the batch.
/// The batch counts as handled once every clone is dropped.
#[derive(Debug, Clone)]
pub struct Ack {
    // Only ever dropped: the drop is the acknowledgement.
    _mark: Arc<Mark>,
}

#[derive(Debug)]
struct Mark {
    seq: u64,
    shared: Arc<Shared>,
    failed: std::sync::atomic::AtomicBool,
}

impl Drop for Mark {
    fn drop(&mut self) {
        if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            // Never settles: the producer's position stays before it.
            return;
        }
        let mut ring = self.shared.lock();
        let index = (self.seq - ring.first) as usize;
        if let Some(done) = ring.done.get_mut(index) {
            *done = true;
        }
        drop(ring);
        self.shared.notify.notify_waiters();
    }
}

#[derive(Debug, Default)]
struct Ring {
    /// The sequence number of `done[0]`.
    first: u64,
    /// One flag per open mark, oldest first.
    done: VecDeque<bool>,
}

#[derive(Debug, Default)]
struct Shared {
    ring: Mutex<Ring>,
    notify: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding this lock leaves the flags consistent
        // (each update is one assignment), so poisoning is ignored.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Positions of type `P` (a file offset, a record count, a queue cursor),
/// settled in the order they were marked.
#[derive(Debug)]
pub struct Tracker<P> {
    shared: Arc<Shared>,
    next: u64,
    positions: VecDeque<P>,
}

impl Ack {
    /// Says that a pack holding this Ack was dropped without being handled
    /// (an output gave up on it at shutdown): the mark then never settles,
    /// so the producer never checkpoints past it and replays it after a
    /// restart. Waiting for it ([`Tracker::wait_all`]) times out.
    pub fn fail(&self) {
        self._mark
            .failed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// True when `self` and `other` are clones of one mark (a batch's
    /// packs share one), so a holder keeps one of them.
    pub fn same(&self, other: &Ack) -> bool {
        Arc::ptr_eq(&self._mark, &other._mark)
    }
}

impl<P> Default for Tracker<P> {
    fn default() -> Self {
        Tracker {
            shared: Arc::default(),
            next: 0,
            positions: VecDeque::new(),
        }
    }
}

impl<P> Tracker<P> {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a mark: `position` is reached once every pack holding the
    /// returned Ack (or a clone) was handled, and every earlier mark too.
    pub fn mark(&mut self, position: P) -> Ack {
        let seq = self.next;
        self.next += 1;
        self.shared.lock().done.push_back(false);
        self.positions.push_back(position);
        Ack {
            _mark: Arc::new(Mark {
                seq,
                shared: Arc::clone(&self.shared),
                failed: Default::default(),
            }),
        }
    }

    /// The newest position every batch up to which was handled, if any mark
    /// settled since the last call.
    pub fn settled(&mut self) -> Option<P> {
        let mut ring = self.shared.lock();
        let mut newest = None;
        while ring.done.front() == Some(&true) {
            ring.done.pop_front();
            ring.first += 1;
            newest = self.positions.pop_front();
        }
        newest
    }

    /// A handle that wakes on every completion while the tracker itself is
    /// borrowed elsewhere (a connection's reader marks while its writer
    /// waits for acknowledgements to send; see [`Completions::until`]).
    pub fn completions(&self) -> Completions {
        Completions {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Marks not settled yet.
    pub fn pending(&self) -> usize {
        self.positions.len()
    }

    /// Waits until every open mark completed (then [`Tracker::settled`]
    /// returns the last one), or `limit` passed. True when all completed.
    pub async fn wait_all(&self, limit: std::time::Duration) -> bool {
        self.wait_until(limit, |ring| ring.done.iter().all(|&done| done))
            .await
    }

    /// Waits until the oldest open mark completed (so [`Tracker::settled`]
    /// has news), or `limit` passed; true in the first case. A producer
    /// bounding what it has in flight waits here for room.
    pub async fn wait_settled(&self, limit: std::time::Duration) -> bool {
        self.wait_until(limit, |ring| ring.done.front() == Some(&true))
            .await
    }

    async fn wait_until(&self, limit: std::time::Duration, ready: fn(&Ring) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a drop in between still wakes us.
            notified.as_mut().enable();
            if ready(&self.shared.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

/// Wakes its owner when marks of a [`Tracker`] complete.
#[derive(Debug, Clone)]
pub struct Completions {
    shared: Arc<Shared>,
}

impl Completions {
    /// Calls `ready` now and again after each mark completes, until it
    /// returns a value. `ready` typically borrows the tracker for a moment
    /// and asks [`Tracker::settled`]; no completion between the call and
    /// the wait is missed.
    pub async fn until<T>(&self, mut ready: impl FnMut() -> Option<T>) -> T {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a drop in between still wakes us.
            notified.as_mut().enable();
            if let Some(value) = ready() {
                return value;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn positions_settle_in_order_whatever_order_acks_drop() {
        let mut tracker = Tracker::new();
        let a = tracker.mark(10);
        let b = tracker.mark(20);
        let c = tracker.mark(30);
        let b2 = b.clone();
        drop(c);
        assert_eq!(tracker.settled(), None, "30 is done but 10 and 20 are not");
        drop(a);
        assert_eq!(tracker.settled(), Some(10));
        drop(b);
        assert_eq!(tracker.settled(), None, "a clone of 20's ack is still held");
        assert_eq!(tracker.pending(), 2);
        drop(b2);
        assert_eq!(tracker.settled(), Some(30));
        assert_eq!(tracker.settled(), None);
        assert_eq!(tracker.pending(), 0);
    }

    #[test]
    fn acks_may_outlive_and_cross_threads() {
        let mut tracker = Tracker::new();
        let acks: Vec<Ack> = (0..100).map(|i| tracker.mark(i)).collect();
        let handles: Vec<_> = acks
            .into_iter()
            .rev()
            .map(|ack| std::thread::spawn(move || drop(ack)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(tracker.settled(), Some(99));
        drop(tracker);
    }

    #[test]
    fn a_failed_mark_never_settles_and_holds_back_later_ones() {
        let mut tracker = Tracker::new();
        let (a, b, c) = (tracker.mark(1), tracker.mark(2), tracker.mark(3));
        drop(a);
        b.fail();
        drop(b);
        drop(c);
        assert_eq!(tracker.settled(), Some(1));
        assert_eq!(tracker.settled(), None, "2 was dropped unhandled");
        assert_eq!(tracker.pending(), 2);
    }

    #[tokio::test]
    async fn wait_settled_waits_for_the_oldest_mark_only() {
        let mut tracker = Tracker::new();
        let (a, b) = (tracker.mark(1u8), tracker.mark(2u8));
        assert!(a.same(&a.clone()) && !a.same(&b));
        drop(b);
        assert!(!tracker.wait_settled(Duration::from_millis(20)).await);
        drop(a);
        assert!(tracker.wait_settled(Duration::from_secs(5)).await);
        assert_eq!(tracker.settled(), Some(2));
    }

    #[tokio::test]
    async fn wait_all_returns_when_the_last_ack_drops() {
        let mut tracker = Tracker::new();
        let ack = tracker.mark(1u8);
        assert!(!tracker.wait_all(Duration::from_millis(20)).await);
        let dropper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(ack);
        });
        assert!(tracker.wait_all(Duration::from_secs(5)).await);
        dropper.await.unwrap();
        assert_eq!(tracker.settled(), Some(1));
    }

    #[tokio::test]
    async fn completions_wake_a_waiter_while_the_tracker_is_shared() {
        let tracker = std::rc::Rc::new(std::cell::RefCell::new(Tracker::new()));
        let completions = tracker.borrow().completions();
        let first = tracker.borrow_mut().mark(5u64);
        let second = tracker.borrow_mut().mark(9u64);
        let dropper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(second);
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(first);
        });
        let settled = tokio::time::timeout(
            Duration::from_secs(5),
            completions.until(|| tracker.borrow_mut().settled()),
        )
        .await
        .expect("woken when the older mark completes");
        assert_eq!(settled, 9, "both marks settle at once, newest wins");
        dropper.await.unwrap();
    }
}
