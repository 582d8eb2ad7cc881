//! StatFilter: turns matched messages into statsd stats for a
//! StatAccumInput, as if a statsd client had sent them. Each
//! `[name.Metric.<id>]` table makes one stat per message: `type` (Counter,
//! Timer or Gauge), `name` and `value` templates where `%Type%`,
//! `%Logger%`, `%Hostname%`, `%Payload%` or `%<field name>%` (the field's
//! first value) are replaced from the message, and `replace_dot` turns
//! dots in those replaced values into underscores (graphite splits names
//! at dots). `stat_accum_name` ("StatAccumInput") names the accumulator.
//!
//! - A message's stats go to the accumulator as one batch. When its queue
//!   is full the filter answers Retry (the runner offers the same message
//!   again after a pause), so a slow accumulator slows the router rather
//!   than stats piling up.
//! - A stat whose value is not a number after replacement (or whose name
//!   is empty or holds whitespace) is dropped: the message is counted as
//!   dropped and logged by the runner, the message's other stats still go.
//! - Decisions where Heka behaved by accident: a `%name%` with no such
//!   header or field stays as written; `replace_dot` applies to its own
//!   metric only (Heka's leaked into the metrics after it); a field with
//!   several occurrences gives its first (Heka's gave its last); boolean
//!   fields give `true`/`false` (Heka's gave the previous field's value).
//!   Gauge values set the gauge, as Heka's did, even with a sign.

use std::collections::BTreeMap;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::Pack;
use heka_actors::plugin::{BuildError, Filter, FilterCx, PluginError};
use heka_proto::{FieldValue, MessageView};
use serde::Deserialize;

use super::registry::{self, StatSender, Undelivered};
use super::stat::{Stat, StatKind, valid_bucket};

/// The accumulator fed when `stat_accum_name` is not set.
pub const DEFAULT_STAT_ACCUM_NAME: &str = "StatAccumInput";

/// One `[name.Metric.<id>]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// `Counter`, `Timer` or `Gauge`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The stat's name (a template).
    pub name: String,
    /// The stat's value (a template).
    pub value: String,
    /// Replace dots by underscores in replaced values.
    #[serde(default)]
    pub replace_dot: bool,
}

/// StatFilter's options (Heka's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatFilterConfig {
    /// The metrics, by id.
    #[serde(rename = "Metric", default)]
    pub metric: BTreeMap<String, MetricConfig>,
    /// The StatAccumInput to feed.
    #[serde(default = "default_stat_accum_name")]
    pub stat_accum_name: String,
}

fn default_stat_accum_name() -> String {
    DEFAULT_STAT_ACCUM_NAME.into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Timer,
    Gauge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

/// A `%name%` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    /// Compiles `text`; a `%` that does not open a `%name%` is literal.
    pub fn new(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match after.find('%') {
                Some(end) if end > 0 && !after[..end].contains(char::is_whitespace) => {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(after[..end].to_owned()));
                    rest = &after[end + 1..];
                }
                _ => {
                    literal.push('%');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Template(parts)
    }

    /// Renders the template for `msg`.
    pub fn render(&self, msg: &MessageView, replace_dot: bool) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(name) => match lookup(msg, name) {
                    Some(value) if replace_dot => out.push_str(&value.replace('.', "_")),
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push('%');
                        out.push_str(name);
                        out.push('%');
                    }
                },
            }
        }
        out
    }
}

/// The text of header or field `name` in `msg`.
fn lookup(msg: &MessageView, name: &str) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match name {
        "Type" => return Some(text(msg.r#type())),
        "Logger" => return Some(text(msg.logger())),
        "Hostname" => return Some(text(msg.hostname())),
        "Payload" => return Some(text(msg.payload())),
        _ => {}
    }
    Some(match msg.field_value(name.as_bytes(), 0, 0)? {
        FieldValue::String(s) | FieldValue::Bytes(s) => text(s),
        FieldValue::Integer(i) => i.to_string(),
        FieldValue::Double(d) => d.to_string(),
        FieldValue::Bool(b) => b.to_string(),
    })
}

#[derive(Debug, Clone)]
struct Metric {
    id: String,
    kind: Kind,
    name: Template,
    value: Template,
    replace_dot: bool,
}

/// Heka's StatFilter.
#[derive(Debug)]
pub struct StatFilter {
    metrics: Vec<Metric>,
    sender: StatSender,
}

impl StatFilter {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Filter>, BuildError> {
        let config: StatFilterConfig = crate::plugins::options(spec)?;
        Ok(Box::new(Self::new(spec, config)?))
    }

    /// Checks the metric types and compiles the templates.
    pub fn new(spec: &PluginSpec, config: StatFilterConfig) -> Result<StatFilter, BuildError> {
        let metrics = config
            .metric
            .into_iter()
            .map(|(id, m)| {
                let kind = match m.kind.as_str() {
                    "Counter" => Kind::Counter,
                    "Timer" => Kind::Timer,
                    "Gauge" => Kind::Gauge,
                    other => {
                        return Err(BuildError::invalid(
                            spec,
                            format!("Metric.{id}: type {other:?} is not Counter, Timer or Gauge"),
                        ));
                    }
                };
                Ok(Metric {
                    id,
                    kind,
                    name: Template::new(&m.name),
                    value: Template::new(&m.value),
                    replace_dot: m.replace_dot,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StatFilter {
            metrics,
            sender: StatSender::new(&config.stat_accum_name),
        })
    }

    /// The stats of one message, and why any metric made none.
    pub fn stats(&self, msg: &MessageView) -> (Vec<Stat>, Vec<String>) {
        let mut stats = Vec::with_capacity(self.metrics.len());
        let mut bad = Vec::new();
        for m in &self.metrics {
            let bucket = m.name.render(msg, m.replace_dot);
            let text = m.value.render(msg, m.replace_dot);
            if !valid_bucket(&bucket) {
                bad.push(format!("Metric.{}: bad name {bucket:?}", m.id));
                continue;
            }
            let Some(value) = text.trim().parse::<f64>().ok().filter(|v| v.is_finite()) else {
                bad.push(format!("Metric.{}: value {text:?} is not a number", m.id));
                continue;
            };
            let kind = match m.kind {
                Kind::Counter => StatKind::Counter {
                    value,
                    sample_rate: 1.0,
                },
                Kind::Timer => StatKind::Timer(value),
                Kind::Gauge => StatKind::Gauge(value),
            };
            stats.push(Stat { bucket, kind });
        }
        (stats, bad)
    }
}

impl Filter for StatFilter {
    fn process(&mut self, pack: &Pack, _cx: &mut FilterCx) -> Result<(), PluginError> {
        let (stats, bad) = self.stats(&pack.message);
        if !stats.is_empty() {
            match self.sender.try_send(stats) {
                Ok(()) => {}
                Err(err @ Undelivered::Full(_)) => return Err(PluginError::retry(err.to_string())),
                Err(err @ Undelivered::NotRunning(_)) => {
                    return Err(PluginError::message(format!("{err}; stats dropped")));
                }
            }
        }
        match bad.is_empty() {
            true => Ok(()),
            false => Err(PluginError::message(bad.join("; "))),
        }
    }

    fn started(&mut self, cx: &mut FilterCx) {
        if !registry::is_registered(self.sender.name()) {
            tracing::error!(plugin = %cx.name(), accumulator = %self.sender.name(), "StatFilter: no StatAccumInput of that name is configured; its stats will be dropped.");
        }
    }
}

#[cfg(test)]
mod tests;
