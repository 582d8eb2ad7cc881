//! kill -9 in the middle of a W2-shaped run with buffering on: an nginx log
//! → LogstreamerInput → PayloadRegexDecoder → FileOutput behind a disk
//! queue. hekad is killed while the output is about a third written, then
//! started again on the same state: every line must reach the output at
//! least once, and what arrives twice must be at most about a second of
//! input (the journal is written once a second over settled records; the
//! queue's cursor over records in the file).
//!
//! `HEKAD_CRASH_LINES` sets the log's size (default 200,000; the closing
//! notes quote 1,000,000 with the release binary's speed in mind).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use heka_proto::{FieldValue, MessageView, framing};

use crate::support::daemon::Daemon;

fn config(dir: &Path) -> String {
    format!(
        r#"
[hekad]
maxprocs = 2
poolsize = 1000
base_dir = "{base}/state"

[access]
type = "LogstreamerInput"
log_directory = "{base}/logs"
file_match = 'access\.log'
decoder = "nginx"

[nginx]
type = "PayloadRegexDecoder"
match_regex = '^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<Timestamp>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>[^ "]+) [^"]*" (?P<status>\d{{3}}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"'
timestamp_layout = "02/Jan/2006:15:04:05 -0700"

[nginx.message_fields]
Type = "nginx.access"
path = "%path%"
status = "%status%"

[out]
type = "FileOutput"
message_matcher = "Type == 'nginx.access'"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
use_buffering = true
"#,
        base = dir.display()
    )
}

fn write_log(path: &Path, lines: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..lines {
        writeln!(
            out,
            "10.0.{}.{} - - [{:02}/Jan/2024:{:02}:{:02}:{:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
            i % 250,
            i % 13,
            10 + i / 86_400,
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60,
            i % 9000
        )
        .unwrap();
    }
}

/// How many times each line number reached the output file.
fn arrivals(path: &Path) -> HashMap<usize, u32> {
    let mut seen = HashMap::new();
    let Ok(data) = std::fs::read(path) else {
        return seen;
    };
    let mut at = 0;
    // A killed hekad may leave a torn last record; the scan stops there.
    while let framing::Scan::Record(frame) = framing::scan(&data[at..], 1 << 20) {
        let range = frame.message_range();
        let raw = Bytes::copy_from_slice(&data[at + range.start..at + range.end]);
        at += frame.len();
        let Ok(view) = MessageView::decode(raw) else {
            continue;
        };
        if let Some(FieldValue::String(path)) = view.field_value(b"path", 0, 0) {
            let n = std::str::from_utf8(&path[6..]).unwrap().parse().unwrap();
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn kill_9_mid_run_with_buffering_loses_nothing_and_repeats_about_a_second() {
    let lines: usize = std::env::var("HEKAD_CRASH_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    write_log(&dir.path().join("logs/access.log"), lines);
    let out = dir.path().join("out.heka");

    let daemon = Daemon::start(dir.path(), &config(dir.path()), None);
    let deadline = Instant::now() + Duration::from_secs(300);
    // Polled by the file's size (parsing it in a debug build takes longer
    // than hekad takes to write a third of the lines): a record's size comes
    // from the first thousand, then the kill comes at a third of the bytes.
    let size = || std::fs::metadata(&out).map_or(0, |m| m.len() as usize);
    let per_record = loop {
        let got = arrivals(&out).len();
        if got >= 1000 || Instant::now() > deadline {
            break size() / got.max(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (sixth, third) = (per_record * lines / 6, per_record * lines / 3);
    // The input rate just before the kill (from a sixth to a third of the
    // lines), not since start: hekad's start-up would lower it.
    let mut mark = None;
    let written = loop {
        let now = (Instant::now(), size());
        if now.1 >= third || Instant::now() > deadline {
            break now.1;
        }
        if mark.is_none() && now.1 >= sixth {
            mark = Some(now);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (since, from) = mark.unwrap_or((Instant::now(), written));
    let rate =
        (written - from) as f64 / per_record as f64 / since.elapsed().as_secs_f64().max(0.001);
    daemon.signal("KILL");
    let _ = daemon.wait(10);
    let at_kill = arrivals(&out).len();
    assert!(
        at_kill < lines,
        "killed after the run finished; use more lines"
    );

    let daemon = Daemon::start(dir.path(), &config(dir.path()), None);
    let deadline = Instant::now() + Duration::from_secs(300);
    while arrivals(&out).len() < lines && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    daemon.signal("TERM");
    let (status, log) = daemon.wait(30);
    assert!(status.success(), "{log}");

    let seen = arrivals(&out);
    let lost = (0..lines).filter(|n| !seen.contains_key(n)).count();
    let duplicated: u64 = seen.values().map(|&c| u64::from(c - 1)).sum();
    println!(
        "kill -9 after {at_kill} of {lines} lines ({rate:.0} lines/s): lost {lost}, duplicated {duplicated}"
    );
    assert_eq!(lost, 0, "lines lost across kill -9:\n{log}");
    // About a second of input (the journal is written once a second over
    // settled records), plus what is in flight: one read and the pool.
    let bound = (rate * 1.5) as u64 + 5_000;
    assert!(
        duplicated <= bound,
        "{duplicated} duplicates, more than about a second of input ({bound})"
    );
}
