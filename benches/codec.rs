//! Framing and protobuf decoding of a realistic ~300-byte message (an nginx
//! access log line with its parsed fields), the work every input does per
//! record. Target: a framed record decoded in under 300 ns.
//!
//! `view` is the decode the pipeline uses ([`MessageView`]: validate and
//! index, no copies); `prost` builds the owned message, for comparison.
//! `baseline/walk` only steps over the protobuf fields without building or
//! checking anything: the ratio view/walk is the figure to watch.
//!
//! Run: `cargo bench --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heka_proto::deframer::{Deframer, Event};
use heka_proto::framing::{self, DEFAULT_MAX_MESSAGE_SIZE, Scan};
use heka_proto::prost::Message as _;
use heka_proto::{Field, Message, MessageView, decode_message};

fn message() -> Message {
    let mut m = Message::new(
        *b"\x1d\x4e\x8c\x02\x33\x5a\x4f\x1b\x9b\x0e\x52\x7c\x11\xa8\x6e\x90",
        1_700_000_000_123_456_789,
    );
    m.r#type = Some(Bytes::from_static(b"nginx.access"));
    m.logger = Some(Bytes::from_static(b"nginx-access-input"));
    m.severity = Some(6);
    m.payload = Some(Bytes::from_static(
        b"203.0.113.7 - - [14/Nov/2023:22:13:20 +0000] \"GET /api/v1/items?page=2 HTTP/1.1\" 200 5120 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
    ));
    m.pid = Some(4242);
    m.hostname = Some(Bytes::from_static(b"web-1.example.com"));
    m.fields = vec![
        Field::string("remote_addr", "203.0.113.7"),
        Field::string("request", "GET /api/v1/items?page=2 HTTP/1.1"),
        Field::integer("status", 200),
        Field::integer("body_bytes_sent", 5120).with_representation("B"),
        Field::double("request_time", 0.013),
    ];
    m
}

/// Steps over every field of a protobuf message: the least any decoder does.
fn walk(mut b: &[u8]) -> usize {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0;
        for shift in (0..64).step_by(7) {
            let Some((&x, rest)) = b.split_first() else {
                return v;
            };
            *b = rest;
            v |= u64::from(x & 0x7f) << shift;
            if x < 0x80 {
                break;
            }
        }
        v
    }
    let mut fields = 0;
    while !b.is_empty() {
        let key = varint(&mut b);
        let skip = match key & 7 {
            0 => {
                varint(&mut b);
                0
            }
            1 => 8,
            2 => varint(&mut b) as usize,
            5 => 4,
            _ => b.len(),
        };
        b = &b[skip.min(b.len())..];
        fields += 1;
    }
    fields
}

fn bench(c: &mut Criterion) {
    let msg = message();
    let encoded = Bytes::from(msg.encode_to_vec());
    let mut framed = Vec::new();
    framing::encode_frame(&encoded, None, DEFAULT_MAX_MESSAGE_SIZE, &mut framed).unwrap();
    let framed = Bytes::from(framed);
    println!(
        "message: {} bytes encoded, {} bytes framed",
        encoded.len(),
        framed.len()
    );

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline/walk", |b| b.iter(|| walk(black_box(&encoded))));
    g.bench_function("scan", |b| {
        b.iter(|| {
            matches!(
                framing::scan(black_box(&framed), DEFAULT_MAX_MESSAGE_SIZE),
                Scan::Record(_)
            )
        })
    });
    g.bench_function("view", |b| {
        b.iter(|| MessageView::decode(black_box(encoded.clone())).unwrap())
    });
    g.bench_function("prost", |b| {
        b.iter(|| decode_message(black_box(encoded.clone())).unwrap())
    });
    g.bench_function("deframe_and_view", |b| {
        let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
        let mut buf = BytesMut::with_capacity(framed.len());
        b.iter(|| {
            buf.extend_from_slice(black_box(&framed[..]));
            match deframer.next(&mut buf) {
                Some(Event::Record(r)) => MessageView::decode(r.message).unwrap(),
                other => panic!("{other:?}"),
            }
        })
    });
    g.bench_function("encode_and_frame", |b| {
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            let bytes = black_box(&msg).encode_to_vec();
            framing::encode_frame(&bytes, None, DEFAULT_MAX_MESSAGE_SIZE, &mut out).unwrap();
            out.len()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
