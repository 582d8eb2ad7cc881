//! How StatsdInput and StatFilter reach a StatAccumInput: a process-wide
//! table from the accumulator's instance name to the sending half of its
//! bounded queue (Heka's `PluginHelper.StatAccumulator(name)`).
//!
//! - A StatAccumInput registers when it is built, so the queue exists
//!   before any plugin starts (Heka starts filters before inputs), and
//!   unregisters when dropped; a rebuilt one (restart) replaces the entry.
//! - The queue holds `poolsize` batches (one datagram's or one message's
//!   stats each). A full queue makes an async sender wait and a filter get
//!   "full" (it answers Retry), so a slow accumulator slows its feeders:
//!   nothing queues without bound and nothing is dropped for being fast.
//! - A process-wide table is a global, which the house style avoids; it is
//!   the only channel between plugins the runtime does not wire, and hekad
//!   runs one pipeline per process. Tests that run several pipelines in one
//!   process give their accumulators distinct names.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use tokio::sync::mpsc::{self, Receiver, Sender, error::TrySendError};

use super::stat::Stat;

/// What travels through an accumulator's queue.
pub type StatBatch = Vec<Stat>;

static ACCUMULATORS: LazyLock<Mutex<HashMap<String, Sender<StatBatch>>>> =
    LazyLock::new(Default::default);

fn table() -> std::sync::MutexGuard<'static, HashMap<String, Sender<StatBatch>>> {
    ACCUMULATORS.lock().unwrap_or_else(|e| e.into_inner())
}

/// An accumulator's entry in the table and the receiving end of its
/// queue; dropping it removes the entry (unless a newer one replaced it).
#[derive(Debug)]
pub struct Registration {
    name: String,
    sender: Sender<StatBatch>,
    /// The queue.
    pub receiver: Receiver<StatBatch>,
}

/// Registers accumulator `name` with a queue of `capacity` batches,
/// replacing an earlier registration of that name.
pub fn register(name: &str, capacity: usize) -> Registration {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    table().insert(name.to_owned(), sender.clone());
    Registration {
        name: name.to_owned(),
        sender,
        receiver,
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut table = table();
        if table
            .get(&self.name)
            .is_some_and(|s| s.same_channel(&self.sender))
        {
            table.remove(&self.name);
        }
    }
}

/// Whether an accumulator called `name` is registered.
pub fn is_registered(name: &str) -> bool {
    table().contains_key(name)
}

fn lookup(name: &str) -> Option<Sender<StatBatch>> {
    table().get(name).cloned()
}

/// Why stats did not reach the accumulator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Undelivered {
    /// No accumulator of that name is running (never configured, or
    /// stopped at shutdown).
    #[error("no StatAccumInput named `{0}` is running")]
    NotRunning(String),
    /// The queue is full (only from [`StatSender::try_send`]).
    #[error("StatAccumInput `{0}` is busy")]
    Full(String),
}

/// A feeder's handle on one accumulator, found by name on first use and
/// found again if the accumulator was rebuilt.
#[derive(Debug)]
pub struct StatSender {
    name: String,
    sender: Option<Sender<StatBatch>>,
}

impl StatSender {
    /// A handle on the accumulator called `name`.
    pub fn new(name: &str) -> StatSender {
        StatSender {
            name: name.to_owned(),
            sender: None,
        }
    }

    /// The accumulator's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn current(&mut self) -> Option<Sender<StatBatch>> {
        if self.sender.as_ref().is_none_or(Sender::is_closed) {
            self.sender = lookup(&self.name);
        }
        self.sender.clone()
    }

    fn not_running(&mut self) -> Undelivered {
        self.sender = None;
        Undelivered::NotRunning(self.name.clone())
    }

    /// Sends `batch`, waiting while the queue is full.
    pub async fn send(&mut self, batch: StatBatch) -> Result<(), Undelivered> {
        let Some(sender) = self.current() else {
            return Err(self.not_running());
        };
        match sender.send(batch).await {
            Ok(()) => Ok(()),
            // Closed under us: a rebuilt accumulator may have replaced it.
            Err(mpsc::error::SendError(batch)) => match self.current() {
                Some(fresh) if !fresh.same_channel(&sender) => {
                    fresh.send(batch).await.map_err(|_| self.not_running())
                }
                _ => Err(self.not_running()),
            },
        }
    }

    /// Sends `batch` if the queue has room now.
    pub fn try_send(&mut self, batch: StatBatch) -> Result<(), Undelivered> {
        let Some(sender) = self.current() else {
            return Err(self.not_running());
        };
        match sender.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Undelivered::Full(self.name.clone())),
            Err(TrySendError::Closed(batch)) => match self.current() {
                Some(fresh) if !fresh.same_channel(&sender) => match fresh.try_send(batch) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(_)) => Err(Undelivered::Full(self.name.clone())),
                    Err(TrySendError::Closed(_)) => Err(self.not_running()),
                },
                _ => Err(self.not_running()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::stat::StatKind;
    use super::*;

    fn batch(n: usize) -> StatBatch {
        (0..n)
            .map(|i| Stat {
                bucket: format!("b{i}"),
                kind: StatKind::Timer(1.0),
            })
            .collect()
    }

    #[tokio::test]
    async fn feeders_find_the_accumulator_by_name() {
        let mut reg = register("registry-test-find", 4);
        let mut sender = StatSender::new("registry-test-find");
        sender.send(batch(2)).await.unwrap();
        sender.try_send(batch(1)).unwrap();
        assert_eq!(reg.receiver.recv().await.unwrap().len(), 2);
        assert_eq!(reg.receiver.recv().await.unwrap().len(), 1);
        drop(reg);
        assert!(!is_registered("registry-test-find"));
        let err = sender.send(batch(1)).await.unwrap_err();
        assert_eq!(err, Undelivered::NotRunning("registry-test-find".into()));
    }

    #[tokio::test]
    async fn a_full_queue_is_reported_or_waited_for() {
        let mut reg = register("registry-test-full", 1);
        let mut sender = StatSender::new("registry-test-full");
        sender.try_send(batch(1)).unwrap();
        assert!(matches!(
            sender.try_send(batch(1)),
            Err(Undelivered::Full(_))
        ));
        // An async send waits until the accumulator takes one.
        let send = sender.send(batch(3));
        let (sent, first) = tokio::join!(send, async { reg.receiver.recv().await });
        sent.unwrap();
        assert_eq!(first.unwrap().len(), 1);
        assert_eq!(reg.receiver.recv().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_rebuilt_accumulator_replaces_the_old_one() {
        let old = register("registry-test-rebuilt", 2);
        let mut sender = StatSender::new("registry-test-rebuilt");
        sender.try_send(batch(1)).unwrap();
        let mut new = register("registry-test-rebuilt", 2);
        drop(old);
        assert!(is_registered("registry-test-rebuilt"));
        sender.send(batch(5)).await.unwrap();
        assert_eq!(new.receiver.recv().await.unwrap().len(), 5);
    }
}
