//! The router's cost per pack with 1, 10 and 100 subscribed matchers, against
//! a loop that only evaluates the same matchers over the same packs (the
//! floor: what routing would cost if forwarding were free). Each route is a
//! batch of 1000 packs; every destination is an actor that drops its batch.
//!
//! Run: `cargo bench --bench router`. Throughput is reported in packs/s.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heka_actors::messages::{Deliver, Route, Subscribe};
use heka_actors::router::Router;
use heka_actors::stats::RunnerStats;
use heka_actors::{Pack, PackRef};
use heka_grammar::Matcher;
use heka_proto::{Field, Message, MessageView};

const BATCH: usize = 1000;

fn packs() -> Vec<PackRef> {
    (0..BATCH)
        .map(|i| {
            let mut m = Message::new([1; 16], 1_700_000_000_000_000_000);
            m.r#type = Some(Bytes::from(format!("type{}", i % 100)));
            m.logger = Some(Bytes::from_static(b"bench"));
            m.severity = Some(6);
            m.payload = Some(Bytes::from_static(b"a payload of a typical short log line"));
            m.fields = vec![
                Field::string("host", "web-1"),
                Field::integer("status", 200),
            ];
            Arc::new(Pack::detached(MessageView::from_message(&m).unwrap()))
        })
        .collect()
}

fn matchers(n: usize) -> Vec<Arc<Matcher>> {
    (0..n)
        .map(|i| {
            Arc::new(Matcher::compile(&format!("Type == 'type{i}' && Severity <= 6")).unwrap())
        })
        .collect()
}

/// A destination that drops what it gets.
struct Sink(Arc<RunnerStats>);

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Sink {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
        self.0
            .queued
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        black_box(msg.0.len());
    }
}

fn bench(c: &mut Criterion) {
    let packs = packs();
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(4));
    for n in [1usize, 10, 100] {
        let ms = matchers(n);
        group.bench_function(format!("eval-only/{n}"), |b| {
            b.iter(|| {
                let mut hits = 0usize;
                for pack in &packs {
                    for m in &ms {
                        hits += m.matches(&pack.message) as usize;
                    }
                }
                black_box(hits)
            })
        });
        group.bench_function(format!("route/{n}"), |b| {
            b.iter_custom(|iters| {
                let system = actix_rt::System::new();
                let packs = packs.clone();
                let ms = ms.clone();
                system.block_on(async move {
                    let router = Router::new(Arc::new(RunnerStats::default())).start();
                    for (i, m) in ms.into_iter().enumerate() {
                        let stats = Arc::new(RunnerStats::default());
                        let sink = Sink::create(|ctx| {
                            ctx.set_mailbox_capacity(30);
                            Sink(Arc::clone(&stats))
                        });
                        router
                            .send(Subscribe {
                                name: format!("sink{i}").into(),
                                matcher: m,
                                signer: None,
                                recipient: sink.recipient(),
                                stats,
                            })
                            .await
                            .unwrap();
                    }
                    let started = Instant::now();
                    for _ in 0..iters {
                        router.send(Route(packs.clone())).await.unwrap();
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
