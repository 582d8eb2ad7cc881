//! The record size limit in every text splitter: a record ending past the
//! limit is never delivered, whatever one read put in the buffer (the
//! runner then cuts off and counts the over-long start); one ending exactly
//! at the limit is.

use bytes::BytesMut;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, SplitEvent, Splitter};
use heka_proto::framing::max_record_size;

use crate::plugins::regex_splitters::{PatternGroupingSplitter, RegexSplitter};
use crate::plugins::splitters::{NullSplitter, TokenSplitter};

const MAX_MESSAGE: u32 = 2048;
const LIMIT: usize = max_record_size(MAX_MESSAGE as usize);

type Build = fn(&PluginSpec, &Globals) -> Result<Box<dyn Splitter>, BuildError>;

fn splitter(build: Build, type_name: &str, options: &str) -> Box<dyn Splitter> {
    let mut spec = PluginSpec::new("split", type_name).unwrap();
    spec.options = options.parse().unwrap();
    let globals = Globals {
        max_message_size: MAX_MESSAGE,
        ..Globals::default()
    };
    build(&spec, &globals).unwrap()
}

fn record(e: Option<SplitEvent>) -> Option<Vec<u8>> {
    match e? {
        SplitEvent::Record { data, .. } => Some(data.to_vec()),
        other => panic!("{other:?}"),
    }
}

/// `a`s then a newline, `len` bytes in all.
fn line(len: usize) -> Vec<u8> {
    let mut l = vec![b'a'; len - 1];
    l.push(b'\n');
    l
}

#[test]
fn line_splitters_deliver_up_to_the_limit_and_no_further() {
    let lines: [(Build, &str, &str); 2] = [
        (TokenSplitter::build, "TokenSplitter", ""),
        (RegexSplitter::build, "RegexSplitter", "delimiter = '(\\n)'"),
    ];
    for (build, type_name, options) in lines {
        let mut s = splitter(build, type_name, options);
        // Exactly at the limit, with more behind it: delivered.
        let mut buf = BytesMut::from(&line(LIMIT)[..]);
        buf.extend_from_slice(b"next\n");
        assert_eq!(
            record(s.split(&mut buf, false)),
            Some(line(LIMIT)),
            "{type_name}"
        );
        // One byte over, all in one read: left for the runner to cut.
        let mut buf = BytesMut::from(&line(LIMIT + 1)[..]);
        buf.extend_from_slice(b"next\n");
        assert_eq!(record(s.split(&mut buf, false)), None, "{type_name}");
        assert_eq!(buf.len(), LIMIT + 6, "{type_name}: nothing consumed");
    }
}

#[test]
fn null_splitter_cuts_a_big_read_at_the_limit() {
    let mut s = splitter(NullSplitter::build, "NullSplitter", "");
    let mut buf = BytesMut::from(&vec![b'n'; LIMIT * 2 + 5][..]);
    let sizes: Vec<usize> = std::iter::from_fn(|| record(s.split(&mut buf, false)))
        .map(|r| r.len())
        .collect();
    assert_eq!(sizes, [LIMIT, LIMIT, 5]);
}

#[test]
fn pattern_grouping_ends_a_group_at_the_last_line_within_the_limit() {
    let mut s = splitter(
        PatternGroupingSplitter::build,
        "PatternGroupingSplitter",
        "grouping = '^a'",
    );
    let third = LIMIT / 3;
    let mut buf = BytesMut::new();
    for _ in 0..4 {
        buf.extend_from_slice(&line(third + 1));
    }
    // (A line is known to end the group only once the next one is there.)
    buf.extend_from_slice(b"end\nmore\n");
    // Three lines of third + 1 bytes pass the limit; two fit.
    assert_eq!(
        record(s.split(&mut buf, false)).map(|r| r.len()),
        Some(2 * (third + 1))
    );
    assert_eq!(
        record(s.split(&mut buf, false)).map(|r| r.len()),
        Some(2 * (third + 1))
    );
    // A single line over the limit is left for the runner.
    let mut buf = BytesMut::from(&line(LIMIT + 1)[..]);
    buf.extend_from_slice(b"end\n");
    assert_eq!(record(s.split(&mut buf, false)), None);
}
