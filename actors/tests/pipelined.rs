//! Pipelined decoding in a stream (`StreamSink::flush_pipelined`): a read
//! is decoded, on the decode pool or by the stream itself, while the read
//! before it is routed; records still reach the router exactly once, in
//! record order, through stops and decoder failures.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use heka_actors::Pipeline;
use heka_actors::config::{Globals, PluginSpec};

use crate::support::{catalogue, eventually, globals, in_system, output, sink, spec};

/// A ReadsInput (`input` options) whose stream decodes with a LogDecoder
/// (`decoder` options), captured by CaptureOutput into sink `id`.
fn specs(id: &str, input: &str, decoder: &str) -> Vec<PluginSpec> {
    let mut reads = spec("reads", "ReadsInput", &format!("sink = {id:?}\n{input}"));
    reads.common.decoder = Some("log".into());
    reads.common.retries.max_retries = 0;
    vec![
        reads,
        spec("LineSplitter", "LineSplitter", ""),
        spec("log", "LogDecoder", &format!("sink = {id:?}\n{decoder}")),
        output("capture", id, "Type == 'decoded'"),
    ]
}

fn with(maxprocs: usize, poolsize: usize) -> Globals {
    Globals {
        maxprocs,
        poolsize,
        ..globals()
    }
}

fn numbers(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

#[test]
fn records_keep_their_order_across_reads_and_parts_decoded_at_different_speeds() {
    let id = "piped-order";
    let out = sink(id);
    let code = in_system(|| async {
        let specs = specs(
            id,
            "reads = 20\nper_read = 1000",
            "slow_every = 97\nslow_ms = 1",
        );
        let pipeline = Pipeline::start(with(2, 100), specs, catalogue()).expect("builds");
        assert!(
            eventually(30, || out.got.lock().unwrap().len() >= 20_000).await,
            "got {}",
            out.got.lock().unwrap().len()
        );
        pipeline.stop().await
    });
    assert_eq!(code, 0);
    assert!(
        out.payloads() == numbers(0..20_000),
        "out of order, lost or repeated"
    );
    let decoded = out.decoded.lock().unwrap();
    let mut once: Vec<u64> = decoded.iter().map(|(n, _)| *n).collect();
    once.sort_unstable();
    assert!(
        once == (0..20_000).collect::<Vec<_>>(),
        "each record decoded once"
    );
    let threads: HashSet<_> = decoded.iter().map(|(_, t)| *t).collect();
    assert!(
        threads.len() >= 2,
        "parts decoded on the pool and by the stream"
    );
}

/// While read 0 cannot be routed (the output stalls and holds the whole
/// pool), read 1 is decoded: by the pool's worker with maxprocs = 2, by
/// the stream itself while it waits for permits with maxprocs = 1. Read 2
/// is not cut yet (two reads in flight at most).
#[test]
fn the_next_read_is_decoded_while_the_previous_one_waits_to_be_routed() {
    for maxprocs in [1, 2] {
        let id = format!("piped-ahead-{maxprocs}");
        let out = sink(&id);
        out.stalled.store(true, Ordering::SeqCst);
        let code = in_system(|| async {
            let specs = specs(&id, "reads = 3\nper_read = 100", "");
            let pipeline = Pipeline::start(with(maxprocs, 8), specs, catalogue()).expect("builds");
            let decoded = |n: u64| out.decoded.lock().unwrap().iter().any(|(m, _)| *m == n);
            assert!(
                eventually(10, || decoded(199)).await,
                "maxprocs {maxprocs}: read 1 decoded"
            );
            let stats = pipeline.stats("reads").unwrap();
            let routed = stats.injected.load(Ordering::Relaxed);
            assert!(
                routed <= 8,
                "maxprocs {maxprocs}: read 0 still blocked, {routed} routed"
            );
            assert!(out.got.lock().unwrap().is_empty());
            assert!(!decoded(200), "maxprocs {maxprocs}: read 2 not cut yet");
            out.stalled.store(false, Ordering::SeqCst);
            assert!(eventually(10, || out.got.lock().unwrap().len() == 300).await);
            pipeline.stop().await
        });
        assert_eq!(code, 0);
        assert!(
            out.payloads() == numbers(0..300),
            "maxprocs {maxprocs}: in order"
        );
    }
}

#[test]
fn a_stop_with_reads_in_flight_routes_everything_cut() {
    let id = "piped-stop";
    let out = sink(id);
    let code = in_system(|| async {
        let specs = specs(
            id,
            "forever = true\nper_read = 500",
            "slow_every = 50\nslow_ms = 1",
        );
        let pipeline = Pipeline::start(with(2, 50), specs, catalogue()).expect("builds");
        assert!(eventually(10, || out.decoded.lock().unwrap().len() > 2_000).await);
        pipeline.stop().await
    });
    assert_eq!(code, 0);
    let accepted = out.accepted.load(Ordering::SeqCst);
    assert!(accepted >= 2_000, "{accepted}");
    assert!(
        out.payloads() == numbers(0..accepted),
        "every record cut, once, in order"
    );
}

/// Record 1300 is in the second part of read 2 (reads of 500, parts of at
/// most 256): the records before it are routed, none after it, and the
/// daemon stops (a decoder's fatal error is fatal for hekad, as in Heka).
#[test]
fn a_fatal_decoder_error_mid_pipeline_routes_the_records_before_it_only() {
    let id = "piped-fatal";
    let out = sink(id);
    let code = in_system(|| async {
        let specs = specs(id, "reads = 6\nper_read = 500", "fatal_at = 1300");
        let pipeline = Pipeline::start(with(2, 100), specs, catalogue()).expect("builds");
        pipeline.finished().await
    });
    assert_ne!(code, 0, "a fatal decoder error stops hekad");
    assert!(
        out.payloads() == numbers(0..1300),
        "got {}",
        out.payloads().len()
    );
}
