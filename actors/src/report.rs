//! Reports: every runner's statistics gathered into Heka's `heka.all-report`
//! message (a JSON payload keyed by category) and into the plain-text table
//! hekad prints on SIGUSR1. A plugin's own figures (`report_fields` on the
//! plugin traits, e.g. a sandbox's Memory and MaxInstructions) follow the
//! runner's. A [`Reporter`] gathers the report and routes it like any
//! injected message: the pipeline's handle has one, and so does every
//! output's [`crate::plugin::OutputCx`] (DashboardOutput's ticker).

use std::fmt::Write as _;
use std::sync::Arc;

use actix::Recipient;
use bytes::Bytes;
use heka_proto::{Message, MessageView};
use serde_json::{Map, Value, json};

use crate::config::{Category, Globals};
use crate::messages::Route;
use crate::pack::{Pack, PackPool};
use crate::pipeline::InjectError;
use crate::stats::{RunnerStats, StatsRow, StatsTable};

/// One metric of one plugin: name, value and Heka representation.
pub type Metric = (&'static str, u64, &'static str);

/// A snapshot of the pipeline's statistics.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `(category name, plugin name, metrics)`, categories in Heka's order.
    pub rows: Vec<(&'static str, String, Vec<Metric>)>,
}

const CATEGORIES: [(&str, &str); 7] = [
    ("globals", "Globals"),
    ("inputs", "Inputs"),
    ("splitters", "Splitters"),
    ("decoders", "Decoders"),
    ("filters", "Filters"),
    ("outputs", "Outputs"),
    ("encoders", "Encoders"),
];

impl Report {
    /// Builds a report from the pools, the router's and every runner's stats.
    pub fn gather(
        pools: [&PackPool; 2],
        router: &RunnerStats,
        rows: &[StatsRow],
        chansize: usize,
    ) -> Report {
        let mut report = Report::default();
        for pool in pools {
            report.rows.push((
                "globals",
                pool.name().to_owned(),
                vec![
                    ("InChanCapacity", pool.size() as u64, "count"),
                    (
                        "InChanLength",
                        (pool.size() - pool.in_use()) as u64,
                        "count",
                    ),
                ],
            ));
        }
        report.rows.push((
            "globals",
            "Router".to_owned(),
            vec![
                ("InChanCapacity", chansize as u64, "count"),
                (
                    "ProcessMessageCount",
                    RunnerStats::get(&router.received),
                    "count",
                ),
                ("ProcessMessageAvgDuration", router.average_ns(), "ns"),
            ],
        ));
        for row in rows {
            let s = &row.stats;
            let counts = [
                (
                    "ReceivedMessageCount",
                    RunnerStats::get(&s.received),
                    "count",
                ),
                (
                    "ProcessMessageCount",
                    RunnerStats::get(&s.processed),
                    "count",
                ),
                (
                    "ProcessMessageFailures",
                    RunnerStats::get(&s.errors),
                    "count",
                ),
                ("DroppedMessageCount", RunnerStats::get(&s.dropped), "count"),
            ];
            let metrics = match row.category {
                // Templates instantiated inside runners: no mailbox of their own.
                Category::Splitter | Category::Decoder | Category::Encoder => counts.to_vec(),
                category => {
                    let mut metrics = vec![
                        ("InChanCapacity", RunnerStats::get(&s.capacity), "count"),
                        ("InChanLength", RunnerStats::get(&s.queued), "count"),
                    ];
                    if matches!(category, Category::Filter | Category::Output) {
                        metrics.push((
                            "MatchedMessageCount",
                            RunnerStats::get(&s.matched),
                            "count",
                        ));
                    }
                    metrics.extend(counts);
                    metrics.push(("RestartCount", RunnerStats::get(&s.restarts), "count"));
                    metrics.push(("ProcessMessageAvgDuration", s.average_ns(), "ns"));
                    match category {
                        Category::Input => metrics.push((
                            "RoutedMessageCount",
                            RunnerStats::get(&s.injected),
                            "count",
                        )),
                        Category::Filter => metrics.push((
                            "InjectMessageCount",
                            RunnerStats::get(&s.injected),
                            "count",
                        )),
                        _ => {}
                    }
                    metrics
                }
            };
            let mut metrics = metrics;
            if let Some(queue) = s.queue.get() {
                metrics.extend(queue.metrics());
            }
            for extra in s.extra() {
                // The plugin's own count of a figure the runner also keeps
                // (a SandboxOutput's per-message ProcessMessageFailures) wins.
                match metrics.iter_mut().find(|m| m.0 == extra.0) {
                    Some(m) => *m = extra,
                    None => metrics.push(extra),
                }
            }
            report
                .rows
                .push((row.category.report_name(), row.name.to_string(), metrics));
        }
        report
    }

