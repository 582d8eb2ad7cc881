//! StatFilter: templates, the stats made from a message, and the hand-off
//! to an accumulator's queue (full ⇒ Retry, missing ⇒ dropped).

use super::*;
use bytes::Bytes;
use heka_proto::{Field, Message};

fn message() -> MessageView {
    let mut msg = Message::new([1; 16], 1);
    msg.r#type = Some(Bytes::from_static(b"nginx.access"));
    msg.hostname = Some(Bytes::from_static(b"web1.example.com"));
    msg.logger = Some(Bytes::from_static(b"access"));
    msg.fields = vec![
        Field::string("Method", "GET"),
        Field::integer("Bytes", 512),
        Field::double("Seconds", 0.25),
        Field::boolean("Cached", true),
        Field::string("Method", "POST"),
    ];
    MessageView::from_message(&msg).unwrap()
}

fn filter(name: &str, metrics: &str) -> Result<StatFilter, String> {
    let text = format!(
        "[stat]\ntype = \"StatFilter\"\nmessage_matcher = \"TRUE\"\nstat_accum_name = \"{name}\"\n{metrics}"
    );
    let config = heka_actors::config::Config::from_str(&text, std::path::Path::new("s.toml"))
        .map_err(|e| e.to_string())?;
    let spec = config.plugin("stat").unwrap();
    let options: StatFilterConfig = crate::plugins::options(spec).map_err(|e| e.message)?;
    StatFilter::new(spec, options).map_err(|e| e.message)
}

#[test]
fn templates_replace_headers_and_first_field_values() {
    let msg = message();
    let t = Template::new("%Hostname%.%Method%.%Bytes%.%Seconds%.%Cached%.%Nope%.100%");
    assert_eq!(
        t.render(&msg, false),
        "web1.example.com.GET.512.0.25.true.%Nope%.100%"
    );
    assert_eq!(
        t.render(&msg, true),
        "web1_example_com.GET.512.0_25.true.%Nope%.100%"
    );
    assert_eq!(Template::new("%Type%").render(&msg, false), "nginx.access");
    assert_eq!(Template::new("a % b %").render(&msg, false), "a % b %");
}

#[test]
fn each_metric_makes_one_stat() {
    let f = filter(
        "unused",
        r#"
[stat.Metric.bytes]
type = "Counter"
name = "httpd.bytes.%Hostname%"
value = "%Bytes%"
replace_dot = true
[stat.Metric.time]
type = "Timer"
name = "httpd.time.%Method%"
value = "%Seconds%"
[stat.Metric.up]
type = "Gauge"
name = "httpd.up"
value = "-1"
"#,
    )
    .unwrap();
    let (stats, bad) = f.stats(&message());
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        stats,
        [
            Stat {
                bucket: "httpd.bytes.web1_example_com".into(),
                kind: StatKind::Counter {
                    value: 512.0,
                    sample_rate: 1.0
                }
            },
            Stat {
                bucket: "httpd.time.GET".into(),
                kind: StatKind::Timer(0.25)
            },
            Stat {
                bucket: "httpd.up".into(),
                kind: StatKind::Gauge(-1.0)
            },
        ]
    );
}

#[test]
fn bad_metrics_are_refused_at_build_or_reported_per_message() {
    let err = filter(
        "x",
        "[stat.Metric.m]\ntype = \"Meter\"\nname = \"a\"\nvalue = \"1\"\n",
    )
    .unwrap_err();
    assert!(err.contains("Meter"), "{err}");
    assert!(filter("x", "[stat.Metric.m]\ntype = \"Counter\"\nname = \"a\"\n").is_err());
    let f = filter(
        "x",
        "[stat.Metric.a]\ntype = \"Counter\"\nname = \"ok\"\nvalue = \"1\"\n[stat.Metric.b]\ntype = \"Counter\"\nname = \"n\"\nvalue = \"%Method%\"\n",
    )
    .unwrap();
    let (stats, bad) = f.stats(&message());
    assert_eq!(stats.len(), 1);
    assert_eq!(bad.len(), 1);
    assert!(bad[0].contains("\"GET\" is not a number"), "{:?}", bad);
}

#[test]
fn a_full_accumulator_queue_means_retry_and_a_missing_one_drops() {
    let name = "stat-filter-test-queue";
    let metrics = "[stat.Metric.a]\ntype = \"Counter\"\nname = \"hits\"\nvalue = \"1\"\n";
    let mut f = filter(name, metrics).unwrap();
    let pack = Pack::detached(message());
    let mut cx = FilterCx::new("stat", "host", 1, 4);

    let err = f.process(&pack, &mut cx).unwrap_err();
    assert!(matches!(err, PluginError::Message(_)), "{err:?}");

    let mut queue = registry::register(name, 1);
    f.process(&pack, &mut cx).unwrap();
    let err = f.process(&pack, &mut cx).unwrap_err();
    assert!(matches!(err, PluginError::Retry(_)), "{err:?}");
    let batch = queue.receiver.try_recv().unwrap();
    assert_eq!(batch.len(), 1);
    f.process(&pack, &mut cx).unwrap();
    assert!(queue.receiver.try_recv().is_ok());
}
