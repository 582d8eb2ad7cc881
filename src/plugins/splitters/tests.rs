use super::*;
use bytes::Bytes;
use heka_actors::config::PluginSpec;
use heka_proto::framing::encode_frame;
use heka_proto::signing::SigningKey;
use heka_proto::{DEFAULT_MAX_MESSAGE_SIZE, HmacHashFunction};

fn spec(name: &str, type_name: &str, options: &str) -> PluginSpec {
    let mut spec = PluginSpec::new(name, type_name).unwrap();
    spec.options = options.parse().unwrap();
    spec
}

fn build(f: heka_actors::plugin::BuildFn<dyn Splitter>, options: &str) -> Box<dyn Splitter> {
    f(&spec("split", "AnySplitter", options), &Globals::default()).unwrap()
}

/// Feeds `data` in chunks of `chunk` bytes, draining the splitter after
/// each, then once more at end of stream. Returns the events and what
/// was left in the buffer.
fn run(splitter: &mut dyn Splitter, data: &[u8], chunk: usize) -> (Vec<SplitEvent>, Vec<u8>) {
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(e) = splitter.split(&mut buf, false) {
            events.push(e);
        }
    }
    while let Some(e) = splitter.split(&mut buf, true) {
        events.push(e);
    }
    (events, buf.to_vec())
}

