//! CounterFilter: Heka's message-rate meter. It sits in the router's filter
//! fan-out like any filter: it counts every pack its `message_matcher` lets
//! through and, on each ticker (5 s unless `ticker_interval` says otherwise),
//! injects a `heka.counter-output` message back into the router, where an
//! output such as LogOutput can show it.
//!
//! Behaviour kept from Heka:
//! - The payload is `Got N messages. X msg/sec`, where N is the running
//!   total since start (Heka's docs say "during that interval", its code
//!   prints the total; we follow the code) and X the rate over the interval.
//! - Intervals in which no message arrived inject nothing and add no sample.
//! - Every [`AGGREGATE_SAMPLES`] samples a second message goes out with
//!   `AGG Sum. Min: a    Max: b    Mean: c` over those samples' rates.
//!
//! Added here: the numbers are also fields, so they can be matched and
//! graphed without parsing the payload (see the `FIELD_*` constants).

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::{Pack, now_ns};
use heka_actors::plugin::{BuildError, Filter, FilterCx, PluginError};
use heka_proto::{Field, Message};
use serde::Deserialize;

/// The default `message_matcher` of a CounterFilter: everything except its
/// own output.
pub const DEFAULT_MATCHER: &str = "Type != 'heka.counter-output'";
/// The `Type` of every message this filter injects.
pub const MESSAGE_TYPE: &str = "heka.counter-output";
/// Seconds between reports when `ticker_interval` is not set.
pub const DEFAULT_TICKER_INTERVAL: u64 = 5;
/// Number of per-interval rates summarised by each aggregate message.
pub const AGGREGATE_SAMPLES: usize = 10;

/// Int field of the rate message: messages counted since start.
pub const FIELD_COUNT: &str = "count";
/// Int field of the rate message: messages counted in this interval.
pub const FIELD_INTERVAL_COUNT: &str = "interval_count";
/// Double field of the rate message: this interval's rate in msg/sec.
pub const FIELD_RATE: &str = "rate";
/// Int field of the aggregate message: how many rates it summarises.
pub const FIELD_SAMPLES: &str = "samples";
/// Double fields of the aggregate message: lowest, highest and mean rate.
pub const FIELD_MIN: &str = "min";
/// See [`FIELD_MIN`].
pub const FIELD_MAX: &str = "max";
/// See [`FIELD_MIN`].
pub const FIELD_MEAN: &str = "mean";

/// CounterFilter's own options: none (like Heka's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterFilterConfig {}

/// Counts matched messages and reports rates on every tick.
#[derive(Debug)]
pub struct CounterFilter {
    count: u64,
    last_count: u64,
    last_ns: i64,
    rates: Vec<f64>,
}

impl CounterFilter {
    /// A counter whose first interval starts at `start_ns` (ns since the
    /// epoch; [`build`] passes the current time).
    pub fn new(start_ns: i64) -> CounterFilter {
        CounterFilter {
            count: 0,
            last_count: 0,
            last_ns: start_ns,
            rates: Vec::with_capacity(AGGREGATE_SAMPLES),
        }
    }

    fn report(cx: &FilterCx, payload: String, fields: Vec<Field>) -> Message {
        let mut msg = cx.new_message();
        msg.r#type = Some(Bytes::from_static(MESSAGE_TYPE.as_bytes()));
        msg.payload = Some(Bytes::from(payload));
        msg.fields = fields;
        msg
    }
}

impl Filter for CounterFilter {
    fn default_matcher(&self) -> Option<&'static str> {
        Some(DEFAULT_MATCHER)
    }

    fn process(&mut self, _pack: &Pack, _cx: &mut FilterCx) -> Result<(), PluginError> {
        self.count += 1;
        Ok(())
    }

    fn timer_event(&mut self, now_ns: i64, cx: &mut FilterCx) -> Result<(), PluginError> {
        let interval = self.count - self.last_count;
        let elapsed = now_ns - self.last_ns;
        if interval == 0 || elapsed <= 0 {
            return Ok(());
        }
        self.last_count = self.count;
        self.last_ns = now_ns;
        let rate = interval as f64 / (elapsed as f64 / 1e9);
        self.rates.push(rate);

        let msg = Self::report(
            cx,
            format!("Got {} messages. {rate:.2} msg/sec", self.count),
            vec![
                Field::integer(FIELD_COUNT, self.count as i64).with_representation("count"),
                Field::integer(FIELD_INTERVAL_COUNT, interval as i64).with_representation("count"),
                Field::double(FIELD_RATE, rate).with_representation("msg/sec"),
            ],
        );
        // Both injections are attempted even if the first is refused, so the
        // rate window is always reset after AGGREGATE_SAMPLES samples.
        let mut result = cx.inject(&msg);
        if self.rates.len() >= AGGREGATE_SAMPLES {
            let n = self.rates.len();
            let min = self.rates.iter().copied().fold(f64::INFINITY, f64::min);
            let max = self.rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = self.rates.iter().sum::<f64>() / n as f64;
            self.rates.clear();
            let agg = Self::report(
                cx,
                format!("AGG Sum. Min: {min:.2}    Max: {max:.2}    Mean: {mean:.2}"),
                vec![
                    Field::integer(FIELD_SAMPLES, n as i64).with_representation("count"),
                    Field::double(FIELD_MIN, min).with_representation("msg/sec"),
                    Field::double(FIELD_MAX, max).with_representation("msg/sec"),
                    Field::double(FIELD_MEAN, mean).with_representation("msg/sec"),
                ],
            );
            result = result.and(cx.inject(&agg));
        }
        result.map_err(|err| PluginError::message(err.to_string()))
    }

    fn has_timer(&self) -> bool {
        true
    }

    fn default_ticker_interval(&self) -> u64 {
        DEFAULT_TICKER_INTERVAL
    }
}

