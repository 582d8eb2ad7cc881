//! The arithmetic of StatAccumInput: stats are added as they arrive and
//! rolled up once per tick into graphite plaintext lines
//! (`<name> <value> <unix seconds>`) and/or typed fields, named as Heka
//! (after etsy's statsd) named them:
//!
//! | stat | names (default prefixes) |
//! |---|---|
//! | counter | `stats.counters.<key>.rate` (per second), `.count`; legacy: `stats.<key>` (rate) and `stats_counts.<key>` (count) |
//! | gauge | `stats.gauges.<key>` |
//! | timer | `stats.timers.<key>.count`, `.count_ps`, `.lower`, `.upper`, `.sum`, `.mean`, and `.mean_<N>`, `.upper_<N>` per `percent_threshold` N |
//! | set | `stats.sets.<key>.count` (distinct values; Heka had no sets) |
//! | all | `stats.statsd.numStats` (legacy: `statsd.numStats`) |
//!
//! Numbers print as Heka printed them: integers as integers, the rest with
//! six decimals. The field `timestamp` (the roll-up's unix seconds) leads
//! the fields. Lines come in a stable order (counters, gauges, timers,
//! sets, each sorted by key) where Heka's followed Go's random map order.
//!
//! Bounded: at most [`MAX_KEYS`] keys of all kinds (a new key past that is
//! dropped and counted), at most [`MAX_TIMER_SAMPLES`] kept per timer per
//! interval (count, sum, lower and upper stay exact; the percentile figures
//! come from a uniform sample of the timings past that), and at most
//! [`MAX_SET_MEMBERS`] distinct values per set.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use heka_proto::Field;

use super::stat::{Stat, StatKind};

/// Most distinct keys held (counters, gauges, timers and sets together).
pub const MAX_KEYS: usize = 10_000;
/// Timings kept per timer per interval for the percentile figures.
pub const MAX_TIMER_SAMPLES: usize = 1024;
/// Distinct values counted per set per interval.
pub const MAX_SET_MEMBERS: usize = 10_000;

/// How the roll-up is named and what it emits.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Seconds per interval (rates are per second).
    pub ticker_interval: u64,
    /// `percent_threshold`.
    pub percent_threshold: Vec<u32>,
    /// `legacy_namespaces`.
    pub legacy_namespaces: bool,
    /// `global_prefix`.
    pub global_prefix: String,
    /// `counter_prefix`.
    pub counter_prefix: String,
    /// `timer_prefix`.
    pub timer_prefix: String,
    /// `gauge_prefix`.
    pub gauge_prefix: String,
    /// `statsd_prefix`.
    pub statsd_prefix: String,
    /// `delete_idle_stats`.
    pub delete_idle_stats: bool,
    /// `emit_in_payload`.
    pub emit_in_payload: bool,
    /// `emit_in_fields`.
    pub emit_in_fields: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            ticker_interval: 10,
            percent_threshold: vec![90],
            legacy_namespaces: false,
            global_prefix: "stats".into(),
            counter_prefix: "counters".into(),
            timer_prefix: "timers".into(),
            gauge_prefix: "gauges".into(),
            statsd_prefix: "statsd".into(),
            delete_idle_stats: false,
            emit_in_payload: true,
            emit_in_fields: false,
        }
    }
}

/// Heka's namespace join: `parent` + `name` + "." unless `name` is empty
/// or already ends with a dot.
fn ns(parent: &str, name: &str) -> String {
    let mut out = String::with_capacity(parent.len() + name.len() + 1);
    out.push_str(parent);
    out.push_str(name);
    if !name.is_empty() && !name.ends_with('.') {
        out.push('.');
    }
    out
}

#[derive(Debug, Default, Clone)]
struct Timings {
    count: u64,
    sum: f64,
    lower: f64,
    upper: f64,
    samples: Vec<f64>,
}

impl Timings {
    fn add(&mut self, value: f64) {
        if self.count == 0 {
            self.lower = value;
            self.upper = value;
        }
        self.count += 1;
        self.sum += value;
        self.lower = self.lower.min(value);
        self.upper = self.upper.max(value);
        if self.samples.len() < MAX_TIMER_SAMPLES {
            self.samples.push(value);
        } else {
            // Reservoir sampling keeps a uniform sample of all timings.
            let slot = fastrand::u64(..self.count) as usize;
            if slot < MAX_TIMER_SAMPLES {
                self.samples[slot] = value;
            }
        }
    }
}

