//! The integration tests of heka-grammar, in one binary.

mod errors;
mod heka_tables;
mod props;
mod quirks;
mod semantics;

use heka_grammar::Matcher;
use heka_proto::{Bytes, Field, Message, MessageView};

/// The message of Heka's matcher tests: its `getTestMessage()` plus the
/// fields its matcher spec adds.
pub fn test_message() -> Message {
    let mut m = Message::new(
        *b"\x8e\x41\x4f\x01\x9d\x7f\x4a\x48\xa5\xe1\xae\x92\xe5\x95\x4d\xf5",
        1_136_239_445_000_000_000,
    );
    m.r#type = Some(Bytes::from_static(b"TEST"));
    m.logger = Some(Bytes::from_static(b"GoSpec"));
    m.severity = Some(6);
    m.payload = Some(Bytes::from_static(b"Test Payload"));
    m.env_version = Some(Bytes::from_static(b"0.8"));
    m.pid = Some(43);
    m.hostname = Some(Bytes::from_static(b"my.host.name"));
    m.fields = vec![
        Field::string("foo", "bar"),
        Field::bytes("bytes", "data"),
        Field::integers("int", [999, 1024]),
        Field::double("double", 99.9),
        Field::boolean("bool", true),
        Field::string("foo", "alternate"),
        Field::string("Payload", "name=test;type=web;"),
        Field::string("Timestamp", "Mon Jan 02 15:04:05 -0700 2006")
            .with_representation("date-time"),
        Field::integer("zero", 0),
        Field::string("string", "43"),
    ];
    m
}

/// Compiles `spec`, panicking with the parse error if it does not compile.
pub fn compile(spec: &str) -> Matcher {
    Matcher::compile(spec).unwrap_or_else(|e| panic!("{spec:?} should compile: {e}"))
}

/// The decoded form of `msg`, as the pipeline would carry it.
pub fn view(msg: &Message) -> MessageView {
    MessageView::from_message(msg).expect("an encoded message decodes")
}

/// Asserts that each spec compiles and evaluates to `expected` on `msg`.
pub fn assert_all(msg: &Message, specs: &[&str], expected: bool) {
    let msg = view(msg);
    let wrong: Vec<&str> = specs
        .iter()
        .copied()
        .filter(|s| compile(s).matches(&msg) != expected)
        .collect();
    assert!(wrong.is_empty(), "should be {expected}: {wrong:#?}");
}
