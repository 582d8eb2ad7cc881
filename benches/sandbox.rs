//! W4: the cost per message of a SandboxFilter whose `process_message` reads
//! `read_message("Type")` and increments a counter, limits on (Heka's
//! defaults), against the same work written as a Rust filter, in one run.
//! Target: at most 100 ns per message.
//!
//! Run: `cargo bench --bench sandbox`.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use hekad::actors::config::{Globals, PluginSpec};
use hekad::actors::plugin::FilterCx;
use hekad::actors::{Filter, Pack, PluginError};
use hekad::plugins::sandbox::SandboxFilter;
use hekad::proto::{Message, MessageView};

const SCRIPT: &str = r#"
count = 0
function process_message()
    local t = read_message("Type")
    if t then count = count + 1 end
    return 0
end
"#;

/// The same work in Rust.
struct RustCounter {
    count: u64,
}

impl Filter for RustCounter {
    fn process(&mut self, pack: &Pack, _: &mut FilterCx) -> Result<(), PluginError> {
        if !black_box(pack.message.r#type()).is_empty() {
            self.count += 1;
        }
        Ok(())
    }
}

fn pack() -> Arc<Pack> {
    let mut m = Message::new([3; 16], 1_700_000_000_000_000_000);
    m.r#type = Some(Bytes::from_static(b"nginx.access"));
    m.payload = Some(Bytes::from_static(b"GET / HTTP/1.1 200"));
    Arc::new(Pack::detached(MessageView::from_message(&m).unwrap()))
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("count.lua");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut spec = PluginSpec::new("counter", "SandboxFilter").unwrap();
    spec.options = format!("filename = {:?}", script.display().to_string())
        .parse()
        .unwrap();
    let globals = Globals::default();
    let mut lua = SandboxFilter::build(&spec, &globals).expect("the script loads");
    let mut rust = RustCounter { count: 0 };
    let mut cx = FilterCx::new("counter", "bench", 1, 4);
    let pack = pack();
    let mut group = c.benchmark_group("w4");
    group.bench_function("rust-filter", |b| {
        b.iter(|| rust.process(black_box(&pack), &mut cx).unwrap())
    });
    group.bench_function("sandbox-filter", |b| {
        b.iter(|| lua.process(black_box(&pack), &mut cx).unwrap())
    });
    group.finish();
    black_box(rust.count);
}

criterion_group!(benches, bench);
criterion_main!(benches);
