//! The HTTP plugins in a running hekad, against a real HTTP server the test
//! runs on 127.0.0.1 (tests/support/http_server.rs) and a raw TCP client:
//! - HttpListenInput refuses bad credentials with 401 and routes bodies
//!   with Heka's fields;
//! - HttpOutput and ElasticSearchOutput ride out a server that fails (500),
//!   stalls past `http_timeout` and recovers, and deliver every message
//!   exactly once (ElasticSearchOutput also through per-item 429s);
//! - HttpInput polls the server and reports statuses and failures.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, free_port};
use crate::support::http_server::{Mode, Request, Server};

/// Sends one HTTP/1.1 request over a fresh connection; the status code.
fn post(port: u16, target: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The JSON documents of an ESJsonEncoder file (every second line).
fn documents(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(1)
        .step_by(2)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits (bounded) until the file holds `n` documents.
fn wait_documents(path: &Path, n: usize, daemon: &Daemon) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let docs = documents(path);
        if docs.len() >= n {
            return docs;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} documents:\n{}",
            docs.len(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const BASIC_U_P: &str = "Basic dTpw"; // base64("u:p")

#[test]
fn http_listen_input_checks_auth_and_routes_bodies_with_fields() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dir.path().join("out.json");
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[web]
type = "HttpListenInput"
address = "127.0.0.1:{port}"
auth_type = "Basic"
username = "u"
password = "p"
request_headers = ["X-Trace"]
[web.headers]
X-Served-By = "hekad"

[json]
type = "ESJsonEncoder"

[out]
type = "FileOutput"
message_matcher = "Type == 'heka.httpdata.request'"
path = "{out}"
encoder = "json"
flush_interval = 100
"#,
        base = dir.path().display(),
        out = out.display()
    );
    let daemon = Daemon::start(dir.path(), &config, Some(port));
    assert_eq!(post(port, "/", &[], "anonymous"), 401);
    assert_eq!(
        post(port, "/", &[("Authorization", "Basic dTpx")], "wrong"),
        401
    );
    let headers = [
        ("Authorization", BASIC_U_P),
        ("User-Agent", "test-agent/1"),
        ("Content-Type", "text/plain"),
        ("X-Trace", "abc"),
    ];
    assert_eq!(
        post(port, "/hook?source=ci&n=2", &headers, "first body"),
        200
    );
    assert_eq!(
        post(port, "/", &[("Authorization", BASIC_U_P)], "second"),
        200
    );
    let docs = wait_documents(&out, 2, &daemon);
    assert_eq!(docs.len(), 2, "refused requests must not be routed");
    let first = &docs[0];
    assert_eq!(first["Payload"], "first body");
    assert_eq!(first["Type"], "heka.httpdata.request");
    assert_eq!(first["Hostname"], "127.0.0.1");
    assert_eq!(first["Logger"], "web");
    assert_eq!(first["Protocol"], "HTTP/1.1");
    assert_eq!(first["UserAgent"], "test-agent/1");
    assert_eq!(first["ContentType"], "text/plain");
    assert_eq!(first["source"], "ci");
    assert_eq!(first["n"], "2");
    assert_eq!(first["X-Trace"], "abc");
    assert!(
        first["RemoteAddr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(docs[1]["Payload"], "second");
    assert!(docs[1].get("X-Trace").is_none());
    daemon.signal("TERM");
    let (status, log) = daemon.wait(15);
    assert!(status.success(), "{log}");
}

/// hekad with an HttpListenInput feeding `output` (which must match
/// `Type == 'heka.httpdata.request'`).
fn pipeline(dir: &Path, port: u16, output: &str) -> Daemon {
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[web]
type = "HttpListenInput"
address = "127.0.0.1:{port}"

{output}
"#,
        base = dir.display()
    );
    Daemon::start(dir, &config, Some(port))
}

/// Fails, stalls, recovers; returns once `server` has `n` records.
fn ride_out_outage(server: &Server, port: u16, n: usize, records: impl Fn(&[Request]) -> usize) {
    server.set_mode(Mode::Fail(500));
    for i in 0..n {
        assert_eq!(post(port, "/", &[], &format!("msg-{i}")), 200);
    }
    assert!(server.wait_attempts(3, 20), "no retries during the 500s");
    server.set_mode(Mode::Stall(Duration::from_secs(3)));
    let before = server.attempts();
    assert!(
        server.wait_attempts(before + 2, 20),
        "no retry after a stall"
    );
    server.set_mode(Mode::Answer);
    assert!(
        server.wait_for(30, |got| records(got) >= n),
        "not everything arrived after recovery"
    );
    // Anything still in flight would show up now as a duplicate.
    std::thread::sleep(Duration::from_millis(500));
}

fn assert_each_once(payloads: &[String], n: usize) {
    let mut counts = BTreeMap::new();
    for p in payloads {
        *counts.entry(p.clone()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), n, "{counts:?}");
    assert!(counts.values().all(|c| *c == 1), "duplicates: {counts:?}");
}

#[test]
fn http_output_retries_through_failures_and_delivers_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start();
    let output = format!(
        r#"
[payload]
type = "PayloadEncoder"
append_newlines = false

[post]
type = "HttpOutput"
message_matcher = "Type == 'heka.httpdata.request'"
address = "{url}"
encoder = "payload"
http_timeout = 400
[post.headers]
Content-Type = ["text/plain"]
"#,
        url = server.url("/ingest")
    );
    let daemon = pipeline(dir.path(), port, &output);
    let n = 6;
    ride_out_outage(&server, port, n, |got| got.len());
    let got = server.received();
    assert!(
        got.iter()
            .all(|r| r.method == "POST" && r.path == "/ingest")
    );
    assert!(
        got.iter()
            .all(|r| r.header("content-type") == Some("text/plain"))
    );
    let payloads: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    assert_each_once(&payloads, n);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
}

/// Bulk items as (payload, status): items whose payload is in `busy`
/// get 429 the first time they are seen.
fn bulk_responder(busy: Vec<String>) -> crate::support::http_server::Responder {
    let seen = std::sync::Mutex::new(std::collections::HashSet::<String>::new());
    Box::new(move |req: &Request| {
        let text = String::from_utf8_lossy(&req.body).into_owned();
        let mut items = Vec::new();
        let mut errors = false;
        for doc in text.lines().skip(1).step_by(2) {
            let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
            let payload = doc["Payload"].as_str().unwrap_or_default().to_owned();
            let status = if busy.contains(&payload) && seen.lock().unwrap().insert(payload) {
                errors = true;
                429
            } else {
                201
            };
            items.push(serde_json::json!({"index": {"status": status}}));
        }
        let answer = serde_json::json!({"took": 1, "errors": errors, "items": items});
        (200, answer.to_string().into_bytes())
    })
}

/// The payloads a bulk server indexed (items answered 201).
fn indexed(requests: &[Request]) -> Vec<String> {
    let mut seen_busy = std::collections::HashSet::new();
    let mut out = Vec::new();
    for req in requests {
        let text = String::from_utf8_lossy(&req.body);
        for doc in text.lines().skip(1).step_by(2) {
            let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
            let payload = doc["Payload"].as_str().unwrap_or_default().to_owned();
            // Mirrors bulk_responder: the first sight of a busy payload
            // was refused with 429.
            if payload.ends_with("-busy") && seen_busy.insert(payload.clone()) {
                continue;
            }
            out.push(payload);
        }
    }
    out
}

#[test]
fn elasticsearch_output_retries_failures_and_busy_items_and_indexes_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let busy: Vec<String> = vec!["msg-1-busy".into(), "msg-4-busy".into()];
    let server = Server::with_responder(bulk_responder(busy));
    let output = format!(
        r#"
[es_json]
type = "ESJsonEncoder"
index = "test-%{{%Y}}"

[es]
type = "ElasticSearchOutput"
message_matcher = "Type == 'heka.httpdata.request'"
server = "{url}"
encoder = "es_json"
flush_count = 3
flush_interval = 200
http_timeout = 400
"#,
        url = server.url("")
    );
    let daemon = pipeline(dir.path(), port, &output);
    // Phase 1: failures and a stall, then recovery.
    let n = 7;
    ride_out_outage(&server, port, n, |got| indexed(got).len());
    // Phase 2: ElasticSearch answers 2xx but refuses two items with 429
    // once; only those are sent again.
    for name in ["msg-1-busy", "plain", "msg-4-busy"] {
        assert_eq!(post(port, "/", &[], name), 200);
    }
    assert!(
        server.wait_for(20, |got| indexed(got).len() >= n + 3),
        "busy items were not retried:\n{}",
        daemon.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let got = server.received();
    assert!(got.iter().all(|r| r.method == "POST" && r.path == "/_bulk"));
    let action: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&got[0].body)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(
        action["index"]["_index"]
            .as_str()
            .unwrap()
            .starts_with("test-20")
    );
    assert_each_once(&indexed(&got), n + 3);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(30);
    assert!(status.success(), "{log}");
}

