//! Durability through acknowledgements, with real hekad processes killed
//! with SIGKILL: LogstreamerInput's journal only covers records its
//! outputs handled; an acknowledged hekad-to-hekad chain (TcpOutput
//! `require_acks` → TcpInput `acknowledge`) loses nothing when the
//! receiver dies mid-stream; and an acknowledging sender facing a plain
//! receiver says so instead of hanging.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use hekad::plugins::logstreamer::follower::CHUNK;

use crate::support::collector::{Collector, drain};
use crate::support::daemon::{Daemon, free_port};

/// Records the pipeline may hold at once (`[hekad] poolsize`).
const POOLSIZE: usize = 100;

fn line(i: usize) -> String {
    // About 200 bytes, so a few MB fill the socket buffers.
    format!("line {i:07} {}", "x".repeat(186))
}

fn write_lines(path: &Path, n: usize) -> Vec<u64> {
    let mut text = String::new();
    let mut ends = Vec::with_capacity(n);
    for i in 0..n {
        text.push_str(&line(i));
        text.push('\n');
        ends.push(text.len() as u64);
    }
    std::fs::write(path, text).unwrap();
    ends
}

/// A hekad reading `<dir>/logs/app.log` into a TcpOutput to `port` with
/// the extra output keys `output`.
fn sender(dir: &Path, port: u16, output: &str) -> String {
    format!(
        r#"
[hekad]
base_dir = "{base}"
poolsize = {POOLSIZE}
shutdown_timeout = "2s"

[logs]
type = "LogstreamerInput"
log_directory = "{base}/logs"
file_match = 'app\.log'
check_data_interval = "20ms"

[forward]
type = "TcpOutput"
message_matcher = "Type == 'logfile'"
address = "127.0.0.1:{port}"
use_buffering = false
encoder = "ProtobufEncoder"
{output}
"#,
        base = dir.display()
    )
}

/// A hekad whose TcpInput on `port` (with keys `input`) forwards to a
/// plain TcpOutput to `out_port`.
fn receiver(dir: &Path, port: u16, input: &str, out_port: u16) -> String {
    format!(
        r#"
[hekad]
base_dir = "{base}"

[in]
type = "TcpInput"
address = "127.0.0.1:{port}"
{input}

[out]
type = "TcpOutput"
message_matcher = "Type == 'logfile'"
address = "127.0.0.1:{out_port}"
use_buffering = false
encoder = "ProtobufEncoder"
"#,
        base = dir.display()
    )
}

/// The journal's offset (0 when none was written yet).
fn journal_offset(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir.join("logstreamer")) else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&path) {
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            return json["offset"].as_u64().unwrap();
        }
    }
    0
}

fn logs(dir: &Path) -> std::path::PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    logs.join("app.log")
}

/// How often each line arrived.
fn counts(payloads: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for p in payloads {
        *counts.entry(p.as_str()).or_default() += 1;
    }
    counts
}

fn kill(daemon: Daemon) {
    daemon.signal("KILL");
    let _ = daemon.wait(10);
}

