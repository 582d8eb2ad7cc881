//! The roll-up's arithmetic and names, checked against values computed by
//! hand from what was added.

use super::*;
use crate::plugins::statsd::stat::parse_line;

const T: i64 = 1_700_000_000;

fn add(acc: &mut Accumulator, lines: &[&str]) {
    for line in lines {
        acc.add(parse_line(line).unwrap()).unwrap();
    }
}

fn lines(roll: &RollUp) -> Vec<String> {
    roll.payload.lines().map(str::to_owned).collect()
}

fn line(name: &str, value: &str) -> String {
    format!("{name} {value} {T}")
}

#[test]
fn counters_scale_by_sample_rate_and_rate_is_per_second() {
    let mut acc = Accumulator::default();
    add(
        &mut acc,
        &[
            "hits:1|c|@0.1",
            "hits:1|c|@0.1",
            "hits:1|c|@0.1",
            "hits:2|c",
        ],
    );
    let roll = acc.roll_up(&Layout::default(), T);
    assert_eq!(
        lines(&roll),
        [
            line("stats.counters.hits.rate", "3.200000"),
            line("stats.counters.hits.count", "32"),
            line("stats.statsd.numStats", "1"),
        ]
    );
    // The next interval reports the counter at zero.
    let roll = acc.roll_up(&Layout::default(), T);
    assert_eq!(lines(&roll)[1], line("stats.counters.hits.count", "0"));
    assert_eq!(roll.num_stats, 1);
}

#[test]
fn legacy_namespaces_use_stats_and_stats_counts() {
    let layout = Layout {
        legacy_namespaces: true,
        ticker_interval: 5,
        ..Layout::default()
    };
    let mut acc = Accumulator::default();
    add(&mut acc, &["a.b:7|c"]);
    assert_eq!(
        lines(&acc.roll_up(&layout, T)),
        [
            line("stats.a.b", "1.400000"),
            line("stats_counts.a.b", "7"),
            line("statsd.numStats", "1"),
        ]
    );
}

#[test]
fn gauges_set_and_change_and_keep_their_value() {
    let mut acc = Accumulator::default();
    add(&mut acc, &["g:10|g", "g:+5|g", "g:-3|g", "fresh:-2|g"]);
    let layout = Layout::default();
    let want = [
        line("stats.gauges.fresh", "-2.000000"),
        line("stats.gauges.g", "12.000000"),
        line("stats.statsd.numStats", "2"),
    ];
    assert_eq!(lines(&acc.roll_up(&layout, T)), want);
    // Idle gauges repeat their last value.
    assert_eq!(lines(&acc.roll_up(&layout, T)), want);
    add(&mut acc, &["g:1|g"]);
    assert_eq!(
        lines(&acc.roll_up(&layout, T))[1],
        line("stats.gauges.g", "1.000000")
    );
}

#[test]
fn delete_idle_stats_forgets_keys_after_each_roll_up() {
    let layout = Layout {
        delete_idle_stats: true,
        ..Layout::default()
    };
    let mut acc = Accumulator::default();
    add(&mut acc, &["c:1|c", "g:4|g", "t:3|ms", "u:x|s"]);
    assert_eq!(acc.roll_up(&layout, T).num_stats, 4);
    let roll = acc.roll_up(&layout, T);
    assert_eq!(lines(&roll), [line("stats.statsd.numStats", "0")]);
    // A delta starts again from zero.
    add(&mut acc, &["g:+2|g"]);
    assert_eq!(
        lines(&acc.roll_up(&layout, T))[0],
        line("stats.gauges.g", "2.000000")
    );
}

#[test]
fn timers_report_heka_s_figures_and_percentiles() {
    let layout = Layout {
        percent_threshold: vec![50, 90],
        ..Layout::default()
    };
    let mut acc = Accumulator::default();
    // Out of order on purpose: 1..=10 ms.
    for v in [7, 3, 10, 1, 9, 2, 8, 4, 6, 5] {
        add(&mut acc, &[&format!("db.query:{v}|ms")]);
    }
    let p = "stats.timers.db.query";
    assert_eq!(
        lines(&acc.roll_up(&layout, T)),
        [
            line(&format!("{p}.count"), "10"),
            line(&format!("{p}.count_ps"), "1.000000"),
            line(&format!("{p}.lower"), "1.000000"),
            line(&format!("{p}.upper"), "10.000000"),
            line(&format!("{p}.sum"), "55.000000"),
            line(&format!("{p}.mean"), "5.500000"),
            // 50%: the lowest 5 (1..=5).
            line(&format!("{p}.mean_50"), "3.000000"),
            line(&format!("{p}.upper_50"), "5.000000"),
            // 90%: the lowest 9 (1..=9).
            line(&format!("{p}.mean_90"), "5.000000"),
            line(&format!("{p}.upper_90"), "9.000000"),
            line("stats.statsd.numStats", "1"),
        ]
    );
    // An idle timer reports zeros.
    let idle = acc.roll_up(&layout, T);
    assert_eq!(lines(&idle)[0], line(&format!("{p}.count"), "0"));
    assert_eq!(lines(&idle)[6], line(&format!("{p}.mean_50"), "0.000000"));
}

