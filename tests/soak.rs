//! A soak run of a real hekad: a steady stream of numbered messages over
//! TCP into a TcpOutput whose peer keeps stalling (it stops reading for two
//! seconds out of every four) and a Lua counter that is reloaded every few
//! seconds (its script edited on disk, its count preserved). At the end
//! every message reached the peer (duplicates are allowed and printed), the
//! counter counted each exactly once, and hekad's resident memory stayed
//! flat.
//!
//! Bounded: `HEKAD_SOAK_SECS` seconds of sending (default 20; the closing
//! notes quote a run of 180), then at most a minute to drain.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use heka_proto::prost::Message as _;
use heka_proto::{Message, MessageView, framing};

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, text};

const COUNTER: &str = "
_PRESERVATION_VERSION = 1
total = 0
function process_message() total = total + 1 return 0 end
function timer_event() inject_payload('txt', 'soak', string.format('total %d', total)) end
";

fn config(dir: &Path, input: u16, peer: u16, script: &Path) -> String {
    format!(
        r#"
[hekad]
base_dir = "{base}"
poolsize = 200

[TcpInput]
address = "127.0.0.1:{input}"

[count]
type = "SandboxFilter"
filename = "{script}"
message_matcher = "Type == 'soak'"
ticker_interval = 1
preserve_data = true

[forward]
type = "TcpOutput"
address = "127.0.0.1:{peer}"
message_matcher = "Type == 'soak'"
encoder = "ProtobufEncoder"

[totals]
type = "FileOutput"
message_matcher = "Type == 'heka.sandbox-output'"
path = "{base}/totals.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 100
"#,
        base = dir.display(),
        script = script.display()
    )
}

/// The stalling peer: reads frames, records each message's number, and
/// stops reading for 2 s out of every 4 while `stalling`.
fn peer(listener: TcpListener, got: Arc<Mutex<Vec<u64>>>, stalling: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { return };
        let (got, stalling) = (Arc::clone(&got), Arc::clone(&stalling));
        thread::spawn(move || {
            let started = Instant::now();
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                if stalling.load(Ordering::Relaxed) && started.elapsed().as_secs() % 4 >= 2 {
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let n = match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut used = 0;
                while let framing::Scan::Record(frame) = framing::scan(&buf[used..], 1 << 20) {
                    let range = frame.message_range();
                    let raw = &buf[used + range.start..used + range.end];
                    let view = MessageView::decode(bytes::Bytes::copy_from_slice(raw)).unwrap();
                    let number = std::str::from_utf8(view.payload())
                        .unwrap()
                        .parse()
                        .unwrap();
                    got.lock().unwrap().push(number);
                    used += frame.len();
                }
                buf.drain(..used);
            }
        });
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The counter's newest reported total.
fn last_total(path: &Path) -> Option<u64> {
    if !path.exists() {
        return None;
    }
    let txt = text(&heka_cat(&["-format=txt", path.to_str().unwrap()]).stdout);
    txt.lines()
        .rev()
        .filter_map(|l| l.trim().strip_prefix("Payload: total "))
        .find_map(|n| n.trim().parse().ok())
}

#[test]
fn a_stalling_output_and_a_reloading_filter_lose_nothing_and_memory_stays_flat() {
    let secs: u64 = std::env::var("HEKAD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("count.lua");
    std::fs::write(&script, COUNTER).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let stalling = Arc::new(AtomicBool::new(true));
    {
        let (got, stalling) = (Arc::clone(&got), Arc::clone(&stalling));
        thread::spawn(move || peer(listener, got, stalling));
    }
    let input = free_port();
    let daemon = Daemon::start(
        dir.path(),
        &config(dir.path(), input, peer_port, &script),
        Some(input),
    );
    let pid = daemon.pid();

    let mut conn = TcpStream::connect(("127.0.0.1", input)).unwrap();
    let mut rss = Vec::new();
    let started = Instant::now();
    let mut sent = 0u64;
    let mut reloads = 0;
    let mut next_reload = Duration::from_secs(3);
    while started.elapsed() < Duration::from_secs(secs) {
        // About 5000 messages a second, in bursts of 50.
        let mut burst = Vec::new();
        for _ in 0..50 {
            let mut msg = Message::new([7; 16], 1);
            msg.r#type = Some(bytes::Bytes::from_static(b"soak"));
            msg.payload = Some(sent.to_string().into());
            framing::encode_frame(&msg.encode_to_vec(), None, 1 << 20, &mut burst).unwrap();
            sent += 1;
        }
        conn.write_all(&burst).unwrap();
        thread::sleep(Duration::from_millis(10));
        if started.elapsed() >= next_reload {
            let edit = format!("{COUNTER}\n-- edit {reloads}\n");
            std::fs::write(&script, edit).unwrap();
            reloads += 1;
            next_reload += Duration::from_secs(3);
        }
        if rss.len() < started.elapsed().as_secs() as usize {
            rss.push(rss_kib(pid));
        }
    }
    drop(conn);
    stalling.store(false, Ordering::Relaxed);

    let deadline = Instant::now() + Duration::from_secs(60);
    let totals = dir.path().join("totals.heka");
    loop {
        let arrived: HashSet<u64> = got.lock().unwrap().iter().copied().collect();
        let counted = last_total(&totals);
        if (arrived.len() as u64 == sent && counted == Some(sent)) || Instant::now() > deadline {
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    let reloaded = daemon.log().matches("Filter reloaded").count();
    daemon.signal("TERM");
    let (status, log) = daemon.wait(30);
    assert!(status.success(), "{log}");

    let received = got.lock().unwrap().clone();
    let unique: HashSet<u64> = received.iter().copied().collect();
    let lost = (0..sent).filter(|n| !unique.contains(n)).count();
    let third = rss.len() / 3;
    let early = rss[..third.max(1)].iter().max().copied().unwrap_or(0);
    let late = rss[rss.len() - third.max(1)..]
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    println!(
        "soak {secs} s: sent {sent}, received {} ({} duplicates), lost {lost}; \
         filter reloads {reloaded} of {reloads} edits; RSS KiB early max {early}, late max {late}",
        received.len(),
        received.len() - unique.len(),
    );
    assert_eq!(lost, 0, "messages lost");
    assert!(
        reloaded >= 2,
        "the filter was reloaded while running:\n{log}"
    );
    assert_eq!(
        last_total(&totals),
        Some(sent),
        "counted once each across reloads"
    );
    assert!(
        late <= early + 16 * 1024,
        "resident memory grew from {early} KiB to {late} KiB: {rss:?}"
    );
}