    /// The `heka.all-report` JSON payload.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        for (key, _) in CATEGORIES {
            let list: Vec<Value> = self
                .rows
                .iter()
                .filter(|(cat, _, _)| *cat == key)
                .map(|(_, name, metrics)| {
                    let mut obj = Map::new();
                    obj.insert("Name".into(), Value::String(name.clone()));
                    for (metric, value, rep) in metrics {
                        obj.insert(
                            (*metric).into(),
                            json!({ "value": value, "representation": rep }),
                        );
                    }
                    Value::Object(obj)
                })
                .collect();
            root.insert(key.into(), Value::Array(list));
        }
        Value::Object(root)
    }

    /// The `heka.all-report` message: type `heka.all-report`, logger
    /// `hekad`, payload the JSON report.
    pub fn to_message(&self, mut base: Message) -> Message {
        base.r#type = Some(Bytes::from_static(b"heka.all-report"));
        base.logger = Some(Bytes::from_static(b"hekad"));
        base.payload = Some(Bytes::from(self.to_json().to_string()));
        base
    }

    /// Heka's SIGUSR1 text table.
    pub fn to_text(&self) -> String {
        let mut out = String::from("========[heka.all-report]========\n");
        for (key, title) in CATEGORIES {
            let _ = writeln!(out, "===={title}====");
            let mut any = false;
            for (_, name, metrics) in self.rows.iter().filter(|(cat, _, _)| *cat == key) {
                any = true;
                let _ = writeln!(out, "{name}:");
                for (metric, value, _) in metrics {
                    let _ = writeln!(out, "    {metric}: {value}");
                }
            }
            if !any {
                out.push_str("NONE\n");
            }
        }
        out.push_str("========\n");
        out
    }
}

/// Gathers reports of a running pipeline and routes them through its
/// router, as packs of the inject pool (so a filter matching
/// `heka.all-report` sees them, and a full pipeline makes the caller wait
/// instead of queueing reports).
#[derive(Clone)]
pub struct Reporter {
    pools: [PackPool; 2],
    router_stats: Arc<RunnerStats>,
    stats: StatsTable,
    router: Recipient<Route>,
    globals: Arc<Globals>,
    pid: i32,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

impl Reporter {
    /// A reporter over the pipeline's pools (input, inject), router and
    /// statistics.
    pub(crate) fn new(
        pools: [PackPool; 2],
        router_stats: Arc<RunnerStats>,
        stats: StatsTable,
        router: Recipient<Route>,
        globals: Arc<Globals>,
        pid: i32,
    ) -> Reporter {
        Reporter {
            pools,
            router_stats,
            stats,
            router,
            globals,
            pid,
        }
    }

    /// A statistics snapshot of every runner, the router and the pools.
    pub fn report(&self) -> Report {
        Report::gather(
            [&self.pools[0], &self.pools[1]],
            &self.router_stats,
            &self.stats.snapshot(),
            self.globals.plugin_chansize,
        )
    }

    /// A new message with the headers hekad stamps on what it generates.
    fn base(&self) -> Message {
        crate::plugin::message_defaults(&self.globals.hostname, self.pid)
    }

    /// Routes `heka.all-report`.
    pub async fn inject_report(&self) -> Result<(), InjectError> {
        self.route(&self.report().to_message(self.base())).await
    }

    /// Routes `heka.memstat` (see [`crate::memstat`]); does nothing where
    /// the process's memory figures cannot be read.
    pub async fn inject_memstat(&self) -> Result<(), InjectError> {
        match crate::memstat::message(self.base()) {
            Some(msg) => self.route(&msg).await,
            None => Ok(()),
        }
    }

    /// Routes `msg` as if a filter had injected it: it takes a pack from
    /// the inject pool (waiting while that pool is empty) and waits while
    /// the router's mailbox is full.
    pub async fn route(&self, msg: &Message) -> Result<(), InjectError> {
        let view =
            MessageView::from_message(msg).map_err(|e| InjectError::Invalid(e.to_string()))?;
        let permit = self.pools[1]
            .acquire(1)
            .await
            .pop()
            .expect("asked for one permit");
        let pack = Arc::new(Pack::pooled(view, None, 0, permit));
        self.router
            .send(Route(vec![pack]))
            .await
            .map_err(|_| InjectError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StatsTable;

    #[test]
    fn a_plugin_s_own_figures_follow_its_runner_s() {
        let table = StatsTable::default();
        let stats = table.register(&"lua".into(), Category::Filter, &"SandboxFilter".into());
        stats.set_extra(vec![
            ("Memory", 2048, "B"),
            ("MaxInstructions", 7000, "count"),
            ("ProcessMessageFailures", 3, "count"),
        ]);
        // An empty sample (a plugin without figures) keeps what is there.
        stats.set_extra(Vec::new());
        let pools = [&PackPool::new("a", 1), &PackPool::new("b", 1)];
        let report = Report::gather(pools, &RunnerStats::default(), &table.snapshot(), 4);
        let json = report.to_json();
        let row = &json["filters"][0];
        assert_eq!(row["Name"], "lua");
        assert_eq!(row["Memory"]["value"], 2048);
        assert_eq!(row["Memory"]["representation"], "B");
        assert_eq!(row["MaxInstructions"]["value"], 7000);
        let text = report.to_text();
        assert!(text.contains("lua:\n"), "{text}");
        assert!(text.contains("    MaxInstructions: 7000\n"), "{text}");
        assert_eq!(text.matches("ProcessMessageFailures").count(), 1, "{text}");
        assert!(text.contains("    ProcessMessageFailures: 3\n"), "{text}");
    }
}
