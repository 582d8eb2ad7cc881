//! Disk buffering with hekad as a real process: a TcpOutput (buffered by
//! default, as in Heka) whose peer is down queues what it is sent; after
//! kill -9 and a restart with the peer up, every record arrives. The queue
//! files are read by heka-cat and by `hekad queue inspect|verify`, which
//! also finds corrupt bytes. A full queue with `full_action = "shutdown"`
//! stops hekad with status 1 naming the plugin.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hekad::proto::MessageView;
use hekad::proto::deframer::Event;

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, heka_flood, text};

fn config(base: &Path, port: u16, peer: u16, extra: &str) -> String {
    format!(
        r#"
[hekad]
base_dir = "{base}"
shutdown_timeout = "1s"

[TcpInput]
address = "127.0.0.1:{port}"

[forward]
type = "TcpOutput"
message_matcher = "TRUE"
address = "127.0.0.1:{peer}"
encoder = "ProtobufEncoder"
{extra}
"#,
        base = base.display()
    )
}

fn hekad_queue(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hekad"))
        .arg("queue")
        .args(args)
        .output()
        .expect("hekad queue runs")
}

/// Sends `n` framed messages whose payloads are `0..n`.
fn send(port: u16, n: usize) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut frames = Vec::new();
    for i in 0..n {
        let mut msg = hekad::proto::Message::new([9; 16], 1);
        msg.payload = Some(i.to_string().into_bytes().into());
        let view = MessageView::from_message(&msg).unwrap();
        hekad::proto::framing::encode_frame(view.raw(), None, 1 << 16, &mut frames).unwrap();
    }
    stream.write_all(&frames).unwrap();
}

