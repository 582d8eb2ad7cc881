//! The runtime end to end with the test catalogue: fan-out by matcher,
//! injection, text streams, back pressure with a stalled output, restarts,
//! exits and the shutdown drain.

use std::sync::atomic::Ordering;

use heka_actors::Pipeline;
use heka_actors::config::{Category, Globals};

use crate::support::{catalogue, eventually, globals, in_system, output, sink, spec};

#[test]
fn packs_fan_out_by_matcher_and_filters_inject() {
    let (a, b, seen) = (sink("fan-a"), sink("fan-b"), sink("fan-seen"));
    let code = in_system(|| async {
        let mut filter = spec("echo", "EchoFilter", "");
        filter.common.message_matcher = Some("Type == 'alpha'".into());
        let specs = vec![
            spec("gen1", "GenInput", "count = 500\ntype = 'alpha'"),
            spec("gen2", "GenInput", "count = 300\ntype = 'beta'"),
            filter,
            output("all", "fan-a", "TRUE"),
            output("betas", "fan-b", "Type == 'beta'"),
            output("echoes", "fan-seen", "Type == 'alpha.seen'"),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        assert!(
            eventually(10, || seen.got.lock().unwrap().len() == 500).await,
            "echoes: {}",
            seen.got.lock().unwrap().len()
        );
        pipeline.stop().await
    });
    assert_eq!(code, 0);
    assert_eq!(a.got.lock().unwrap().len(), 500 + 300 + 500);
    let betas = b.got.lock().unwrap();
    assert_eq!(betas.len(), 300);
    assert!(betas.iter().all(|(t, _)| t == "beta"));
    // Each input's messages arrive in order.
    let payloads: Vec<u32> = betas.iter().map(|(_, p)| p.parse().unwrap()).collect();
    assert_eq!(payloads, (0..300).collect::<Vec<_>>());
}

#[test]
fn text_records_become_messages_with_stream_defaults() {
    let out = sink("text");
    in_system(|| async {
        let specs = vec![
            spec(
                "lines",
                "TextInput",
                "text = \"one\\ntwo\\nthree\\npartial\"",
            ),
            spec("LineSplitter", "LineSplitter", ""),
            output(
                "capture",
                "text",
                "Type == 'text' && Logger == 'lines' && Hostname == 'peer'",
            ),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        assert!(
            eventually(10, || out.got.lock().unwrap().len() == 3).await,
            "{:?}\n{}",
            out.got.lock().unwrap(),
            pipeline.report().to_text()
        );
        let stats = pipeline.stats("lines").unwrap();
        // The incomplete final record is dropped and counted (deliver_incomplete_final = false).
        assert!(eventually(5, || stats.dropped.load(Ordering::Relaxed) == 1).await);
        pipeline.stop().await
    });
    let got = out.got.lock().unwrap();
    let payloads: Vec<&str> = got.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(payloads, ["one\n", "two\n", "three\n"]);
}

#[test]
fn a_stalled_output_holds_everything_back_without_growing_or_losing() {
    let out = sink("stall");
    out.stalled.store(true, Ordering::SeqCst);
    const N: usize = 100_000;
    in_system(|| async {
        let specs = vec![
            spec("gen", "GenInput", &format!("count = {N}")),
            output("slow", "stall", "TRUE"),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        let input = pipeline.stats("gen").unwrap();
        let slow = pipeline.stats("slow").unwrap();
        // Let the pipeline fill up, then check it stays bounded while stalled.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let routed_early = input.injected.load(Ordering::Relaxed);
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let routed = input.injected.load(Ordering::Relaxed);
        assert_eq!(
            routed, routed_early,
            "the input kept routing while the output was stalled"
        );
        // Everything in flight holds a pack: the pool bounds memory.
        assert!(
            routed as usize <= globals().poolsize,
            "routed {routed} packs past a pool of 100"
        );
        assert!(slow.queued.load(Ordering::Relaxed) <= 31);
        out.stalled.store(false, Ordering::SeqCst);
        assert!(
            eventually(60, || out.got.lock().unwrap().len() == N).await,
            "got {}",
            out.got.lock().unwrap().len()
        );
        pipeline.stop().await
    });
    let got = out.got.lock().unwrap();
    let payloads: Vec<usize> = got.iter().map(|(_, p)| p.parse().unwrap()).collect();
    assert_eq!(
        payloads,
        (0..N).collect::<Vec<_>>(),
        "lost or reordered messages"
    );
}

#[test]
fn failing_and_panicking_outputs_are_restarted_and_lose_nothing() {
    let out = sink("flaky");
    out.fail.store(2, Ordering::SeqCst);
    out.panics.store(1, Ordering::SeqCst);
    in_system(|| async {
        let mut flaky = output("flaky", "flaky", "TRUE");
        flaky.common.retries.delay = std::time::Duration::from_millis(10);
        flaky.common.retries.max_jitter = std::time::Duration::ZERO;
        flaky.common.retries.max_retries = 5;
        let specs = vec![spec("gen", "GenInput", "count = 1000"), flaky];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        assert!(eventually(10, || out.got.lock().unwrap().len() == 1000).await);
        assert_eq!(
            pipeline
                .stats("flaky")
                .unwrap()
                .restarts
                .load(Ordering::Relaxed),
            3
        );
        pipeline.stop().await
    });
    let payloads: Vec<usize> = out.payloads().iter().map(|p| p.parse().unwrap()).collect();
    assert_eq!(payloads, (0..1000).collect::<Vec<_>>());
}

#[test]
fn exhausted_retries_without_can_exit_stop_the_pipeline_with_status_1() {
    let out = sink("doomed");
    out.fail.store(u64::MAX, Ordering::SeqCst);
    let code = in_system(|| async {
        let mut doomed = output("doomed", "doomed", "TRUE");
        doomed.common.retries.delay = std::time::Duration::from_millis(5);
        doomed.common.retries.max_jitter = std::time::Duration::ZERO;
        doomed.common.retries.max_retries = 2;
        let specs = vec![spec("gen", "GenInput", "count = 10"), doomed];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        tokio::time::timeout(std::time::Duration::from_secs(10), pipeline.finished())
            .await
            .expect("the pipeline stopped by itself")
    });
    assert_eq!(code, 1);
}

#[test]
fn a_panicking_filter_with_can_exit_is_removed_and_announced() {
    let (term, echoes) = (sink("term"), sink("term-echo"));
    in_system(|| async {
        let mut filter = spec("echo", "EchoFilter", "");
        filter.common.message_matcher = Some("Type == 'text'".into());
        filter.common.can_exit = Some(true);
        filter.common.retries.max_retries = 0;
        let specs = vec![
            spec("lines", "TextInput", "text = \"fine\\nboom\\nlater\\n\""),
            spec("LineSplitter", "LineSplitter", ""),
            filter,
            output("terminated", "term", "Type == 'heka.terminated'"),
            output("echoes", "term-echo", "Type == 'text.seen'"),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        assert!(eventually(10, || term.got.lock().unwrap().len() == 1).await);
        assert!(
            !pipeline
                .running(Category::Filter)
                .contains(&"echo".to_string())
        );
        assert_eq!(
            pipeline.stop().await,
            0,
            "an exit allowed by can_exit is not a failure"
        );
    });
    let got = term.got.lock().unwrap();
    assert!(
        got[0]
            .1
            .starts_with("echo (type EchoFilter) terminated. Error: panicked: boom payload"),
        "{got:?}"
    );
    // The message before the panic was processed; nothing after it was.
    let echoed: Vec<String> = echoes.payloads();
    assert_eq!(echoed, ["fine\n"]);
}

#[test]
fn shutdown_delivers_everything_the_inputs_accepted() {
    let out = sink("drain");
    let (code, routed) = in_system(|| async {
        let specs = vec![
            spec("gen", "GenInput", "count = 50000"),
            output("all", "drain", "TRUE"),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let code = pipeline.stop().await;
        let routed = pipeline
            .stats("gen")
            .unwrap()
            .injected
            .load(Ordering::Relaxed);
        (code, routed)
    });
    assert_eq!(code, 0);
    assert!(routed > 0);
    assert_eq!(
        out.got.lock().unwrap().len() as u64,
        routed,
        "routed packs lost at shutdown"
    );
}

#[test]
fn build_errors_are_all_reported_with_their_plugin() {
    let mut bad_matcher = output("bad", "x", "Type = 'x'");
    bad_matcher.common.message_matcher = Some("Type = 'x'".into());
    let no_matcher = spec("nomatch", "CaptureOutput", "sink = 'y'");
    let specs = vec![
        bad_matcher,
        no_matcher,
        spec("what", "NopeInput", ""),
        spec("t", "TextInput", ""),
    ];
    let errors = heka_actors::pipeline::check(&globals(), &specs, &catalogue()).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(text.len(), 4, "{text:#?}");
    assert!(
        text[0].contains("`bad`") && text[0].contains("offset 5"),
        "{}",
        text[0]
    );
    assert!(text[1].contains("`nomatch`") && text[1].contains("message_matcher is required"));
    assert!(text[2].contains("unknown plugin type `NopeInput`"));
    assert!(text[3].contains("`text` is required"));
}

#[test]
fn the_all_report_message_is_routed_with_every_runner() {
    let out = sink("report");
    in_system(|| async {
        let specs = vec![
            spec("gen", "GenInput", "count = 5"),
            output("reports", "report", "Type == 'heka.all-report'"),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        let gen_stats = pipeline.stats("gen").unwrap();
        assert!(eventually(5, || gen_stats.injected.load(Ordering::Relaxed) == 5).await);
        pipeline.inject_report().await.unwrap();
        assert!(eventually(5, || out.got.lock().unwrap().len() == 1).await);
        pipeline.stop().await
    });
    let got = out.got.lock().unwrap();
    let report: serde_json::Value = serde_json::from_str(&got[0].1).expect("the payload is JSON");
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs[0]["Name"], "gen");
    assert_eq!(inputs[0]["RoutedMessageCount"]["value"], 5);
    let names: Vec<&str> = report["globals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["inputRecycleChan", "injectRecycleChan", "Router"]);
    assert_eq!(report["outputs"][0]["Name"], "reports");
}

#[test]
fn router_destinations_can_be_added_replaced_and_removed_while_running() {
    use actix::prelude::*;
    use heka_actors::messages::{Route, Subscribe, Unsubscribe};
    use heka_actors::router::Router;
    use heka_actors::stats::RunnerStats;
    use std::sync::Arc;

    struct Count(Arc<RunnerStats>);
    impl Actor for Count {
        type Context = Context<Self>;
    }
    impl Handler<heka_actors::messages::Deliver> for Count {
        type Result = ();
        fn handle(&mut self, msg: heka_actors::messages::Deliver, _: &mut Context<Self>) {
            self.0.queued.fetch_sub(1, Ordering::Relaxed);
            RunnerStats::add(&self.0.received, msg.0.len() as u64);
        }
    }
    in_system(|| async {
        let router = Router::new(Arc::default()).start();
        let stats: Arc<RunnerStats> = Arc::default();
        let dest = Count(Arc::clone(&stats)).start();
        let pack = |t: &str| {
            let view =
                heka_proto::MessageView::from_message(&crate::support::message(t, "p")).unwrap();
            Arc::new(heka_actors::Pack::detached(view))
        };
        let subscribe = |matcher: &str| Subscribe {
            name: "dest".into(),
            matcher: Arc::new(heka_grammar::Matcher::compile(matcher).unwrap()),
            signer: None,
            recipient: dest.clone().recipient(),
            stats: Arc::clone(&stats),
        };
        router.send(subscribe("Type == 'a'")).await.unwrap();
        router
            .send(Route(vec![pack("a"), pack("b")]))
            .await
            .unwrap();
        // Same name: the matcher is replaced, not added.
        router.send(subscribe("Type == 'b'")).await.unwrap();
        router
            .send(Route(vec![pack("a"), pack("b"), pack("b")]))
            .await
            .unwrap();
        router.send(Unsubscribe("dest".into())).await.unwrap();
        router
            .send(Route(vec![pack("a"), pack("b")]))
            .await
            .unwrap();
        assert!(eventually(5, || RunnerStats::get(&stats.received) == 3).await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(RunnerStats::get(&stats.received), 3);
        assert_eq!(RunnerStats::get(&stats.matched), 3);
    });
}

#[test]
fn a_panicking_filter_is_restarted_and_goes_on_with_the_next_message() {
    let echoes = sink("restart-echo");
    in_system(|| async {
        let mut filter = spec("echo", "EchoFilter", "");
        filter.common.message_matcher = Some("Type == 'text'".into());
        filter.common.retries.delay = std::time::Duration::from_millis(5);
        filter.common.retries.max_jitter = std::time::Duration::ZERO;
        filter.common.retries.max_retries = 3;
        let specs = vec![
            spec(
                "lines",
                "TextInput",
                "text = \"one\\nboom\\ntwo\\nboom again\\nthree\\n\"",
            ),
            spec("LineSplitter", "LineSplitter", ""),
            filter,
            output("echoes", "restart-echo", "Type == 'text.seen'"),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        assert!(eventually(10, || echoes.got.lock().unwrap().len() == 3).await);
        let stats = pipeline.stats("echo").unwrap();
        assert_eq!(stats.restarts.load(Ordering::Relaxed), 2);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(pipeline.stop().await, 0);
    });
    let echoed: Vec<String> = echoes.payloads();
    assert_eq!(echoed, ["one\n", "two\n", "three\n"]);
}

#[test]
fn a_failing_input_is_restarted_per_retries_then_stops_the_pipeline() {
    let out = sink("attempts");
    let code = in_system(|| async {
        let mut input = spec("flaky", "FailInput", "");
        input.common.retries.delay = std::time::Duration::from_millis(5);
        input.common.retries.max_jitter = std::time::Duration::ZERO;
        input.common.retries.max_retries = 2;
        let specs = vec![input, output("all", "attempts", "TRUE")];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        let code = tokio::time::timeout(std::time::Duration::from_secs(10), pipeline.finished())
            .await
            .expect("the pipeline stopped by itself");
        assert_eq!(
            pipeline
                .stats("flaky")
                .unwrap()
                .restarts
                .load(Ordering::Relaxed),
            2
        );
        code
    });
    assert_eq!(code, 1);
    // One message per run (the first and two restarts), all delivered at shutdown.
    assert_eq!(out.got.lock().unwrap().len(), 3);
}

#[test]
fn an_output_that_cannot_deliver_does_not_hold_shutdown_past_its_timeout() {
    let out = sink("refusing");
    out.refuse.store(true, Ordering::SeqCst);
    let (code, dropped, took) = in_system(|| async {
        let globals = Globals {
            shutdown_timeout: std::time::Duration::from_millis(300),
            ..globals()
        };
        let specs = vec![output("down", "refusing", "TRUE")];
        let pipeline = Pipeline::start(globals, specs, catalogue()).expect("builds");
        for _ in 0..3 {
            pipeline
                .inject(&crate::support::message("in", "x"))
                .await
                .unwrap();
        }
        let started = std::time::Instant::now();
        // Bounded, so a regression fails instead of hanging.
        let code = tokio::time::timeout(std::time::Duration::from_secs(10), pipeline.stop())
            .await
            .expect("shutdown finished");
        let stats = pipeline.stats("down").unwrap();
        (
            code,
            stats.dropped.load(Ordering::Relaxed),
            started.elapsed(),
        )
    });
    assert_eq!(code, 0);
    assert_eq!(dropped, 3, "every record held is counted");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert!(out.got.lock().unwrap().is_empty());
}
