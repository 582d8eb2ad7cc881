//! StatAccumInput: where statsd-style stats from StatsdInput and StatFilter
//! meet. It registers a bounded queue under its name when built (see
//! [`super::registry`]), adds what arrives to an [`Accumulator`], and every
//! `ticker_interval` seconds (10 by default) routes one message of Type
//! `message_type` ("heka.statmetric") whose payload holds the graphite
//! lines (`emit_in_payload`, default true) and/or whose fields hold the
//! same figures (`emit_in_fields`), with Logger = the input's name and
//! hekad's hostname and pid. A message goes out every tick, even an empty
//! one (numStats 0), as in Heka; at shutdown the queue is drained and one
//! last roll-up is routed.
//!
//! Defaults are Heka 0.10's code: `legacy_namespaces` false (its docs agree)
//! and `delete_idle_stats` false (its docs say true at one place; the code
//! won). `percent_threshold` is a list (`[90]`); a single integer, the older
//! form, is accepted too. A `ticker_interval` of 0 and turning both
//! `emit_in_*` off are configuration errors, as in Heka.
//!
//! Stats refused by the accumulator's bounds are counted as dropped in the
//! input's report row and logged once per roll-up.

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::now_ns;
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, message_defaults,
};
use heka_actors::stats::RunnerStats;
use heka_proto::MessageView;
use serde::Deserialize;
use tokio::time::{Duration, Instant};

use super::accum::{Accumulator, Layout};
use super::registry::{self, Registration, StatBatch};

/// Seconds between roll-ups when `ticker_interval` is not set.
pub const DEFAULT_TICKER_INTERVAL: u64 = 10;
/// The Type of the roll-up messages when `message_type` is not set.
pub const DEFAULT_MESSAGE_TYPE: &str = "heka.statmetric";

/// `percent_threshold`: a list, or Heka's older single integer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Thresholds {
    /// `percent_threshold = 95`.
    One(u32),
    /// `percent_threshold = [90, 99]`.
    Many(Vec<u32>),
}

/// StatAccumInput's options (Heka's names and defaults; `ticker_interval`
/// is the common key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatAccumInputConfig {
    /// Graphite plaintext lines in the payload (default true).
    #[serde(default = "yes")]
    pub emit_in_payload: bool,
    /// Typed fields (default false).
    #[serde(default)]
    pub emit_in_fields: bool,
    /// Percentiles for `mean_N`/`upper_N` (default `[90]`).
    #[serde(default = "default_thresholds")]
    pub percent_threshold: Thresholds,
    /// Type of the roll-up messages.
    #[serde(default = "default_message_type")]
    pub message_type: String,
    /// statsd's older counter names (default false).
    #[serde(default)]
    pub legacy_namespaces: bool,
    /// Prefix of every name (default "stats").
    #[serde(default = "default_global_prefix")]
    pub global_prefix: String,
    /// Counter namespace (default "counters").
    #[serde(default = "default_counter_prefix")]
    pub counter_prefix: String,
    /// Timer namespace (default "timers").
    #[serde(default = "default_timer_prefix")]
    pub timer_prefix: String,
    /// Gauge namespace (default "gauges").
    #[serde(default = "default_gauge_prefix")]
    pub gauge_prefix: String,
    /// Namespace of numStats (default "statsd").
    #[serde(default = "default_statsd_prefix")]
    pub statsd_prefix: String,
    /// Forget stats that got nothing in an interval (default false).
    #[serde(default)]
    pub delete_idle_stats: bool,
}

fn yes() -> bool {
    true
}
fn default_thresholds() -> Thresholds {
    Thresholds::Many(vec![90])
}
fn default_message_type() -> String {
    DEFAULT_MESSAGE_TYPE.into()
}
fn default_global_prefix() -> String {
    "stats".into()
}
fn default_counter_prefix() -> String {
    "counters".into()
}
fn default_timer_prefix() -> String {
    "timers".into()
}
fn default_gauge_prefix() -> String {
    "gauges".into()
}
fn default_statsd_prefix() -> String {
    "statsd".into()
}

/// Heka's StatAccumInput.
pub struct StatAccumInput {
    layout: Layout,
    message_type: String,
    hostname: String,
    queue: Registration,
    acc: Accumulator,
    /// Stats refused since the last roll-up (logged with it).
    refused: u64,
}