#[test]
fn percentile_rounds_like_statsd() {
    let sorted: Vec<f64> = (1..=4).map(f64::from).collect();
    // 10% of 4 is 0.4, rounds to 0: all four are kept.
    assert_eq!(percentile(&sorted, 90, (1.0, 4.0)), (2.5, 4.0));
    // 25% of 4 is exactly 1: the top one goes.
    assert_eq!(percentile(&sorted, 75, (1.0, 4.0)), (2.0, 3.0));
    // Nothing left inside: Heka reports the lower and upper bounds.
    assert_eq!(percentile(&[5.0], 10, (5.0, 5.0)), (5.0, 5.0));
    assert_eq!(percentile(&[], 90, (0.0, 0.0)), (0.0, 0.0));
}

#[test]
fn fields_carry_the_same_figures_typed() {
    let layout = Layout {
        emit_in_payload: false,
        emit_in_fields: true,
        ..Layout::default()
    };
    let mut acc = Accumulator::default();
    add(&mut acc, &["c:3|c", "u:a|s", "u:b|s", "u:a|s"]);
    let roll = acc.roll_up(&layout, T);
    assert!(roll.payload.is_empty());
    let named: Vec<(String, Option<i64>, Option<f64>)> = roll
        .fields
        .iter()
        .map(|f| {
            (
                String::from_utf8(f.name.to_vec()).unwrap(),
                f.value_integer.first().copied(),
                f.value_double.first().copied(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("timestamp".into(), Some(T), None),
            ("stats.counters.c.rate".into(), None, Some(0.3)),
            ("stats.counters.c.count".into(), Some(3), None),
            ("stats.sets.u.count".into(), Some(2), None),
            ("stats.statsd.numStats".into(), Some(2), None),
        ]
    );
}

#[test]
fn prefixes_join_like_heka_s_namespaces() {
    assert_eq!(ns("", "stats"), "stats.");
    assert_eq!(ns("stats.", "app."), "stats.app.");
    assert_eq!(ns("stats.", ""), "stats.");
    let layout = Layout {
        global_prefix: String::new(),
        counter_prefix: "c".into(),
        statsd_prefix: "meta".into(),
        ..Layout::default()
    };
    let mut acc = Accumulator::default();
    add(&mut acc, &["x:1|c"]);
    assert_eq!(
        lines(&acc.roll_up(&layout, T)),
        [
            line("c.x.rate", "0.100000"),
            line("c.x.count", "1"),
            line("meta.numStats", "1"),
        ]
    );
}

#[test]
fn bounds_hold_and_exact_figures_stay_exact() {
    let mut acc = Accumulator::default();
    for i in 0..MAX_KEYS {
        acc.add(parse_line(&format!("k{i}:1|c")).unwrap()).unwrap();
    }
    let extra = parse_line("one.too.many:1|c").unwrap();
    assert_eq!(acc.add(extra), Err(Refused::TooManyKeys));
    // Known keys still count.
    acc.add(parse_line("k0:1|c").unwrap()).unwrap();

    let mut acc = Accumulator::default();
    let n = MAX_TIMER_SAMPLES * 3;
    for v in 1..=n {
        acc.add(parse_line(&format!("t:{v}|ms")).unwrap()).unwrap();
    }
    let roll = acc.roll_up(&Layout::default(), T);
    let text = lines(&roll);
    assert_eq!(text[0], line("stats.timers.t.count", &n.to_string()));
    assert_eq!(text[2], line("stats.timers.t.lower", "1.000000"));
    assert_eq!(
        text[3],
        line("stats.timers.t.upper", &format!("{n}.000000"))
    );
    let sum = (n * (n + 1) / 2) as f64;
    assert_eq!(text[4], line("stats.timers.t.sum", &format!("{sum:.6}")));
}
