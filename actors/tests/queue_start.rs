//! A buffered plugin whose queue is still at 90 % of `max_buffer_size`
//! when hekad starts: Heka's `[hekad] full_buffer_max_retries` waits, then
//! `full_action = "shutdown"` stops the pipeline with status 1; a queue
//! that drains in time lets the pipeline run.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use heka_actors::Pipeline;
use heka_actors::config::{Buffering, FullAction, Globals};
use heka_actors::queue::queue_dir;
use heka_actors::queue::segment::Writer;

use crate::support::{catalogue, globals, in_system, message, output, sink};

/// Fills the queue of plugin `name` with 100 records; returns its bytes.
fn prefill(base: &std::path::Path, name: &str) -> u64 {
    let dir = queue_dir(base, name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut frames = Vec::new();
    for i in 0..100 {
        let view = heka_proto::MessageView::from_message(&message("gen", &i.to_string())).unwrap();
        heka_proto::framing::encode_frame(view.raw(), None, 1 << 16, &mut frames).unwrap();
    }
    Writer::create(&dir, 0).unwrap().append(&frames).unwrap();
    frames.len() as u64
}

fn run(sink_id: &str, stalled: bool) -> (i32, Duration) {
    let base = tempfile::tempdir().unwrap();
    let bytes = prefill(base.path(), "full");
    let out = sink(sink_id);
    out.stalled.store(stalled, Ordering::SeqCst);
    let mut spec = output("full", sink_id, "TRUE");
    spec.common.use_buffering = Some(true);
    spec.common.buffering = Some(Buffering {
        max_buffer_size: bytes + bytes / 20,
        full_action: FullAction::Shutdown,
        ..Buffering::default()
    });
    let g = Globals {
        base_dir: base.path().to_owned(),
        full_buffer_max_retries: 2,
        shutdown_timeout: Duration::from_secs(1),
        ..globals()
    };
    let started = Instant::now();
    let code = in_system(|| async {
        let pipeline = Pipeline::start(g, vec![spec], catalogue()).unwrap();
        // The stalled write must end for a shutdown to finish draining:
        // released after the 2 s of retries.
        let release = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            out.stalled.store(false, Ordering::SeqCst);
        };
        let (stopped, ()) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(6), pipeline.finished()),
            release
        );
        match stopped {
            Ok(code) => code,
            Err(_) => pipeline.stop().await + 100,
        }
    });
    (code, started.elapsed())
}

#[test]
fn a_queue_still_90_percent_full_after_the_retries_shuts_down() {
    let (code, took) = run("q-start-stalled", true);
    assert_eq!(code, 1, "the pipeline kept running");
    assert!(
        took >= Duration::from_secs(2),
        "no wait before honouring full_action: {took:?}"
    );
}

#[test]
fn a_queue_that_drains_in_time_lets_the_pipeline_run() {
    let (code, _) = run("q-start-draining", false);
    assert_eq!(code, 100, "ran until stopped (100 + status 0)");
    assert_eq!(sink("q-start-draining").got.lock().unwrap().len(), 100);
}
