//! Hostile TCP clients against a real hekad on 127.0.0.1: a client that
//! connects and sends nothing, a flood of connections abandoned or held
//! mid-record, more connections than `max_connections`, endless text
//! records without a delimiter (TokenSplitter, RegexSplitter), records
//! announcing more than `max_message_size`, and streams cut mid-record.
//! Throughout, well-behaved clients are still served, memory stays within
//! what the record size limit allows, and hekad shuts down promptly.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use hekad::proto::deframer::{Deframer, Event};
use hekad::proto::framing::{encode_frame, max_record_size};
use hekad::proto::reader::Reader;
use hekad::proto::{DEFAULT_MAX_MESSAGE_SIZE, Message, MessageView};

use crate::support::daemon::{Daemon, free_port};

/// The largest record a stream may hold with the default limit.
const MAX_RECORD: usize = max_record_size(DEFAULT_MAX_MESSAGE_SIZE);

/// hekad (plus `hekad` keys) with a TcpInput on `port` (plus `input`
/// keys) whose messages all go to `dir/out.heka`; `extra` adds sections.
fn start(dir: &Path, hekad: &str, port: u16, input: &str, extra: &str) -> Daemon {
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"
{hekad}

[TcpInput]
address = "127.0.0.1:{port}"
{input}

[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 100
{extra}"#,
        base = dir.display(),
    );
    Daemon::start(dir, &config, Some(port))
}

/// The payloads in `dir/out.heka` so far.
fn payloads(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(file) = std::fs::File::open(dir.join("out.heka")) else {
        return Vec::new();
    };
    let mut reader = Reader::new(file, Deframer::new(DEFAULT_MAX_MESSAGE_SIZE));
    let mut out = Vec::new();
    while let Ok(Some(event)) = reader.next_event() {
        if let Event::Record(r) = event {
            out.push(MessageView::decode(r.message).unwrap().payload().to_vec());
        }
    }
    out
}

/// Waits (bounded) until `dir/out.heka` holds at least `n` messages.
fn wait_for(dir: &Path, n: usize, daemon: &Daemon) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = payloads(dir);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} messages arrived:\n{}",
            got.len(),
            daemon.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// One framed protobuf message with `payload`.
fn framed(payload: &str) -> Vec<u8> {
    let mut m = Message::new([7; 16], 1);
    m.payload = Some(payload.as_bytes().to_vec().into());
    let mut out = Vec::new();
    let bytes = hekad::proto::prost::Message::encode_to_vec(&m);
    encode_frame(&bytes, None, DEFAULT_MAX_MESSAGE_SIZE, &mut out).unwrap();
    out
}

fn send(port: u16, bytes: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(bytes).unwrap();
}

/// Asks for a report (SIGUSR1) and returns the row of `name` in it.
fn report_row(daemon: &Daemon, name: &str) -> String {
    let before = daemon.log().matches("====Outputs====").count();
    daemon.signal("USR1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while daemon.log().matches("====Outputs====").count() == before {
        assert!(Instant::now() < deadline, "no report:\n{}", daemon.log());
        thread::sleep(Duration::from_millis(20));
    }
    let log = daemon.log();
    let report = &log[log.rfind("====Inputs====").unwrap()..];
    let row = &report[report.find(&format!("\n{name}:\n")).expect("row") + 1..];
    // The name's line and its indented metric lines.
    let mut lines = row.lines();
    let mut out = lines.next().unwrap_or_default().to_owned();
    for metric in lines.take_while(|l| l.starts_with("    ")) {
        out.push('\n');
        out.push_str(metric);
    }
    out
}

