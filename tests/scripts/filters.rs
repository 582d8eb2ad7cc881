//! http_status.lua and heka_report.lua through SandboxFilter.

use hekad::actors::plugin::{Filter, FilterCx};
use hekad::actors::report::Report;
use hekad::plugins::sandbox::SandboxFilter;
use serde_json::Value;

use super::*;

fn filter(script: &str, config: &[(&str, toml::Value)]) -> Box<dyn Filter> {
    let dir = tempfile::tempdir().unwrap();
    SandboxFilter::build(&spec("SandboxFilter", script, config), &globals(dir.path()))
        .unwrap_or_else(|e| panic!("{script}: {}", e.message))
}

fn cx() -> FilterCx {
    FilterCx::new("script", "heka-host", 1, 4)
}

/// The payloads injected so far, with their payload_type and payload_name.
fn payloads(cx: &mut FilterCx) -> Vec<(String, String, String)> {
    cx.take_injected()
        .into_iter()
        .map(|(v, _)| {
            let m = v.to_message();
            assert_eq!(header(&m.r#type), "heka.sandbox-output");
            (
                text(&m, "payload_type").unwrap(),
                text(&m, "payload_name").unwrap(),
                header(&m.payload),
            )
        })
        .collect()
}

/// The status nginx logged on a combined-format line: the first word after
/// the quoted request.
fn logged_status(line: &str) -> u32 {
    let request = &line[line.find("] \"").unwrap() + 3..];
    let after = &request[request.find("\" ").unwrap() + 2..];
    after.split(' ').next().unwrap().parse().unwrap()
}

/// The column sums of a cbuf payload, and its column names.
fn cbuf_sums(cbuf: &str) -> (Vec<String>, Vec<f64>) {
    let mut lines = cbuf.lines();
    let head: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let names: Vec<String> = head["column_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let mut sums = vec![0.0; names.len()];
    for row in lines {
        for (i, v) in row.split('\t').enumerate() {
            if v != "nan" {
                sums[i] += v.parse::<f64>().unwrap();
            }
        }
    }
    (names, sums)
}

#[test]
fn http_status_counts_decoded_nginx_lines_by_class() {
    let lines = fixture_lines("nginx/combined.log");
    let mut nginx = decoder(
        "decoders/nginx_access.lua",
        &[(
            "log_format",
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#.into(),
        )],
    );
    let mut f = filter(
        "filters/http_status.lua",
        &[("sec_per_row", 60.into()), ("rows", 10.into())],
    );
    let mut cx = cx();
    let mut expected = [0.0; 6];
    for line in &lines {
        let Ok(m) = decode(&mut nginx, line) else {
            continue;
        };
        expected[(logged_status(line) / 100 - 1) as usize] += 1.0;
        cx.begin(1, 0);
        f.process(&pack(&m), &mut cx).unwrap();
    }
    cx.begin(10, 0);
    f.timer_event(secs(1_696_971_700), &mut cx).unwrap();
    let out = payloads(&mut cx);
    assert_eq!(out.len(), 1);
    let (kind, name, cbuf) = &out[0];
    assert_eq!((kind.as_str(), name.as_str()), ("cbuf", "HTTP Status"));
    let (names, sums) = cbuf_sums(cbuf);
    assert_eq!(
        names,
        [
            "HTTP_100",
            "HTTP_200",
            "HTTP_300",
            "HTTP_400",
            "HTTP_500",
            "HTTP_UNKNOWN"
        ]
    );
    assert_eq!(sums, expected);
    assert_eq!(sums.iter().sum::<f64>(), 17.0, "17 good lines");
    assert_eq!(cbuf.lines().count(), 11, "header and 10 rows");

    // A message without a status fails, and counting goes on.
    let mut m = Message::new([1; 16], secs(1_696_971_400));
    m.r#type = Some(Bytes::from_static(b"nginx.access"));
    cx.begin(1, 0);
    let err = f.process(&pack(&m), &mut cx).unwrap_err();
    assert_eq!(
        err,
        PluginError::message("http_status: no numeric Fields[status]")
    );
}

fn report_message(payload: &str, ns: i64) -> Message {
    let mut m = Message::new([2; 16], ns);
    m.r#type = Some(Bytes::from_static(b"heka.all-report"));
    m.logger = Some(Bytes::from_static(b"hekad"));
    m.payload = Some(Bytes::from(payload.to_owned()));
    m
}

/// The table's rows keyed by "category/plugin", cells by column name.
fn table(tsv: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut lines = tsv.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            assert_eq!(cells.len(), head.len(), "{l}");
            let key = format!("{}/{}", cells[0], cells[1]);
            let row = head[2..]
                .iter()
                .zip(&cells[2..])
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect();
            (key, row)
        })
        .collect()
}

fn cell<'a>(rows: &'a [(String, Vec<(String, String)>)], key: &str, column: &str) -> &'a str {
    let row = &rows.iter().find(|(k, _)| k == key).unwrap().1;
    &row.iter().find(|(c, _)| c == column).unwrap().1
}