fn records(events: &[SplitEvent]) -> Vec<&[u8]> {
    events
        .iter()
        .map(|e| match e {
            SplitEvent::Record { data, .. } => &data[..],
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn token_records_do_not_depend_on_chunking() {
    let data = b"one\ntwo\n\nthree is longer\nfour\npartial";
    for chunk in 1..=data.len() {
        let mut s = build(TokenSplitter::build, "");
        let (events, rest) = run(s.as_mut(), data, chunk);
        assert_eq!(
            records(&events),
            [
                &b"one\n"[..],
                b"two\n",
                b"\n",
                b"three is longer\n",
                b"four\n"
            ],
            "chunk size {chunk}"
        );
        assert_eq!(rest, b"partial", "the runner decides about the tail");
        assert!(!s.message_bytes());
    }
}

#[test]
fn token_count_and_custom_delimiter() {
    let mut s = build(TokenSplitter::build, "delimiter = '|'\ncount = 2");
    for chunk in [1, 3, 100] {
        let (events, rest) = run(s.as_mut(), b"a|b|c|d|e|", chunk);
        assert_eq!(records(&events), [&b"a|b|"[..], b"c|d|"]);
        assert_eq!(rest, b"e|");
    }
}

#[test]
fn token_delimiter_must_be_one_byte() {
    for bad in ["''", "'ab'", "'é'"] {
        let err = TokenSplitter::build(
            &spec("lines", "TokenSplitter", &format!("delimiter = {bad}")),
            &Globals::default(),
        )
        .err()
        .unwrap();
        assert!(err.message.contains("section `lines`"), "{err}");
        assert!(err.message.contains("exactly one byte"), "{err}");
    }
    let err = TokenSplitter::build(
        &spec("lines", "TokenSplitter", "count = 0"),
        &Globals::default(),
    )
    .err()
    .unwrap();
    assert!(err.message.contains("count must be at least 1"), "{err}");
    let err = TokenSplitter::build(
        &spec("lines", "TokenSplitter", "delimeter = ','"),
        &Globals::default(),
    )
    .err()
    .unwrap();
    assert!(
        err.message.contains("section `lines`") && err.message.contains("delimeter"),
        "{err}"
    );
}

#[test]
fn use_message_bytes_is_honoured() {
    let mut sp = spec("s", "TokenSplitter", "");
    sp.common.use_message_bytes = Some(true);
    assert!(
        TokenSplitter::build(&sp, &Globals::default())
            .unwrap()
            .message_bytes()
    );
    assert!(
        NullSplitter::build(&sp, &Globals::default())
            .unwrap()
            .message_bytes()
    );
    sp.common.use_message_bytes = Some(false);
    assert!(
        !HekaFramingSplitter::build(&sp, &Globals::default())
            .unwrap()
            .message_bytes()
    );
    assert!(build(HekaFramingSplitter::build, "").message_bytes());
}

#[test]
fn null_splitter_takes_each_chunk_whole() {
    let mut s = build(NullSplitter::build, "");
    let mut buf = BytesMut::new();
    assert_eq!(s.split(&mut buf, false), None);
    buf.extend_from_slice(b"datagram one");
    assert_eq!(
        s.split(&mut buf, false),
        Some(SplitEvent::Record {
            data: Bytes::from_static(b"datagram one"),
            signer: None
        })
    );
    assert!(buf.is_empty());
    assert_eq!(s.split(&mut buf, true), None);
    assert!(NullSplitter::build(&spec("n", "NullSplitter", "x = 1"), &Globals::default()).is_err());
}

fn key(secret: &str) -> SigningKey {
    SigningKey {
        signer: "ops".into(),
        version: 1,
        hash: HmacHashFunction::Md5,
        key: secret.as_bytes().to_vec(),
    }
}

fn frame(out: &mut Vec<u8>, message: &[u8], key: Option<&SigningKey>) {
    encode_frame(message, key, DEFAULT_MAX_MESSAGE_SIZE, out).unwrap();
}

const SIGNED: &str = "[signer.ops_1]\nhmac_key = 'secret'";

#[test]
fn signed_records_are_verified() {
    let mut data = Vec::new();
    frame(&mut data, b"good", Some(&key("secret")));
    frame(&mut data, b"forged", Some(&key("wrong")));
    frame(&mut data, b"plain", None);
    let mut s = build(HekaFramingSplitter::build, SIGNED);
    let (events, rest) = run(s.as_mut(), &data, data.len());
    assert!(rest.is_empty());
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[0],
        SplitEvent::Record {
            data: Bytes::from_static(b"good"),
            signer: Some(Bytes::from_static(b"ops"))
        }
    );
    let SplitEvent::Dropped { reason, len } = &events[1] else {
        panic!("{:?}", events[1]);
    };
    assert!(
        reason.contains("bad HMAC") && reason.contains("ops"),
        "{reason}"
    );
    assert!(*len > 6);
    assert_eq!(
        events[2],
        SplitEvent::Record {
            data: Bytes::from_static(b"plain"),
            signer: None
        }
    );
}

#[test]
fn without_signers_signed_records_are_dropped_unless_skipped() {
    let mut data = Vec::new();
    frame(&mut data, b"signed", Some(&key("secret")));
    frame(&mut data, b"plain", None);
    let mut s = build(HekaFramingSplitter::build, "");
    let (events, _) = run(s.as_mut(), &data, 7);
    assert!(
        matches!(&events[0], SplitEvent::Dropped { reason, .. } if reason.contains("unknown signer")),
        "{events:?}"
    );
    assert_eq!(records(&events[1..]), [&b"plain"[..]]);

    let mut s = build(HekaFramingSplitter::build, "skip_authentication = true");
    let (events, _) = run(s.as_mut(), &data, 7);
    assert_eq!(records(&events), [&b"signed"[..], b"plain"]);
    assert!(matches!(
        &events[0],
        SplitEvent::Record { signer: None, .. }
    ));
}

/// The records (with signers) and the total of dropped bytes.
fn tally(events: &[SplitEvent]) -> (Vec<(Bytes, Option<Bytes>)>, usize) {
    let mut records = Vec::new();
    let mut dropped = 0;
    for e in events {
        match e {
            SplitEvent::Record { data, signer } => records.push((data.clone(), signer.clone())),
            SplitEvent::Dropped { len, .. } => dropped += len,
        }
    }
    (records, dropped)
}

#[test]
fn garbage_is_skipped_and_counted_with_its_offset() {
    let mut data = b"junk".to_vec();
    frame(&mut data, b"first", Some(&key("secret")));
    let garbage_at = data.len();
    data.extend_from_slice(b"more junk");
    frame(&mut data, b"second", None);
    let mut s = build(HekaFramingSplitter::build, SIGNED);
    let (events, rest) = run(s.as_mut(), &data, data.len());
    assert!(rest.is_empty());
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(
        events[0],
        SplitEvent::Dropped {
            len: 4,
            reason: "skipped 4 bytes at stream offset 0: data before a record separator".into()
        }
    );
    assert_eq!(
        events[2],
        SplitEvent::Dropped {
            len: 9,
            reason: format!(
                "skipped 9 bytes at stream offset {garbage_at}: data before a record separator"
            )
        }
    );
    let ops = Some(Bytes::from_static(b"ops"));
    let expected = vec![
        (Bytes::from_static(b"first"), ops),
        (Bytes::from_static(b"second"), None),
    ];
    assert_eq!(tally(&events), (expected.clone(), 13));

    // Chunked, a run of garbage may be reported in pieces, but the
    // records and the bytes dropped are the same.
    for chunk in 1..data.len() {
        let mut s = build(HekaFramingSplitter::build, SIGNED);
        let (events, rest) = run(s.as_mut(), &data, chunk);
        assert!(rest.is_empty());
        assert_eq!(tally(&events), (expected.clone(), 13), "chunk {chunk}");
    }
}

#[test]
fn a_torn_final_record_is_dropped_at_eof() {
    let mut data = Vec::new();
    frame(&mut data, b"whole", None);
    let mut torn = Vec::new();
    frame(&mut torn, b"torn record", None);
    data.extend_from_slice(&torn[..torn.len() - 3]);
    let mut s = build(HekaFramingSplitter::build, "");
    let (events, rest) = run(s.as_mut(), &data, 5);
    assert!(rest.is_empty());
    assert_eq!(records(&events[..1]), [&b"whole"[..]]);
    assert!(matches!(&events[1..], [SplitEvent::Dropped { .. }, ..]));
}

#[test]
fn signer_names_need_a_version_and_keys_a_key() {
    for bad in ["[signer.ops]\nhmac_key = 'k'", "[signer.ops_1]\nkey = 'k'"] {
        let err = HekaFramingSplitter::build(
            &spec("frames", "HekaFramingSplitter", bad),
            &Globals::default(),
        )
        .err()
        .unwrap();
        assert!(err.message.contains("section `frames`"), "{err}");
    }
}

#[test]
fn oversized_messages_are_refused_by_the_global_limit() {
    let mut data = Vec::new();
    frame(&mut data, &[b'x'; 2000], None);
    frame(&mut data, b"small", None);
    let globals = Globals {
        max_message_size: 1500,
        ..Globals::default()
    };
    let mut s =
        HekaFramingSplitter::build(&spec("f", "HekaFramingSplitter", ""), &globals).unwrap();
    let (events, _) = run(s.as_mut(), &data, 512);
    let SplitEvent::Dropped { reason, .. } = &events[0] else {
        panic!("{events:?}");
    };
    assert!(reason.contains("maximum message size"), "{reason}");
    let (records, dropped) = tally(&events);
    assert_eq!(records, [(Bytes::from_static(b"small"), None)]);
    assert_eq!(dropped + 10, data.len(), "everything else was skipped");
}
