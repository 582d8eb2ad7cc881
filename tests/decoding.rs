//! Decoding off the input's thread (Heka's `synchronous_decode = false`):
//! with `maxprocs > 1` a stream offers parts of each read to decode threads
//! and must still route its records in order, count every failure, and
//! lose nothing.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, text};

const LINES: usize = 20_000;

fn config(dir: &Path, port: u16, synchronous: bool) -> String {
    format!(
        r#"
[hekad]
maxprocs = 2
poolsize = 400
base_dir = "{base}"

[in]
type = "TcpInput"
address = "127.0.0.1:{port}"
splitter = "TokenSplitter"
decoder = "numbers"
synchronous_decode = {synchronous}

[numbers]
type = "PayloadRegexDecoder"
match_regex = '^line (?P<n>\d+) of'
log_errors = false

[numbers.message_fields]
Type = "numbered"
n = "%n%"

[out]
type = "FileOutput"
message_matcher = "Type == 'numbered'"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 50
"#,
        base = dir.display()
    )
}

/// The `n` field of every message in the output file, in file order.
fn numbers(path: &Path) -> Vec<usize> {
    if !path.exists() {
        return Vec::new();
    }
    text(&heka_cat(&["-format=json", path.to_str().unwrap()]).stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|msg| {
            let field = msg["fields"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["name"] == "n"))
                .expect("every message has n");
            field["value_string"][0].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

fn decode_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .filter(|comm| comm.starts_with("hekad-decode"))
                .count()
        })
        .unwrap_or(0)
}

fn run(synchronous: bool) -> (Vec<usize>, usize, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = Daemon::start(
        dir.path(),
        &config(dir.path(), port, synchronous),
        Some(port),
    );
    // A thread names itself once it first runs, which on a loaded machine
    // may be a moment after the daemon listens.
    let named = Instant::now() + Duration::from_secs(5);
    let mut threads = decode_threads(daemon.pid());
    while threads < 2 && Instant::now() < named {
        std::thread::sleep(Duration::from_millis(20));
        threads = decode_threads(daemon.pid());
    }
    let mut body = String::new();
    for n in 0..LINES {
        if n % 97 == 0 {
            body.push_str("not a numbered line\n");
        }
        body.push_str(&format!("line {n} of {LINES} with some padding text\n"));
    }
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(body.as_bytes()).unwrap();
    drop(conn);
    let out = dir.path().join("out.heka");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = numbers(&out);
    while got.len() < LINES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        got = numbers(&out);
    }
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    (got, threads, log)
}

#[test]
fn records_decoded_on_several_threads_keep_their_order() {
    let (got, threads, log) = run(false);
    assert_eq!(threads, 2, "maxprocs = 2 starts two decode threads");
    assert_eq!(got.len(), LINES, "{log}");
    let expected: Vec<usize> = (0..LINES).collect();
    assert!(got == expected, "out of order or duplicated");
    let junk = LINES.div_ceil(97);
    assert_eq!(
        log.matches("Decode failed").count(),
        junk,
        "each failure logged once"
    );
}

#[test]
fn synchronous_decode_keeps_decoding_on_the_input_thread() {
    let (got, _, log) = run(true);
    assert_eq!(got, (0..LINES).collect::<Vec<_>>(), "{log}");
}