#[test]
fn http_input_polls_and_reports_statuses_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_responder(Box::new(|_| (200, b"polled body".to_vec())));
    let out = dir.path().join("out.json");
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[poll]
type = "HttpInput"
url = "{url}"
ticker_interval = 1
[poll.headers]
X-Poller = "hekad"

[json]
type = "ESJsonEncoder"

[out]
type = "FileOutput"
message_matcher = "Type =~ /^heka.httpinput/"
path = "{out}"
encoder = "json"
flush_interval = 100
"#,
        base = dir.path().display(),
        url = server.url("/status?x=1"),
        out = out.display()
    );
    let daemon = Daemon::start(dir.path(), &config, None);
    let docs = wait_documents(&out, 1, &daemon);
    let first = &docs[0];
    assert_eq!(first["Type"], "heka.httpinput.data");
    assert_eq!(first["Payload"], "polled body");
    assert_eq!(first["Severity"], 6);
    assert_eq!(first["StatusCode"], 200);
    assert_eq!(first["Status"], "200 OK");
    assert_eq!(first["ResponseSize"], 11);
    assert_eq!(first["Protocol"], "HTTP/1.1");
    assert!(first["ResponseTime"].as_f64().unwrap() >= 0.0);
    assert_eq!(first["Logger"], server.url("/status?x=1"));
    let req = &server.received()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/status?x=1")
    );
    assert_eq!(req.header("x-poller"), Some("hekad"));

    server.set_mode(Mode::Fail(503));
    let deadline = Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let docs = documents(&out);
        if let Some(doc) = docs.iter().find(|d| d["StatusCode"] == 503) {
            break doc.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no 503 message:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(failed["Severity"], 1);
    assert_eq!(failed["Type"], "heka.httpinput.data");

    // The server goes away: heka.httpinput.error.
    let url = server.url("/status?x=1");
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        let docs = documents(&out);
        if let Some(doc) = docs.iter().find(|d| d["Type"] == "heka.httpinput.error") {
            break doc.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no error message:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(error["Severity"], 1);
    assert_eq!(error["Logger"], url);
    assert!(error["Payload"].as_str().unwrap().contains("connecting"));
    daemon.signal("TERM");
    let (status, log) = daemon.wait(15);
    assert!(status.success(), "{log}");
}