#[test]
fn heka_report_tabulates_every_plugin_of_the_all_report() {
    let payload = std::fs::read_to_string(repo("tests/fixtures/heka/all-report.json")).unwrap();
    let json: Value = serde_json::from_str(&payload).unwrap();
    let mut f = filter("filters/heka_report.lua", &[]);
    let mut cx = cx();
    cx.begin(1, 0);
    f.process(&pack(&report_message(&payload, secs(100))), &mut cx)
        .unwrap();
    let out = payloads(&mut cx);
    let (kind, name, tsv) = &out[0];
    assert_eq!((kind.as_str(), name.as_str()), ("tsv", "heka_report"));
    let rows = table(tsv);

    // One row per plugin of the fixture, with its figures.
    let mut count = 0;
    for (category, plugins) in json.as_object().unwrap() {
        for p in plugins.as_array().unwrap() {
            count += 1;
            let key = format!("{category}/{}", p["Name"].as_str().unwrap());
            for metric in ["ProcessMessageCount", "DroppedMessageCount", "InChanLength"] {
                let want = match p.get(metric) {
                    Some(m) => m["value"].to_string(),
                    None => "-".to_owned(),
                };
                assert_eq!(cell(&rows, &key, metric), want, "{key} {metric}");
            }
            assert_eq!(cell(&rows, &key, "Rate"), "-", "first report");
        }
    }
    assert_eq!(rows.len(), count);
    assert_eq!(
        rows[0].0, "globals/inputRecycleChan",
        "Heka's category order"
    );

    // Five seconds later the router has routed 500 more; the counter filter
    // restarted (its count went down: no rate).
    let mut later = json.clone();
    let router = &mut later["globals"][2]["ProcessMessageCount"]["value"];
    *router = (router.as_u64().unwrap() + 500).into();
    later["filters"][1]["ProcessMessageCount"]["value"] = 10.into();
    cx.begin(1, 0);
    f.process(
        &pack(&report_message(&later.to_string(), secs(105))),
        &mut cx,
    )
    .unwrap();
    let rows = table(&payloads(&mut cx)[0].2);
    assert_eq!(cell(&rows, "globals/Router", "Rate"), "100.00");
    assert_eq!(cell(&rows, "filters/counter", "Rate"), "-");
    assert_eq!(cell(&rows, "decoders/nginx", "Rate"), "0.00");

    cx.begin(1, 0);
    let err = f
        .process(&pack(&report_message("not json", secs(110))), &mut cx)
        .unwrap_err();
    assert!(matches!(err, PluginError::Message(t) if t.contains("heka.all-report")));
}

#[test]
fn heka_report_reads_the_report_hekad_builds() {
    let report = Report {
        rows: vec![
            (
                "filters",
                "memory_hog".to_owned(),
                vec![("ProcessMessageCount", 7, "count"), ("Memory", 4096, "B")],
            ),
            (
                "outputs",
                "out".to_owned(),
                vec![("InChanLength", 3, "count")],
            ),
        ],
    };
    let msg = report.to_message(Message::new([3; 16], secs(1)));
    let mut f = filter(
        "filters/heka_report.lua",
        &[
            (
                "metrics",
                "ProcessMessageCount, Memory, InChanLength".into(),
            ),
            ("payload_name", "plugins".into()),
        ],
    );
    let mut cx = cx();
    cx.begin(1, 0);
    f.process(&pack(&msg), &mut cx).unwrap();
    let out = payloads(&mut cx);
    assert_eq!(out[0].1, "plugins");
    assert_eq!(
        out[0].2,
        "Category\tPlugin\tProcessMessageCount\tMemory\tInChanLength\tRate\n\
         filters\tmemory_hog\t7\t4096\t-\t-\n\
         outputs\tout\t-\t-\t3\t-\n"
    );
}
