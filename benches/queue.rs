//! The disk queue's own cost: appending batches of 256 framed records of
//! about 200 bytes (one write(2) per batch, as the QueueRunner does) and
//! reading them back with the queue reader, on a real temporary folder
//! (the page cache, no fsync, as in hekad). Compare with W2's rate: a
//! queue that appends and reads far faster than the pipeline routes costs
//! it little.
//!
//! Run: `cargo bench --bench queue`. Throughput is reported in records/s.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use heka_actors::config::Buffering;
use heka_actors::queue::Cursor;
use heka_actors::queue::reader::{Item, QueueReader};
use heka_actors::queue::state::Queue;

const BATCH: usize = 256;
const BATCHES: usize = 200;

fn batch() -> Vec<u8> {
    let mut out = Vec::new();
    let record = vec![b'x'; 200];
    for _ in 0..BATCH {
        heka_proto::framing::encode_frame(&record, None, 1 << 16, &mut out).unwrap();
    }
    out
}

fn bench(c: &mut Criterion) {
    let data = batch();
    let mut group = c.benchmark_group("queue");
    group.throughput(Throughput::Elements((BATCH * BATCHES) as u64));
    group.bench_function("append", |b| {
        b.iter_batched(
            || tempfile::TempDir::new().unwrap(),
            |dir| {
                let (mut q, _) =
                    Queue::open(dir.path(), Buffering::default(), 1 << 16, Arc::default()).unwrap();
                for _ in 0..BATCHES {
                    q.append(&data, BATCH as u64).unwrap();
                }
                dir
            },
            BatchSize::PerIteration,
        )
    });
    let dir = tempfile::TempDir::new().unwrap();
    let (mut q, start) =
        Queue::open(dir.path(), Buffering::default(), 1 << 16, Arc::default()).unwrap();
    for _ in 0..BATCHES {
        q.append(&data, BATCH as u64).unwrap();
    }
    let live = q.live();
    group.bench_function("read", |b| {
        b.iter(|| {
            let mut reader = QueueReader::new(dir.path(), start, 1 << 16);
            let mut n = 0;
            while let Some(item) = reader.next(live).unwrap() {
                n += usize::from(matches!(item, Item::Record { .. }));
            }
            assert_eq!(n, BATCH * BATCHES);
            black_box(reader.position() > Cursor::default())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
