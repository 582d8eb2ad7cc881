//! `heka.output-failure`: records an output gives up on are routed, with
//! their original bytes and the error, instead of being lost.

use std::sync::atomic::Ordering;
use std::time::Duration;

use heka_actors::Pipeline;
use heka_actors::runner::failure::OUTPUT_FAILURE;
use heka_proto::{FieldValue, MessageView};

use crate::support::{catalogue, eventually, globals, in_system, message, output, sink};

fn field(view: &MessageView, name: &str) -> Vec<u8> {
    match view.field_value(name.as_bytes(), 0, 0) {
        Some(FieldValue::String(v) | FieldValue::Bytes(v)) => v.to_vec(),
        other => panic!("field {name}: {other:?}"),
    }
}

#[test]
fn a_rejected_batch_is_routed_as_failures_carrying_the_original_bytes() {
    let (picky, failures) = (sink("fail-picky"), sink("fail-caught"));
    picky.reject.store(true, Ordering::SeqCst);
    let dropped = in_system(|| async {
        let specs = vec![
            output("picky", "fail-picky", "Type == 'job'"),
            output(
                "caught",
                "fail-caught",
                &format!("Type == '{OUTPUT_FAILURE}'"),
            ),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        for i in 0..20 {
            let msg = message("job", &format!("job {i}"));
            pipeline.inject(&msg).await.unwrap();
        }
        assert!(
            eventually(10, || failures.raw.lock().unwrap().len() == 20).await,
            "failures caught: {}",
            failures.raw.lock().unwrap().len()
        );
        let dropped = pipeline
            .stats("picky")
            .unwrap()
            .dropped
            .load(Ordering::Relaxed);
        pipeline.stop().await;
        dropped
    });
    assert_eq!(dropped, 20, "every record given up on is counted");
    let mut originals = Vec::new();
    for raw in failures.raw.lock().unwrap().iter() {
        let view = MessageView::decode(raw.clone()).unwrap();
        assert_eq!(view.logger(), b"picky");
        assert_eq!(field(&view, "output"), b"picky");
        assert_eq!(field(&view, "original_type"), b"job");
        assert_eq!(field(&view, "error"), b"capture output rejects the batch");
        assert_eq!(view.payload(), b"capture output rejects the batch");
        let original = MessageView::decode(field(&view, "message").into()).unwrap();
        assert_eq!(original.r#type(), b"job");
        originals.push(String::from_utf8(original.payload().to_vec()).unwrap());
    }
    let expected: Vec<String> = (0..20).map(|i| format!("job {i}")).collect();
    assert_eq!(originals, expected, "each record once, in order");
}

#[test]
fn an_output_that_exhausts_its_retries_routes_what_it_held() {
    let (doomed, failures) = (sink("fail-doomed"), sink("fail-after-retries"));
    doomed.fail.store(u64::MAX, Ordering::SeqCst);
    in_system(|| async {
        let mut spec = output("doomed", "fail-doomed", "Type == 'job'");
        spec.common.can_exit = Some(true);
        spec.common.retries.delay = Duration::from_millis(5);
        spec.common.retries.max_jitter = Duration::ZERO;
        spec.common.retries.max_retries = 1;
        let specs = vec![
            spec,
            output("caught", "fail-after-retries", "Fields[output] == 'doomed'"),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        pipeline.inject(&message("job", "only one")).await.unwrap();
        assert!(eventually(10, || failures.raw.lock().unwrap().len() == 1).await);
        pipeline.stop().await
    });
    let raw = failures.raw.lock().unwrap()[0].clone();
    let view = MessageView::decode(raw).unwrap();
    assert_eq!(field(&view, "error"), b"capture output failure");
    let original = MessageView::decode(field(&view, "message").into()).unwrap();
    assert_eq!(original.payload(), b"only one");
}

#[test]
fn a_failure_its_own_output_would_take_back_is_refused_not_looped() {
    let all = sink("fail-all");
    all.reject.store(true, Ordering::SeqCst);
    let (code, dropped) = in_system(|| async {
        let specs = vec![output("all", "fail-all", "TRUE")];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        for _ in 0..5 {
            pipeline.inject(&message("job", "x")).await.unwrap();
        }
        let stats = pipeline.stats("all").unwrap();
        assert!(eventually(10, || stats.dropped.load(Ordering::Relaxed) == 5).await);
        // A loop would keep feeding the output failures; give it a chance.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let received = stats.received.load(Ordering::Relaxed);
        let dropped = stats.dropped.load(Ordering::Relaxed);
        assert_eq!(received, 5, "no failure message came back");
        (pipeline.stop().await, dropped)
    });
    assert_eq!((code, dropped), (0, 5));
}
