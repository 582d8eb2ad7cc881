//! Hostile input: arbitrary bytes never panic the framing reader or the
//! message decoder, and records survive any garbage placed between them.

use bytes::{Bytes, BytesMut};
use heka_proto::deframer::{Deframer, Event};
use heka_proto::framing::encode_frame;
use heka_proto::reader::Reader;
use heka_proto::{Message, decode_message};
use proptest::prelude::*;

fn events_of(bytes: &[u8], max: usize) -> Vec<Event> {
    let mut reader = Reader::new(bytes, Deframer::new(max));
    let mut events = Vec::new();
    while let Some(e) = reader.next_event().expect("reading a slice") {
        events.push(e);
    }
    while let Some(e) = reader.finish() {
        events.push(e);
    }
    events
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_are_fully_accounted(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let events = events_of(&bytes, 256);
        let mut accounted = 0usize;
        for e in &events {
            accounted += match e {
                Event::Record(r) => {
                    let _ = decode_message(r.message.clone());
                    r.framed.len()
                }
                Event::Corrupt { len, .. } | Event::Rejected { len, .. } => *len,
            };
        }
        // Every input byte is either part of a record or reported as skipped.
        prop_assert_eq!(accounted, bytes.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_message_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_message(Bytes::from(bytes));
    }

    #[test]
    fn records_survive_garbage_between_them(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..8),
        // Garbage without a record separator: anything else is fair game.
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("not RS", |b| *b != 0x1e), 0..20), 8),
        chunk in 1usize..64,
    ) {
        let mut stream = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            stream.extend(&garbage[i]);
            encode_frame(p, None, 1024, &mut stream).unwrap();
        }
        // Feed in small chunks to exercise partial reads.
        let mut d = Deframer::new(1024);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(e) = d.next(&mut buf) {
                if let Event::Record(r) = e { got.push(r.message.to_vec()); }
            }
        }
        while let Some(e) = d.next_at_eof(&mut buf) {
            if let Event::Record(r) = e { got.push(r.message.to_vec()); }
        }
        prop_assert_eq!(got, payloads);
    }
}

#[test]
fn an_endless_record_is_bounded_by_the_size_limit() {
    // A header announcing more than the limit is skipped at once, so nobody
    // waits (and buffers) for a record that may never end.
    let mut stream = vec![0x1e, 0x04, 0x08, 0xff, 0xff, 0x07, 0x1f];
    stream.extend(std::iter::repeat_n(b'A', 10_000));
    let events = events_of(&stream, 64 * 1024);
    assert_eq!(events.len(), 1, "{:?}", &events);
    assert!(matches!(
        events[0],
        Event::Corrupt {
            offset: 0,
            len: 10_007,
            ..
        }
    ));
}

#[test]
fn a_message_of_default_size_limit_round_trips() {
    let mut m = Message::new([7; 16], 1);
    m.payload = Some(Bytes::from(vec![b'x'; 60_000]));
    let bytes = prost::Message::encode_to_vec(&m);
    let mut stream = Vec::new();
    encode_frame(&bytes, None, 64 * 1024, &mut stream).unwrap();
    let events = events_of(&stream, 64 * 1024);
    match &events[..] {
        [Event::Record(r)] => assert_eq!(decode_message(r.message.clone()).unwrap(), m),
        other => panic!("{other:?}"),
    }
}