#[test]
fn logstreamer_journal_never_passes_records_its_output_has_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let ends = write_lines(&logs(dir.path()), n);
    // A peer that accepts and never reads: the output blocks once the
    // socket buffers are full, with most of the file still unsent.
    let stuck = TcpListener::bind("127.0.0.1:0").unwrap();
    stuck.set_nonblocking(true).unwrap();
    let port = stuck.local_addr().unwrap().port();
    let daemon = Daemon::start(dir.path(), &sender(dir.path(), port, ""), None);
    let deadline = Instant::now() + Duration::from_secs(20);
    let conn = loop {
        match stuck.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("hekad never connected ({e}):\n{}", daemon.log()),
        }
    };
    // Wait for the stall: the journal unchanged for 3 s (JOURNAL_EVERY is 1 s).
    let (mut last, mut since) = (u64::MAX, Instant::now());
    let deadline = Instant::now() + Duration::from_secs(60);
    while since.elapsed() < Duration::from_secs(3) {
        assert!(Instant::now() < deadline, "the journal never settled");
        let offset = journal_offset(dir.path());
        if offset != last {
            (last, since) = (offset, Instant::now());
        }
        thread::sleep(Duration::from_millis(100));
    }
    let journaled = last;
    kill(daemon);
    // What hekad had written before it died reaches the peer now.
    let delivered = drain(conn);
    let got = counts(&delivered);
    let covered = ends.iter().take_while(|&&end| end <= journaled).count();
    let undelivered: Vec<usize> = (0..covered)
        .filter(|&i| !got.contains_key(line(i).as_str()))
        .collect();
    println!(
        "journal at byte {journaled} of {}: {covered} lines; {} delivered before the kill",
        ends[n - 1],
        delivered.len()
    );
    assert!(covered > 0, "nothing was journaled at all");
    assert!(covered < n, "the output never stalled");
    assert!(
        undelivered.is_empty(),
        "the journal covers {} lines the peer never got, first {:?}",
        undelivered.len(),
        undelivered.first()
    );

    // Restart with a peer that reads: every line arrives, and only what
    // was in flight arrives twice.
    let collector = Collector::new();
    let config = sender(dir.path(), collector.port, "");
    let daemon = Daemon::start(dir.path(), &config, None);
    let all = collector.wait_until(120, |p| {
        let mut seen = counts(p);
        seen.extend(got.iter().map(|(k, v)| (*k, *v)));
        seen.len() >= n
    });
    let again = collector.payloads();
    let second = counts(&again);
    let lost = (0..n)
        .filter(|&i| {
            let l = line(i);
            !got.contains_key(l.as_str()) && !second.contains_key(l.as_str())
        })
        .count();
    let duplicated = second.keys().filter(|k| got.contains_key(*k)).count()
        + second.values().map(|v| v - 1).sum::<usize>();
    println!(
        "after the restart: {} received, {lost} lost, {duplicated} duplicated",
        again.len()
    );
    assert!(all && lost == 0, "{lost} lines lost:\n{}", daemon.log());
    // In flight at the kill: the records of one read (LogstreamerInput
    // marks one position per read, settled once all its records were
    // written) plus what the pipeline holds.
    let per_read = CHUNK / (line(0).len() + 1) + 1;
    assert!(
        duplicated <= per_read + POOLSIZE,
        "{duplicated} lines sent twice: more than one read ({per_read}) and the pool hold"
    );
    kill(daemon);
}

#[test]
fn acknowledged_forwarding_loses_nothing_when_the_receiver_is_killed() {
    let (send_dir, recv_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n = 60_000;
    write_lines(&logs(send_dir.path()), n);
    let collector = Collector::new();
    let port = free_port();
    let recv_config = receiver(recv_dir.path(), port, "acknowledge = true", collector.port);
    let recv = Daemon::start(recv_dir.path(), &recv_config, Some(port));
    let acks = "require_acks = true\nack_timeout = \"2s\"";
    let send = Daemon::start(send_dir.path(), &sender(send_dir.path(), port, acks), None);
    let third = collector.wait_until(60, |p| p.len() >= n / 3);
    assert!(
        third,
        "forwarding never got going:\n{}\n{}",
        send.log(),
        recv.log()
    );
    kill(recv);
    let at_kill = collector.payloads().len();
    thread::sleep(Duration::from_millis(500));
    let recv = Daemon::start(recv_dir.path(), &recv_config, Some(port));
    let all = collector.wait_until(120, |p| counts(p).len() >= n);
    let payloads = collector.payloads();
    let got = counts(&payloads);
    let lost = (0..n)
        .filter(|&i| !got.contains_key(line(i).as_str()))
        .count();
    let duplicated: usize = got.values().map(|v| v - 1).sum();
    println!(
        "{} received ({at_kill} before the kill), {lost} lost, {duplicated} duplicated",
        payloads.len()
    );
    assert!(
        all && lost == 0,
        "{lost} lost:\n{}\n{}",
        send.log(),
        recv.log()
    );
    kill(send);
    kill(recv);
}

#[test]
fn an_acknowledging_sender_facing_a_plain_receiver_fails_clearly() {
    let (send_dir, recv_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_lines(&logs(send_dir.path()), 10);
    let collector = Collector::new();
    let port = free_port();
    let recv_config = receiver(recv_dir.path(), port, "", collector.port);
    let recv = Daemon::start(recv_dir.path(), &recv_config, Some(port));
    let acks = "require_acks = true\nack_timeout = \"1s\"";
    let send = Daemon::start(send_dir.path(), &sender(send_dir.path(), port, acks), None);
    let clear = send.wait_for_log("acknowledge = true", 15);
    assert!(clear, "no clear error:\n{}", send.log());
    // Nothing was delivered, so nothing may be journaled.
    assert_eq!(journal_offset(send_dir.path()), 0);
    assert!(collector.payloads().is_empty());
    send.signal("TERM");
    let _ = send.wait(20);
    kill(recv);
}
