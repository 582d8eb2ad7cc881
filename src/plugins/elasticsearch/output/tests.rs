use super::*;

fn spec(options: &str) -> PluginSpec {
    let mut spec = PluginSpec::new("es", "ElasticSearchOutput").unwrap();
    spec.options = options.parse().unwrap();
    spec
}

fn output(options: &str) -> ElasticSearchOutput {
    let spec = spec(options);
    ElasticSearchOutput::new(&spec, &spec.options().unwrap()).unwrap()
}

fn batch(records: &[&str]) -> EncodedBatch {
    let mut batch = EncodedBatch::default();
    for r in records {
        batch.data.extend_from_slice(r.as_bytes());
        batch.ends.push(batch.data.len());
    }
    batch
}

fn run<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

#[test]
fn config_takes_heka_defaults_and_refuses_udp() {
    let o = output("");
    assert_eq!(o.bulk.url, "http://localhost:9200");
    assert_eq!(o.bulk.path, "/_bulk");
    assert_eq!(o.flush_interval, Some(Duration::from_millis(1000)));
    assert_eq!(o.flush_count, 10);
    assert_eq!(o.timeout, None);
    let o = output("server = 'http://es:9201/prefix'\nflush_interval = 0\nhttp_timeout = 250");
    assert_eq!(o.bulk.path, "/prefix/_bulk");
    assert_eq!(o.flush_interval, None);
    assert_eq!(o.timeout, Some(Duration::from_millis(250)));
    let err = |o: &str| {
        ElasticSearchOutput::build(&spec(o), &Globals::default())
            .err()
            .unwrap()
            .message
    };
    assert!(err("server = 'udp://es:9700'").contains("udp"));
    assert!(err("server = 'https://es:9200'").contains("root_cafile"));
    assert!(err("flush_count = 'x'").contains("flush_count"));
    // Buffered by default, as in Heka; the runtime reads the table.
    let o = output("");
    assert_eq!(o.default_buffering(), Some(Default::default()));
    assert!(!o.holds_records());
}

#[test]
fn records_wait_for_flush_count_without_touching_the_network() {
    // Port 9 on loopback: nothing listens; no request is made anyway.
    let mut o = output("server = 'http://127.0.0.1:9'\nflush_count = 3");
    run(async {
        o.write_batch(&batch(&["a\n", "b\n"])).await.unwrap();
        assert_eq!(o.pending.ends.len(), 2);
        assert_eq!(o.counts.requests, 0);
        // The third record fills the batch: the send fails, Retry.
        let err = o.write_batch(&batch(&["c\n"])).await.unwrap_err();
        assert!(matches!(err, PluginError::Retry(_)), "{err:?}");
        assert_eq!(o.pending.data, b"a\nb\nc\n");
        // The runner's Retry call does not add the batch again.
        let mut again = batch(&["c\n"]);
        again.attempt = 1;
        assert!(o.write_batch(&again).await.is_err());
        assert_eq!(o.pending.ends.len(), 3);
        assert!(o.next_try.is_some());
    });
}

#[test]
fn item_verdicts_keep_retryable_records_and_drop_rejected_ones() {
    let mut o = output("");
    for r in ["r0\n", "r1\n", "r2\n", "r3\n"] {
        o.pending.push(r.as_bytes());
    }
    let items = [
        Verdict::Done,
        Verdict::Retry("busy".into()),
        Verdict::Rejected("mapper_parsing_exception".into()),
        Verdict::Retry("busy".into()),
    ];
    let err = o.judge(&items).unwrap_err();
    assert!(err.contains("2 of 4"), "{err}");
    assert_eq!(o.pending.data, b"r1\nr3\n");
    assert_eq!(o.pending.ends, [3, 6]);
    assert_eq!(
        (o.counts.sent, o.counts.rejected, o.counts.retried),
        (1, 1, 2)
    );
    // Next answer: all in.
    o.judge(&[Verdict::Done, Verdict::Done]).unwrap();
    assert!(o.pending.ends.is_empty());
    assert_eq!(o.counts.sent, 3);
}

#[test]
fn items_that_do_not_line_up_retry_the_whole_request() {
    let mut o = output("");
    o.pending.push(b"two actions\n");
    let items = [Verdict::Done, Verdict::Retry("busy".into())];
    assert!(o.judge(&items).is_err());
    assert_eq!(o.pending.ends.len(), 1);
    let items = [Verdict::Done, Verdict::Rejected("bad".into())];
    o.judge(&items).unwrap();
    assert!(o.pending.ends.is_empty());
    assert_eq!(o.counts.rejected, 1);
}
