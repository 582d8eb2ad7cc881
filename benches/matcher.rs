//! Matcher compile and evaluation cost for typical `message_matcher`s.
//!
//! Each evaluation is paired with a hand-written Rust closure doing the same
//! test (`baseline/...`): the ratio matcher/baseline is the figure to watch,
//! since absolute times move with the machine. The targets compare
//! with the C lua_sandbox matcher: about 9 ns for `Type == 'TEST' &&
//! Severity == 6` and 17 ns for `Fields[foo] == 'bar' && Severity == 6`.
//!
//! Run: `cargo bench --bench matcher`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use heka_grammar::Matcher;
use heka_proto::{Bytes, Field, FieldValue, Message, MessageView};

/// Heka's matcher benchmark message, with the fields its tests add.
fn message() -> MessageView {
    let mut m = Message::new([0x8e; 16], 1_400_000_000_000_000_000);
    m.r#type = Some(Bytes::from_static(b"TEST"));
    m.logger = Some(Bytes::from_static(b"GoSpec"));
    m.severity = Some(6);
    m.payload = Some(Bytes::from_static(b"Test Payload"));
    m.env_version = Some(Bytes::from_static(b"0.8"));
    m.pid = Some(43);
    m.hostname = Some(Bytes::from_static(b"my.host.name"));
    m.fields = vec![
        Field::string("foo", "bar"),
        Field::integer("number", 64),
        Field::bytes("bytes", "data"),
        Field::integers("int", [999, 1024]),
        Field::double("double", 99.9),
        Field::boolean("bool", true),
    ];
    MessageView::from_message(&m).expect("the benchmark message decodes")
}

type Baseline = fn(&MessageView) -> bool;

const CASES: &[(&str, &str, Baseline)] = &[
    ("header_eq", "Type == 'TEST'", |m| m.r#type() == b"TEST"),
    (
        "type_and_severity",
        "Type == 'TEST' && Severity == 6",
        |m| m.r#type() == b"TEST" && m.severity() == 6,
    ),
    (
        "field_string",
        "Fields[foo] == 'bar' && Severity == 6",
        |m| m.field_value(b"foo", 0, 0) == Some(FieldValue::String(b"bar")) && m.severity() == 6,
    ),
    (
        "field_numeric",
        "Fields[number] == 64 && Severity == 6",
        |m| m.field_value(b"number", 0, 0) == Some(FieldValue::Integer(64)) && m.severity() == 6,
    ),
    ("starts_with", "Payload =~ /^Test/", |m| {
        m.payload().starts_with(b"Test")
    }),
    ("ends_with", "Payload =~ /load$/", |m| {
        m.payload().ends_with(b"load")
    }),
    ("regex_class", "Type =~ /[Tt]EST/ && Severity == 6", |m| {
        m.r#type()
            .windows(4)
            .any(|w| (w[0] == b'T' || w[0] == b't') && &w[1..] == b"EST")
            && m.severity() == 6
    }),
    ("regex_unanchored", "Payload =~ /P.yl/", |m| {
        m.payload()
            .windows(4)
            .any(|w| w[0] == b'P' && w[2..] == *b"yl")
    }),
    ("field_missing", "Fields[missing] == NIL", |m| {
        m.field(b"missing", 0).is_none()
    }),
    ("field_exists", "Fields[int] != NIL", |m| {
        m.field(b"int", 0).is_some()
    }),
];

fn bench(c: &mut Criterion) {
    let msg = message();
    let mut compile = c.benchmark_group("compile");
    compile.bench_function("type_and_severity", |b| {
        b.iter(|| Matcher::compile(black_box("Type == 'TEST' && Severity == 6")))
    });
    compile.bench_function("regex", |b| {
        b.iter(|| Matcher::compile(black_box("Type =~ /[Tt]EST/ && Severity == 6")))
    });
    compile.finish();

    let mut eval = c.benchmark_group("match");
    for (name, spec, baseline) in CASES {
        let matcher = Matcher::compile(spec).expect("benchmark matchers compile");
        assert_eq!(matcher.matches(&msg), baseline(&msg), "{spec}");
        eval.bench_function(format!("matcher/{name}"), |b| {
            b.iter(|| matcher.matches(black_box(&msg)))
        });
        eval.bench_function(format!("baseline/{name}"), |b| {
            b.iter(|| baseline(black_box(&msg)))
        });
    }
    eval.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