/// The figure `key` of a report row.
fn figure(row: &str, key: &str) -> u64 {
    let at = row
        .find(&format!("{key}: "))
        .unwrap_or_else(|| panic!("{key} in {row}"));
    row[at + key.len() + 2..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// SIGTERM, and hekad must be gone within `secs`, successfully.
fn stop_within(daemon: Daemon, secs: u64) {
    let started = Instant::now();
    daemon.signal("TERM");
    let (status, log) = daemon.wait(secs + 10);
    assert!(status.success(), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(secs),
        "shutdown took {:?}:\n{log}",
        started.elapsed()
    );
}

#[test]
fn a_silent_client_holds_up_neither_other_clients_nor_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = start(dir.path(), "", port, "", "");
    let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    (&half).write_all(&framed("never finished")[..10]).unwrap();
    send(port, &framed("served"));
    assert_eq!(wait_for(dir.path(), 1, &daemon), [b"served"]);
    // Both quiet connections are still open: shutdown drains them (quiet
    // for 100 ms) and exits.
    stop_within(daemon, 5);
    drop((silent, half));
}

#[test]
fn a_flood_of_abandoned_and_held_connections_stays_within_the_record_limit() {
    const CONNECTIONS: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = start(dir.path(), "", port, "", "");
    let baseline = daemon.rss_kib();
    // Each connection announces a record of the largest size and sends all
    // but its last bytes; half then vanish, half keep waiting.
    let mut torn = framed(&"x".repeat(DEFAULT_MAX_MESSAGE_SIZE - 100));
    torn.truncate(torn.len() - 100);
    let mut held = Vec::new();
    for i in 0..CONNECTIONS {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&torn).unwrap();
        if i % 2 == 0 {
            held.push(s);
        }
    }
    // A well-behaved client is served through all of it.
    send(port, &framed("still served"));
    assert!(wait_for(dir.path(), 1, &daemon).contains(&b"still served".to_vec()));
    let peak = daemon.rss_kib();
    // Every held connection may keep one record (plus read slack), no more.
    let allowed = baseline + (held.len() * 2 * MAX_RECORD / 1024) as u64 + 20 * 1024;
    assert!(
        peak < allowed,
        "RSS grew from {baseline} KiB to {peak} KiB with {} connections held",
        held.len()
    );
    // The abandoned ones were counted as truncated records.
    let row = report_row(&daemon, "TcpInput");
    assert!(
        figure(&row, "DroppedMessageCount") >= (CONNECTIONS / 2) as u64,
        "{row}"
    );
    stop_within(daemon, 8);
    drop(held);
}

#[test]
fn past_max_connections_clients_wait_and_memory_stays_flat() {
    const LIMIT: usize = 10;
    // Within the listen backlog (128), so every connect completes.
    const HELD: usize = 100;
    const MAX_MESSAGE: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // 1 MiB records, so each connection read may hold 1 MiB.
    let daemon = start(
        dir.path(),
        &format!("max_message_size = {MAX_MESSAGE}"),
        port,
        &format!("max_connections = {LIMIT}"),
        "",
    );
    let baseline = daemon.rss_kib();
    let mut m = Message::new([7; 16], 1);
    m.payload = Some(vec![b'y'; MAX_MESSAGE - 100].into());
    let bytes = hekad::proto::prost::Message::encode_to_vec(&m);
    let mut torn = Vec::new();
    encode_frame(&bytes, None, MAX_MESSAGE, &mut torn).unwrap();
    torn.truncate(torn.len() - 100);
    // The kernel completes these handshakes; hekad reads only LIMIT of them.
    let held: Vec<TcpStream> = (0..HELD)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_nonblocking(true).unwrap();
            let _ = s.write(&torn);
            s
        })
        .collect();
    assert!(
        daemon.wait_for_log("Connection limit reached", 10),
        "{}",
        daemon.log()
    );
    send(port, &framed("queued"));
    thread::sleep(Duration::from_millis(500));
    let peak = daemon.rss_kib();
    // 100 held records would be 100 MiB; only LIMIT are read.
    let allowed = baseline + (LIMIT * 2 * MAX_MESSAGE / 1024) as u64 + 10 * 1024;
    assert!(peak < allowed, "RSS grew from {baseline} KiB to {peak} KiB");
    assert!(payloads(dir.path()).is_empty(), "served past the limit");
    // Once the holders go, the waiting client is served.
    drop(held);
    assert_eq!(wait_for(dir.path(), 1, &daemon), [b"queued"]);
    stop_within(daemon, 8);
}

/// An endless text record: cut at the record limit, counted, logged; the
/// records after its delimiter still arrive, and none is over the limit.
fn endless_text_record(splitter: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let input = "splitter = \"lines\"\ndecoder = \"scribble\"";
    let sections = format!(
        "[lines]\n{splitter}\n[scribble]\ntype = \"ScribbleDecoder\"\n[scribble.message_fields]\nType = \"line\"\n"
    );
    let daemon = start(dir.path(), "", port, input, &sections);
    let baseline = daemon.rss_kib();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"first\n").unwrap();
    let block = vec![b'z'; 1 << 20];
    let mut peak = baseline;
    for _ in 0..20 {
        s.write_all(&block).unwrap();
        peak = peak.max(daemon.rss_kib());
    }
    s.write_all(b"\nlast\n").unwrap();
    drop(s);
    let got = wait_for(dir.path(), 3, &daemon);
    assert_eq!(got.first().map(Vec::as_slice), Some(&b"first\n"[..]));
    assert_eq!(got.last().map(Vec::as_slice), Some(&b"last\n"[..]));
    for p in &got {
        assert!(p.len() <= MAX_RECORD, "a record of {} bytes", p.len());
    }
    assert!(peak < baseline + 20 * 1024, "RSS {baseline} -> {peak} KiB");
    assert!(daemon.wait_for_log("record exceeds the maximum record size", 5));
    let row = report_row(&daemon, "TcpInput");
    assert!(figure(&row, "DroppedMessageCount") >= 15, "{row}");
    stop_within(daemon, 5);
}

