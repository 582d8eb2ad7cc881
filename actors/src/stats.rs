//! Per-runner statistics: plain atomics the runner bumps once per batch and
//! the report reads at any time from any thread (the table is a DashMap),
//! plus the plugin's own figures (a sandbox's memory and limits), sampled
//! by the runner after each batch or timer call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use dashmap::DashMap;

use crate::config::Category;
use crate::report::Metric;

/// Counters of one runner (and, for inputs, of its splitters and decoders).
#[derive(Debug, Default)]
pub struct RunnerStats {
    /// Records or packs the runner received.
    pub received: AtomicU64,
    /// Packs the router matched to this runner.
    pub matched: AtomicU64,
    /// Packs (or records) fully processed.
    pub processed: AtomicU64,
    /// Messages injected (filters) or routed (inputs).
    pub injected: AtomicU64,
    /// Packs or records dropped, each also logged.
    pub dropped: AtomicU64,
    /// Plugin errors reported.
    pub errors: AtomicU64,
    /// Batches queued in the mailbox right now.
    pub queued: AtomicU64,
    /// Mailbox capacity in batches.
    pub capacity: AtomicU64,
    /// Restarts so far.
    pub restarts: AtomicU64,
    /// Total nanoseconds spent in the plugin.
    pub process_ns: AtomicU64,
    /// Plugin calls timed.
    pub process_calls: AtomicU64,
    /// The disk queue's figures, for a buffered filter or output.
    pub queue: OnceLock<Arc<QueueStats>>,
    /// The plugin's own report figures, as last sampled.
    extra: Mutex<Vec<Metric>>,
}

/// The figures of a buffered plugin's disk queue (see [`crate::queue`]),
/// reported on the plugin's row.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Bytes in the queue's segment files.
    pub bytes: AtomicU64,
    /// Records queued and not yet handled by the plugin.
    pub records: AtomicU64,
    /// Segment files.
    pub segments: AtomicU64,
    /// Corrupt ranges and undecodable records skipped.
    pub corruptions: AtomicU64,
    /// Failed appends (a full disk, an IO error).
    pub write_errors: AtomicU64,
}

impl QueueStats {
    /// The report figures.
    pub fn metrics(&self) -> [Metric; 5] {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("QueueBytes", get(&self.bytes), "B"),
            ("QueueRecords", get(&self.records), "count"),
            ("QueueSegments", get(&self.segments), "count"),
            ("QueueCorruptions", get(&self.corruptions), "count"),
            ("QueueWriteErrors", get(&self.write_errors), "count"),
        ]
    }
}

impl RunnerStats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Average plugin time per call in ns (0 before the first call).
    pub fn average_ns(&self) -> u64 {
        let calls = Self::get(&self.process_calls);
        Self::get(&self.process_ns).checked_div(calls).unwrap_or(0)
    }

    /// Replaces the plugin's own figures (an empty list, what most
    /// plugins report, changes nothing and takes no lock).
    pub fn set_extra(&self, fields: Vec<Metric>) {
        if !fields.is_empty() {
            *self.extra.lock().unwrap_or_else(|e| e.into_inner()) = fields;
        }
    }

    /// The plugin's own figures, as last sampled.
    pub fn extra(&self) -> Vec<Metric> {
        self.extra.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A batch of `n` left the mailbox (queued -1, received +n).
    pub fn took_batch(&self, n: usize) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        RunnerStats::add(&self.received, n as u64);
    }

    /// Records one timed plugin call.
    pub fn time(&self, started: std::time::Instant, items: u64) {
        Self::add(&self.process_ns, started.elapsed().as_nanos() as u64);
        Self::add(&self.process_calls, items.max(1));
    }
}

/// One row of a statistics snapshot.
#[derive(Debug, Clone)]
pub struct StatsRow {
    /// The runner's category.
    pub category: Category,
    /// Its instance name.
    pub name: Arc<str>,
    /// Its plugin type.
    pub type_name: Arc<str>,
    /// Its counters.
    pub stats: Arc<RunnerStats>,
}

/// Every runner's statistics by name, readable from any thread.
#[derive(Debug, Clone, Default)]
pub struct StatsTable {
    table: Arc<DashMap<Arc<str>, StatsRow>>,
}

impl StatsTable {
    /// Registers (or returns the existing) statistics of a runner.
    pub fn register(
        &self,
        name: &Arc<str>,
        category: Category,
        type_name: &Arc<str>,
    ) -> Arc<RunnerStats> {
        self.table
            .entry(Arc::clone(name))
            .or_insert_with(|| StatsRow {
                category,
                name: Arc::clone(name),
                type_name: Arc::clone(type_name),
                stats: Arc::default(),
            })
            .stats
            .clone()
    }

    /// Forgets a runner (it exited).
    pub fn remove(&self, name: &str) {
        self.table.remove(name);
    }

    /// The statistics of one runner.
    pub fn get(&self, name: &str) -> Option<Arc<RunnerStats>> {
        self.table.get(name).map(|e| e.stats.clone())
    }

    /// A snapshot sorted by category, then name.
    pub fn snapshot(&self) -> Vec<StatsRow> {
        let mut rows: Vec<StatsRow> = self.table.iter().map(|e| e.value().clone()).collect();
        rows.sort_by(|a, b| (a.category, &a.name).cmp(&(b.category, &b.name)));
        rows
    }
}