/// Pending records per `hekad queue inspect`.
fn pending(dir: &Path) -> u64 {
    let out = hekad_queue(&["inspect", dir.to_str().unwrap()]);
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("pending: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    crate::support::receiver::events(bytes, 64 * 1024, None)
        .into_iter()
        .filter_map(|e| match e {
            Event::Record(r) => Some(MessageView::decode(r.message).unwrap().payload().to_vec()),
            _ => None,
        })
        .collect()
}

#[test]
fn records_queued_for_a_down_peer_survive_kill_9_and_arrive_after_restart() {
    const N: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let (port, peer) = (free_port(), free_port());
    let cfg = config(dir.path(), port, peer, "");
    let queue = dir.path().join("output_queue/forward");
    let daemon = Daemon::start(dir.path(), &cfg, Some(port));
    send(port, N);
    let deadline = Instant::now() + Duration::from_secs(20);
    while pending(&queue) < N as u64 {
        assert!(Instant::now() < deadline, "not queued:\n{}", daemon.log());
        thread::sleep(Duration::from_millis(50));
    }
    // heka-cat reads a segment as it reads any framed file.
    let cat = heka_cat(&["-format", "count", queue.join("0.log").to_str().unwrap()]);
    assert_eq!(
        text(&cat.stdout).trim(),
        N.to_string(),
        "{}",
        text(&cat.stderr)
    );
    daemon.signal("KILL");
    let _ = daemon.wait(10);
    let verified = hekad_queue(&["verify", queue.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", text(&verified.stdout));
    assert!(text(&verified.stdout).contains(&format!("{N} records, 0 corrupt")));

    // A copy with a record's framing overwritten: verify names the place.
    let broken = tempfile::tempdir().unwrap();
    let segment = std::fs::read(queue.join("0.log")).unwrap();
    let offsets: Vec<u64> = crate::support::receiver::events(&segment, 64 * 1024, None)
        .into_iter()
        .filter_map(|e| match e {
            Event::Record(r) => Some(r.offset),
            _ => None,
        })
        .collect();
    let at = offsets[10] as usize;
    let mut damaged = segment.clone();
    damaged[at..at + 3].fill(0);
    std::fs::write(broken.path().join("0.log"), damaged).unwrap();
    let found = hekad_queue(&["verify", broken.path().to_str().unwrap()]);
    let report = text(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("0.log offset {at} ")), "{report}");
    assert!(
        report.contains(&format!("{} records, 1 corrupt", N - 1)),
        "{report}"
    );

    // The peer comes up; a new hekad delivers what the killed one queued.
    let listener = TcpListener::bind(("127.0.0.1", peer)).unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    thread::spawn(move || {
        while let Ok((mut conn, _)) = listener.accept() {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    });
    let daemon = Daemon::start(dir.path(), &cfg, Some(port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while payloads(&received.lock().unwrap()).len() < N {
        assert!(
            Instant::now() < deadline,
            "not delivered:\n{}",
            daemon.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    daemon.signal("TERM");
    let (status, log) = daemon.wait(30);
    assert!(status.success(), "{log}");
    let got = payloads(&received.lock().unwrap());
    let unique: HashSet<_> = got.iter().collect();
    let want: HashSet<Vec<u8>> = (0..N).map(|i| i.to_string().into_bytes()).collect();
    assert_eq!(unique, want.iter().collect(), "records lost or invented");
    assert_eq!(
        pending(&queue),
        0,
        "the checkpoint passed every delivered record"
    );
}

#[test]
fn a_full_queue_with_full_action_shutdown_stops_hekad_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let (port, peer) = (free_port(), free_port());
    let extra = "[forward.buffering]\nmax_buffer_size = 50000\nfull_action = \"shutdown\"\n";
    let daemon = Daemon::start(
        dir.path(),
        &config(dir.path(), port, peer, extra),
        Some(port),
    );
    // About 500 KB for a 50 KB queue whose peer is down.
    let mut sender = heka_flood()
        .args(["-address", &format!("127.0.0.1:{port}"), "-num", "2000"])
        .args(["-size", "200"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (status, log) = daemon.wait(30);
    let _ = sender.kill();
    let _ = sender.wait();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("Plugin 'forward'") && log.contains("disk queue full"),
        "{log}"
    );
}

#[test]
fn a_buffered_file_output_acknowledges_records_only_once_they_are_in_the_file() {
    const N: u64 = 500;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.heka");
    // Flush rules that keep everything in FileOutput's memory until shutdown.
    let toml = format!(
        r#"
[hekad]
base_dir = "{base}"

[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "{out}"
encoder = "ProtobufEncoder"
flush_interval = 100000
flush_count = 1000000
use_buffering = true
"#,
        base = dir.path().display(),
        out = out.display()
    );
    let path = dir.path().join("hekad.toml");
    std::fs::write(&path, toml).unwrap();
    let config = hekad::actors::config::Config::load(&path).unwrap();
    let stats = actix_rt::System::new().block_on(async move {
        let pipeline = hekad::actors::Pipeline::start(
            config.globals,
            config.plugins,
            hekad::catalogue::catalogue(),
        )
        .unwrap();
        for i in 0..N {
            let mut msg = hekad::proto::Message::new([3; 16], 1);
            msg.payload = Some(i.to_string().into_bytes().into());
            pipeline.inject(&msg).await.unwrap();
        }
        let stats = pipeline.stats("out").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.received.load(std::sync::atomic::Ordering::Relaxed) < N {
            assert!(
                Instant::now() < deadline,
                "the queue did not feed FileOutput"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let queued = stats
            .queue
            .get()
            .unwrap()
            .records
            .load(std::sync::atomic::Ordering::Relaxed);
        // FileOutput took every record but wrote none: none is settled.
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 0);
        assert_eq!(
            queued, N,
            "records acknowledged before they were in the file"
        );
        assert_eq!(pipeline.stop().await, 0);
        stats
    });
    let queue = dir.path().join("output_queue/out");
    assert_eq!(pending(&queue), 0, "written at shutdown, then checkpointed");
    assert_eq!(
        stats
            .queue
            .get()
            .unwrap()
            .records
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let cat = heka_cat(&[
        "-format",
        "count",
        dir.path().join("out.heka").to_str().unwrap(),
    ]);
    assert_eq!(text(&cat.stdout).trim(), N.to_string());
}

#[test]
fn sigterm_with_the_peer_down_keeps_every_queued_record_on_disk() {
    const N: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let (port, peer) = (free_port(), free_port());
    let daemon = Daemon::start(dir.path(), &config(dir.path(), port, peer, ""), Some(port));
    let queue = dir.path().join("output_queue/forward");
    send(port, N);
    let deadline = Instant::now() + Duration::from_secs(20);
    while pending(&queue) < N as u64 {
        assert!(Instant::now() < deadline, "not queued:\n{}", daemon.log());
        thread::sleep(Duration::from_millis(50));
    }
    // The output is retrying what it was fed when shutdown begins; after
    // shutdown_timeout it gives up on it, and those records stay queued.
    daemon.signal("TERM");
    let (status, log) = daemon.wait(30);
    assert!(status.success(), "{log}");
    assert_eq!(pending(&queue), N as u64, "{log}");
}