/// One value of the roll-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Printed as an integer; an INTEGER field.
    Int(i64),
    /// Printed with six decimals; a DOUBLE field.
    Float(f64),
}

/// What one roll-up produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollUp {
    /// Graphite lines (empty unless `emit_in_payload`).
    pub payload: String,
    /// Fields (empty unless `emit_in_fields`).
    pub fields: Vec<Field>,
    /// How many stats it covered (the `numStats` figure).
    pub num_stats: i64,
}

struct Emitter<'a> {
    layout: &'a Layout,
    now: i64,
    out: RollUp,
}

impl Emitter<'_> {
    fn emit(&mut self, name: &str, value: Value) {
        if self.layout.emit_in_payload {
            let _ = match value {
                Value::Int(v) => writeln!(self.out.payload, "{name} {v} {}", self.now),
                Value::Float(v) => writeln!(self.out.payload, "{name} {v:.6} {}", self.now),
            };
        }
        if self.layout.emit_in_fields {
            self.out.fields.push(match value {
                Value::Int(v) => Field::integer(name, v),
                Value::Float(v) => Field::double(name, v),
            });
        }
    }
}

/// Stats of the current interval, rolled up by [`Accumulator::roll_up`].
#[derive(Debug, Default)]
pub struct Accumulator {
    counters: BTreeMap<String, f64>,
    gauges: BTreeMap<String, f64>,
    timers: BTreeMap<String, Timings>,
    sets: BTreeMap<String, HashSet<String>>,
}

/// A stat refused because a bound was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// [`MAX_KEYS`] keys are held already.
    #[error("too many distinct stat keys (at most {MAX_KEYS})")]
    TooManyKeys,
    /// The set holds [`MAX_SET_MEMBERS`] values already.
    #[error("too many distinct values in a set (at most {MAX_SET_MEMBERS})")]
    SetFull,
}

impl Accumulator {
    fn keys(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.timers.len() + self.sets.len()
    }

    fn room_for<V>(&self, map: &BTreeMap<String, V>, key: &str) -> Result<(), Refused> {
        if map.contains_key(key) || self.keys() < MAX_KEYS {
            Ok(())
        } else {
            Err(Refused::TooManyKeys)
        }
    }

    /// Adds one stat to the interval.
    pub fn add(&mut self, stat: Stat) -> Result<(), Refused> {
        let Stat { bucket, kind } = stat;
        match kind {
            StatKind::Counter { value, sample_rate } => {
                self.room_for(&self.counters, &bucket)?;
                *self.counters.entry(bucket).or_default() += value / sample_rate;
            }
            StatKind::Timer(value) => {
                self.room_for(&self.timers, &bucket)?;
                self.timers.entry(bucket).or_default().add(value);
            }
            StatKind::Gauge(value) => {
                self.room_for(&self.gauges, &bucket)?;
                self.gauges.insert(bucket, value);
            }
            StatKind::GaugeDelta(delta) => {
                self.room_for(&self.gauges, &bucket)?;
                *self.gauges.entry(bucket).or_default() += delta;
            }
            StatKind::Set(member) => {
                self.room_for(&self.sets, &bucket)?;
                let set = self.sets.entry(bucket).or_default();
                if set.len() >= MAX_SET_MEMBERS && !set.contains(&member) {
                    return Err(Refused::SetFull);
                }
                set.insert(member);
            }
        }
        Ok(())
    }

