//! The output hooks DashboardOutput relies on: `prepare` before anything
//! starts (its error stops startup, naming the output), `start` on the
//! runner's thread for the first instance and every rebuilt one, and the
//! context's `inject_reports`, whose messages go through the router like
//! any other (a filter matching `heka.all-report` sees it).

use std::sync::atomic::Ordering;

use heka_actors::Pipeline;

use crate::support::{catalogue, eventually, globals, in_system, output, sink, spec};

fn reporting(name: &str, sink_id: &str, extra: &str) -> heka_actors::PluginSpec {
    let mut s = spec(
        name,
        "ReportingOutput",
        &format!("sink = {sink_id:?}\n{extra}"),
    );
    s.common.message_matcher = Some("Type == 'heka.all-report'".into());
    s
}

#[test]
fn reports_asked_for_at_start_reach_filters_and_outputs() {
    let (own, others) = (sink("cx-own"), sink("cx-others"));
    in_system(|| async {
        let mut echo = spec("echo", "EchoFilter", "");
        echo.common.message_matcher = Some("Type == 'heka.all-report'".into());
        let specs = vec![
            reporting("dash", "cx-own", ""),
            echo,
            output(
                "others",
                "cx-others",
                "Type == 'heka.all-report.seen' || Type == 'heka.memstat'",
            ),
        ];
        let pipeline = Pipeline::start(globals(), specs, catalogue()).expect("builds");
        assert!(eventually(5, || own.got.lock().unwrap().len() == 1).await);
        assert!(eventually(5, || others.got.lock().unwrap().len() == 2).await);
        pipeline.stop().await
    });
    assert_eq!(own.starts.load(Ordering::SeqCst), 1);
    let (kind, payload) = own.got.lock().unwrap()[0].clone();
    assert_eq!(kind, "heka.all-report");
    let report: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(report["outputs"][0]["Name"], "dash");
    let got = others.got.lock().unwrap();
    let mut kinds: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["heka.all-report.seen", "heka.memstat"]);
}

#[test]
fn a_failed_prepare_stops_startup_naming_the_output() {
    in_system(|| async {
        let specs = vec![reporting("dash", "cx-busy", "busy = 1")];
        let errors = match Pipeline::start(globals(), specs, catalogue()) {
            Ok(_) => panic!("a busy output must stop startup"),
            Err(errors) => errors,
        };
        assert_eq!(errors.len(), 1);
        let text = errors[0].to_string();
        assert!(
            text.contains("`dash`") && text.contains("the port is busy"),
            "{text}"
        );
    });
    assert_eq!(sink("cx-busy").starts.load(Ordering::SeqCst), 0);
}

#[test]
fn a_rebuilt_output_is_started_again() {
    let own = sink("cx-rebuilt");
    own.fail.store(1, Ordering::SeqCst);
    in_system(|| async {
        let mut dash = reporting("dash", "cx-rebuilt", "");
        dash.common.retries.delay = std::time::Duration::from_millis(10);
        dash.common.retries.max_jitter = std::time::Duration::ZERO;
        let pipeline = Pipeline::start(globals(), vec![dash], catalogue()).expect("builds");
        // The first report fails the write: the rebuilt instance is
        // started (and asks for a report) before it writes it again.
        assert!(eventually(5, || own.starts.load(Ordering::SeqCst) == 2).await);
        assert!(eventually(5, || own.got.lock().unwrap().len() == 2).await);
        pipeline.stop().await
    });
}

#[test]
fn an_output_whose_start_fails_is_rebuilt_and_started_again() {
    let own = sink("cx-start-fails");
    own.start_failures.store(1, Ordering::SeqCst);
    in_system(|| async {
        let mut dash = reporting("dash", "cx-start-fails", "");
        dash.common.retries.delay = std::time::Duration::from_millis(10);
        dash.common.retries.max_jitter = std::time::Duration::ZERO;
        let pipeline = Pipeline::start(globals(), vec![dash], catalogue()).expect("builds");
        assert!(eventually(5, || own.got.lock().unwrap().len() == 1).await);
        pipeline.stop().await
    });
    assert_eq!(own.starts.load(Ordering::SeqCst), 2);
    let (kind, payload) = own.got.lock().unwrap()[0].clone();
    assert_eq!(kind, "heka.all-report");
    // Asked for by the rebuilt instance, after the failed start counted.
    let report: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(report["outputs"][0]["RestartCount"]["value"], 1);
}