#[test]
fn an_endless_line_is_cut_at_the_limit_by_token_splitter() {
    endless_text_record("type = \"TokenSplitter\"");
}

#[test]
fn an_endless_line_is_cut_at_the_limit_by_regex_splitter() {
    endless_text_record("type = \"RegexSplitter\"\ndelimiter = '(\\n)'");
}

#[test]
fn oversize_and_truncated_framed_records_are_dropped_and_the_rest_served() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = start(dir.path(), "", port, "", "");
    // A header announcing 1 MiB, and the megabyte itself (which holds a
    // record separator or two), then a good record.
    let mut big = Vec::new();
    encode_frame(&vec![0x1e; 1 << 20], None, 2 << 20, &mut big).unwrap();
    big.extend(framed("after the giant"));
    send(port, &big);
    // A stream cut inside its second record.
    let mut cut = framed("whole");
    let second = framed("cut short");
    cut.extend(&second[..second.len() / 2]);
    send(port, &cut);
    send(port, &framed("next client"));
    let mut got = wait_for(dir.path(), 3, &daemon);
    got.sort();
    assert_eq!(
        got,
        [&b"after the giant"[..], b"next client", b"whole"],
        "{}",
        daemon.log()
    );
    assert!(daemon.wait_for_log("exceeds the maximum message size", 5));
    assert!(daemon.wait_for_log("the stream ended inside a record", 5));
    stop_within(daemon, 5);
}

#[test]
fn a_line_crossing_the_limit_in_one_read_is_cut_not_delivered_whole() {
    // The line is 67 001 bytes; the read that brings its end may also
    // bring the buffer past the 65 794-byte limit with the newline in it.
    // Heka, reading into a buffer of the limit, cut the first 65 794 bytes
    // off and delivered the rest; so must we (a longer record would not
    // even fit in a message, and was dropped at the output).
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let input = "splitter = \"TokenSplitter\"\ndecoder = \"scribble\"";
    let sections =
        "[scribble]\ntype = \"ScribbleDecoder\"\n[scribble.message_fields]\nType = \"line\"\n";
    let daemon = start(dir.path(), "", port, input, sections);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&vec![b'a'; 62_000]).unwrap();
    thread::sleep(Duration::from_millis(300));
    let mut rest = vec![b'b'; 5_000];
    rest.extend(b"\nafter\n");
    s.write_all(&rest).unwrap();
    drop(s);
    let got = wait_for(dir.path(), 2, &daemon);
    let mut tail = vec![b'b'; 62_000 + 5_001 - MAX_RECORD - 1];
    tail.push(b'\n');
    assert_eq!(got, [tail, b"after\n".to_vec()], "{}", daemon.log());
    stop_within(daemon, 5);
}

#[test]
fn out_of_file_descriptors_hekad_pauses_accepting_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "[hekad]\nbase_dir = \"{base}\"\n[TcpInput]\naddress = \"127.0.0.1:{port}\"\nmax_connections = 0\n\
         [out]\ntype = \"FileOutput\"\nmessage_matcher = \"TRUE\"\npath = \"{base}/out.heka\"\n\
         encoder = \"ProtobufEncoder\"\nflush_operator = \"OR\"\nflush_interval = 100\n",
        base = dir.path().display()
    );
    let daemon = Daemon::start_with_file_limit(dir.path(), &config, Some(port), 48);
    // More silent connections than hekad has descriptors left.
    let held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    assert!(
        daemon.wait_for_log("Accept failed.", 10),
        "{}",
        daemon.log()
    );
    let (ticks, failures) = (
        daemon.cpu_ticks(),
        daemon.log().matches("Accept failed.").count(),
    );
    thread::sleep(Duration::from_secs(1));
    let spent = daemon.cpu_ticks() - ticks;
    let logged = daemon.log().matches("Accept failed.").count() - failures;
    // A retry loop would burn the whole second (100 ticks) and log
    // thousands of lines; backing off costs next to nothing.
    assert!(
        spent < 30,
        "{spent} ticks in one second while out of descriptors"
    );
    assert!(
        logged <= 20,
        "{logged} accept failures logged in one second"
    );
    // Descriptors come back: the waiting clients are accepted, and served.
    drop(held);
    send(port, &framed("served again"));
    assert_eq!(wait_for(dir.path(), 1, &daemon), [b"served again"]);
    stop_within(daemon, 8);
}