impl StatAccumInput {
    /// Factory for the catalogue; registers the accumulator's queue.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let config: StatAccumInputConfig = crate::plugins::options(spec)?;
        let layout = layout(spec, &config)?;
        Ok(Box::new(StatAccumInput {
            layout,
            message_type: config.message_type,
            hostname: globals.hostname.clone(),
            queue: registry::register(&spec.name, globals.poolsize),
            acc: Accumulator::default(),
            refused: 0,
        }))
    }

    fn add(&mut self, cx: &InputCx, batch: StatBatch) {
        RunnerStats::add(&cx.stats().received, batch.len() as u64);
        for stat in batch {
            if self.acc.add(stat).is_err() {
                self.refused += 1;
            }
        }
    }

    async fn roll_up(&mut self, cx: &InputCx) -> Result<(), PluginError> {
        if self.refused > 0 {
            RunnerStats::add(&cx.stats().dropped, self.refused);
            tracing::warn!(plugin = %cx.name(), stats = self.refused, "Stats dropped: the accumulator's bounds were reached.");
            self.refused = 0;
        }
        let now = now_ns();
        let roll = self
            .acc
            .roll_up(&self.layout, now.div_euclid(1_000_000_000));
        let mut msg = message_defaults(&self.hostname, std::process::id() as i32);
        msg.timestamp = now;
        msg.logger = Some(Bytes::copy_from_slice(cx.name().as_bytes()));
        msg.r#type = Some(Bytes::copy_from_slice(self.message_type.as_bytes()));
        msg.payload = Some(Bytes::from(roll.payload));
        msg.fields = roll.fields;
        let view =
            MessageView::from_message(&msg).map_err(|e| PluginError::message(e.to_string()))?;
        cx.deliver(vec![view]).await
    }
}

/// Checks the options and turns them into a [`Layout`].
pub fn layout(spec: &PluginSpec, config: &StatAccumInputConfig) -> Result<Layout, BuildError> {
    let ticker_interval = spec
        .common
        .ticker_interval
        .unwrap_or(DEFAULT_TICKER_INTERVAL);
    if ticker_interval == 0 {
        return Err(BuildError::invalid(
            spec,
            "ticker_interval must be greater than 0",
        ));
    }
    if !config.emit_in_payload && !config.emit_in_fields {
        return Err(BuildError::invalid(
            spec,
            "one of emit_in_payload or emit_in_fields must be true",
        ));
    }
    let percent_threshold = match &config.percent_threshold {
        Thresholds::One(p) => vec![*p],
        Thresholds::Many(list) => list.clone(),
    };
    if let Some(bad) = percent_threshold.iter().find(|p| !(1..=100).contains(*p)) {
        return Err(BuildError::invalid(
            spec,
            format!("percent_threshold {bad} is not between 1 and 100"),
        ));
    }
    Ok(Layout {
        ticker_interval,
        percent_threshold,
        legacy_namespaces: config.legacy_namespaces,
        global_prefix: config.global_prefix.clone(),
        counter_prefix: config.counter_prefix.clone(),
        timer_prefix: config.timer_prefix.clone(),
        gauge_prefix: config.gauge_prefix.clone(),
        statsd_prefix: config.statsd_prefix.clone(),
        delete_idle_stats: config.delete_idle_stats,
        emit_in_payload: config.emit_in_payload,
        emit_in_fields: config.emit_in_fields,
    })
}

impl Input for StatAccumInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let period = Duration::from_secs(self.layout.ticker_interval);
            let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    _ = ticker.tick() => self.roll_up(&cx).await?,
                    // Never None: the registration holds a sender.
                    Some(batch) = self.queue.receiver.recv() => self.add(&cx, batch),
                }
            }
            // What feeders queued before the stop goes in the last roll-up.
            while let Ok(batch) = self.queue.receiver.try_recv() {
                self.add(&cx, batch);
            }
            self.roll_up(&cx).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> PluginSpec {
        let config =
            heka_actors::config::Config::from_str(text, std::path::Path::new("a.toml")).unwrap();
        config.plugin("acc").unwrap().clone()
    }

    fn layout_of(extra: &str) -> Result<Layout, String> {
        let s = spec(&format!("[acc]\ntype = \"StatAccumInput\"\n{extra}"));
        let config: StatAccumInputConfig =
            crate::plugins::options(&s).map_err(|e: BuildError| e.message)?;
        layout(&s, &config).map_err(|e| e.message)
    }

    #[test]
    fn defaults_are_heka_0_10_s() {
        assert_eq!(layout_of("").unwrap(), Layout::default());
        let s = spec("[acc]\ntype = \"StatAccumInput\"\n");
        let config: StatAccumInputConfig = crate::plugins::options(&s).unwrap();
        assert_eq!(config.message_type, "heka.statmetric");
    }

    #[test]
    fn thresholds_take_a_list_or_one_number() {
        let many = layout_of("percent_threshold = [50, 99]").unwrap();
        assert_eq!(many.percent_threshold, [50, 99]);
        let one = layout_of("percent_threshold = 95").unwrap();
        assert_eq!(one.percent_threshold, [95]);
        assert!(layout_of("percent_threshold = [0]").is_err());
        assert!(layout_of("percent_threshold = [101]").is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(
            layout_of("ticker_interval = 0")
                .unwrap_err()
                .contains("ticker_interval")
        );
        let err = layout_of("emit_in_payload = false").unwrap_err();
        assert!(err.contains("emit_in_fields"), "{err}");
        assert!(layout_of("emit_in_payload = false\nemit_in_fields = true").is_ok());
        assert!(layout_of("bogus = 1").is_err());
    }

    #[test]
    fn building_registers_the_queue_and_dropping_removes_it() {
        let mut named = spec("[acc]\ntype = \"StatAccumInput\"\n");
        named.name = "accum-input-test".into();
        let input = StatAccumInput::build(&named, &Globals::default()).unwrap();
        assert!(registry::is_registered("accum-input-test"));
        drop(input);
        assert!(!registry::is_registered("accum-input-test"));
    }
}