/// Builds a CounterFilter from its spec (it takes no options).
pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Filter>, BuildError> {
    let _: CounterFilterConfig = super::options(spec)?;
    Ok(Box::new(CounterFilter::new(now_ns())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use heka_proto::{FieldValue, MessageView};

    const SEC: i64 = 1_000_000_000;

    fn pack() -> Pack {
        let mut msg = Message::new([7; 16], 1);
        msg.r#type = Some(Bytes::from_static(b"test"));
        Pack::detached(MessageView::from_message(&msg).unwrap())
    }

    fn cx() -> FilterCx {
        let mut cx = FilterCx::new("Counter", "host1", 42, 4);
        cx.begin(10, 0);
        cx
    }

    fn feed(filter: &mut CounterFilter, cx: &mut FilterCx, n: usize) {
        let pack = pack();
        for _ in 0..n {
            filter.process(&pack, cx).unwrap();
        }
    }

    /// A timer event as the FilterRunner makes it: a fresh injection budget.
    fn tick(filter: &mut CounterFilter, cx: &mut FilterCx, now_ns: i64) {
        cx.begin(10, 0);
        filter.timer_event(now_ns, cx).unwrap();
    }

    fn injected(cx: &mut FilterCx) -> Vec<Message> {
        cx.take_injected()
            .into_iter()
            .map(|(view, loops)| {
                assert_eq!(loops, 1);
                view.to_message()
            })
            .collect()
    }

    fn int(msg: &Message, name: &str) -> i64 {
        match msg.field_value(name.as_bytes(), 0, 0) {
            Some(FieldValue::Integer(v)) => v,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn payload(msg: &Message) -> &str {
        std::str::from_utf8(msg.payload.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn counts_and_injects_on_timer() {
        let mut filter = CounterFilter::new(0);
        let mut cx = cx();
        feed(&mut filter, &mut cx, 7);
        assert!(injected(&mut cx).is_empty(), "nothing before the tick");

        tick(&mut filter, &mut cx, 5 * SEC);
        let out = injected(&mut cx);
        assert_eq!(out.len(), 1);
        let msg = &out[0];
        assert_eq!(msg.r#type.as_deref(), Some(MESSAGE_TYPE.as_bytes()));
        assert_eq!(msg.logger.as_deref(), Some(&b"Counter"[..]));
        assert_eq!(msg.hostname.as_deref(), Some(&b"host1"[..]));
        assert_eq!(msg.pid, Some(42));
        assert_eq!(payload(msg), "Got 7 messages. 1.40 msg/sec");
        assert_eq!(int(msg, FIELD_COUNT), 7);
        assert_eq!(int(msg, FIELD_INTERVAL_COUNT), 7);

        // The total keeps growing; the rate is over the new interval only.
        feed(&mut filter, &mut cx, 3);
        tick(&mut filter, &mut cx, 7 * SEC);
        let out = injected(&mut cx);
        assert_eq!(payload(&out[0]), "Got 10 messages. 1.50 msg/sec");
        assert_eq!(int(&out[0], FIELD_COUNT), 10);
        assert_eq!(int(&out[0], FIELD_INTERVAL_COUNT), 3);

        // A quiet interval reports nothing.
        tick(&mut filter, &mut cx, 12 * SEC);
        assert!(injected(&mut cx).is_empty());
    }

    #[test]
    fn every_tenth_sample_adds_an_aggregate() {
        let mut filter = CounterFilter::new(0);
        let mut cx = cx();
        for i in 1..=AGGREGATE_SAMPLES as i64 {
            // Interval i carries i messages over one second: rate i.
            feed(&mut filter, &mut cx, i as usize);
            tick(&mut filter, &mut cx, i * SEC);
            let out = injected(&mut cx);
            if i < AGGREGATE_SAMPLES as i64 {
                assert_eq!(out.len(), 1, "interval {i}");
            } else {
                assert_eq!(out.len(), 2);
                assert_eq!(payload(&out[0]), "Got 55 messages. 10.00 msg/sec");
                assert_eq!(
                    payload(&out[1]),
                    "AGG Sum. Min: 1.00    Max: 10.00    Mean: 5.50"
                );
                assert_eq!(int(&out[1], FIELD_SAMPLES), 10);
                assert_eq!(out[1].r#type.as_deref(), Some(MESSAGE_TYPE.as_bytes()));
            }
        }
        // The window starts over.
        feed(&mut filter, &mut cx, 1);
        tick(&mut filter, &mut cx, 11 * SEC);
        assert_eq!(injected(&mut cx).len(), 1);
    }

    #[test]
    fn default_matcher_skips_its_own_output() {
        let matcher = heka_grammar::Matcher::compile(DEFAULT_MATCHER).unwrap();
        let mut filter = CounterFilter::new(0);
        let mut cx = cx();
        feed(&mut filter, &mut cx, 1);
        tick(&mut filter, &mut cx, SEC);
        let (view, _) = cx.take_injected().pop().unwrap();
        assert!(!matcher.matches(&view));
        assert!(matcher.matches(&pack().message));
    }

    #[test]
    fn build_takes_no_options_and_has_a_timer() {
        let mut spec = PluginSpec::new("Counter", "CounterFilter").unwrap();
        let filter = build(&spec, &Globals::default()).unwrap();
        assert!(filter.has_timer());
        assert_eq!(filter.default_ticker_interval(), 5);
        spec.options.insert("bogus".into(), toml::Value::Integer(1));
        let err = build(&spec, &Globals::default()).err().unwrap();
        assert!(err.message.contains("bogus"), "{}", err.message);
    }
}