    /// Rolls the interval up at `now` (unix seconds) and starts the next
    /// one: counters go back to 0, gauges keep their value, timers and
    /// sets empty (with `delete_idle_stats` every key is forgotten, so
    /// idle keys are not emitted again).
    pub fn roll_up(&mut self, layout: &Layout, now: i64) -> RollUp {
        let mut e = Emitter {
            layout,
            now,
            out: RollUp::default(),
        };
        if layout.emit_in_fields {
            e.out.fields.push(Field::integer("timestamp", now));
        }
        let interval = layout.ticker_interval.max(1) as f64;
        let global = ns("", &layout.global_prefix);
        let mut num_stats = 0i64;

        let counter_ns = ns(&global, &layout.counter_prefix);
        for (key, count) in &self.counters {
            let rate = count / interval;
            let count = count.round() as i64;
            if layout.legacy_namespaces {
                e.emit(&format!("{global}{key}"), Value::Float(rate));
                e.emit(
                    &format!("{}{key}", ns("", "stats_counts")),
                    Value::Int(count),
                );
            } else {
                let base = ns(&counter_ns, key);
                e.emit(&format!("{base}rate"), Value::Float(rate));
                e.emit(&format!("{base}count"), Value::Int(count));
            }
            num_stats += 1;
        }

        let gauge_ns = ns(&global, &layout.gauge_prefix);
        for (key, value) in &self.gauges {
            e.emit(&format!("{gauge_ns}{key}"), Value::Float(*value));
            num_stats += 1;
        }

        let timer_ns = ns(&global, &layout.timer_prefix);
        for (key, timings) in &mut self.timers {
            let base = ns(&timer_ns, key);
            emit_timer(&mut e, &base, timings, interval);
            num_stats += 1;
        }

        let set_ns = ns(&global, "sets");
        for (key, members) in &self.sets {
            e.emit(
                &format!("{}count", ns(&set_ns, key)),
                Value::Int(members.len() as i64),
            );
            num_stats += 1;
        }

        let statsd_ns = match layout.legacy_namespaces {
            true => ns("", &layout.statsd_prefix),
            false => ns(&global, &layout.statsd_prefix),
        };
        e.emit(&format!("{statsd_ns}numStats"), Value::Int(num_stats));
        e.out.num_stats = num_stats;
        self.reset(layout.delete_idle_stats);
        e.out
    }

    fn reset(&mut self, delete_idle: bool) {
        if delete_idle {
            self.counters.clear();
            self.gauges.clear();
            self.timers.clear();
            self.sets.clear();
            return;
        }
        self.counters.values_mut().for_each(|c| *c = 0.0);
        for timings in self.timers.values_mut() {
            let mut samples = std::mem::take(&mut timings.samples);
            samples.clear();
            *timings = Timings {
                samples,
                ..Timings::default()
            };
        }
        self.sets.values_mut().for_each(HashSet::clear);
    }
}

/// Heka's timer figures; the `N` percentile keeps the lowest
/// `count - round((100 - N)% of count)` timings (JavaScript's rounding, as
/// statsd) and reports their mean and largest value.
fn emit_timer(e: &mut Emitter<'_>, base: &str, t: &mut Timings, interval: f64) {
    let count = t.count;
    let (mean, rate) = match count {
        0 => (0.0, 0.0),
        n => (t.sum / n as f64, n as f64 / interval),
    };
    e.emit(&format!("{base}count"), Value::Int(count as i64));
    e.emit(&format!("{base}count_ps"), Value::Float(rate));
    e.emit(&format!("{base}lower"), Value::Float(t.lower));
    e.emit(&format!("{base}upper"), Value::Float(t.upper));
    e.emit(&format!("{base}sum"), Value::Float(t.sum));
    e.emit(&format!("{base}mean"), Value::Float(mean));
    t.samples.sort_by(f64::total_cmp);
    let layout = e.layout;
    for &pct in &layout.percent_threshold {
        let (mean_pct, upper_pct) = percentile(&t.samples, pct, (t.lower, t.upper));
        e.emit(&format!("{base}mean_{pct}"), Value::Float(mean_pct));
        e.emit(&format!("{base}upper_{pct}"), Value::Float(upper_pct));
    }
}

/// Mean and upper bound of the lowest `pct` percent of `sorted`.
pub fn percentile(sorted: &[f64], pct: u32, (lower, upper): (f64, f64)) -> (f64, f64) {
    let count = sorted.len();
    if count == 0 {
        return (0.0, 0.0);
    }
    let outside = ((100.0 - f64::from(pct)) / 100.0 * count as f64 + 0.5).floor() as usize;
    let inside = count.saturating_sub(outside);
    if inside == 0 {
        return (lower, upper);
    }
    let sum: f64 = sorted[..inside].iter().sum();
    (sum / inside as f64, sorted[inside - 1])
}

#[cfg(test)]
mod tests;
