//! hekad end to end as a real process: heka-inject and heka-flood send over
//! 127.0.0.1, FileOutput writes, heka-cat reads back; signed streams, back
//! pressure from a stalled TcpOutput peer, SIGTERM drain, config errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, heka_flood, heka_inject, text};

/// Forwards `connections` connections, one after the other, to `port` and
/// records every byte that went through.
fn tee(port: u16, connections: usize) -> (String, Arc<Mutex<Vec<u8>>>, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::clone(&recorded);
    let handle = thread::spawn(move || {
        for _ in 0..connections {
            let (mut from, _) = listener.accept().unwrap();
            let mut to = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = from.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                rec.lock().unwrap().extend_from_slice(&buf[..n]);
                to.write_all(&buf[..n]).unwrap();
            }
            to.shutdown(std::net::Shutdown::Write).unwrap();
        }
    });
    (address, recorded, handle)
}

fn file_config(port: u16, out: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[hekad]
maxprocs = 2
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{port}"
{extra}

[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "{out}"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 100
"#,
        base = out.parent().unwrap().display(),
        out = out.display()
    )
}

fn count(path: &std::path::Path) -> u64 {
    let out = heka_cat(&["-format=count", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("heka-cat count: {stdout}"))
}

/// Waits (bounded) until the file at `path` holds `n` records.
fn wait_for_records(path: &std::path::Path, n: u64, daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(path.exists() && count(path) == n) {
        assert!(
            Instant::now() < deadline,
            "{} never held {n} records:\n{}",
            path.display(),
            daemon.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}{}",
        cmd,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn injected_and_flooded_messages_arrive_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dir.path().join("out.heka");
    let daemon = Daemon::start(dir.path(), &file_config(port, &out, ""), Some(port));
    let (address, recorded, tee) = tee(port, 2);
    run_ok(heka_inject().args([
        "-heka",
        &address,
        "-payload",
        "hello from heka-inject",
        "-type",
        "e2e",
    ]));
    wait_for_records(&out, 1, &daemon);
    run_ok(heka_flood().args(["-address", &address, "-num", "20000", "-variable"]));
    tee.join().unwrap();
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    let written = std::fs::read(&out).unwrap();
    let sent = recorded.lock().unwrap();
    assert_eq!(count(&out), 20_001);
    assert!(
        written == *sent,
        "the file differs from what was sent ({} vs {} bytes)",
        written.len(),
        sent.len()
    );
    let txt = text(
        &heka_cat(&[
            "-format=txt",
            "-match",
            "Type == 'e2e'",
            out.to_str().unwrap(),
        ])
        .stdout,
    );
    assert!(txt.contains("Payload: hello from heka-inject"), "{txt}");
}

#[test]
fn a_bad_signature_delivers_nothing_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dir.path().join("signed.heka");
    let extra = "splitter = \"signed\"\n\n[signed]\ntype = \"HekaFramingSplitter\"\n\n[signed.signer.ops_0]\nhmac_key = \"the right key\"\n";
    let daemon = Daemon::start(dir.path(), &file_config(port, &out, extra), Some(port));
    let addr = format!("127.0.0.1:{port}");
    run_ok(heka_flood().args([
        "-address",
        &addr,
        "-num",
        "300",
        "-sign",
        "ops:0:md5:a wrong key",
    ]));
    run_ok(heka_flood().args([
        "-address",
        &addr,
        "-num",
        "200",
        "-sign",
        "ops:0:md5:the right key",
    ]));
    wait_for_records(&out, 200, &daemon);
    daemon.signal("USR1");
    assert!(
        daemon.wait_for_log("====Outputs====", 10),
        "no report:\n{}",
        daemon.log()
    );
    let log = daemon.log();
    let report = &log[log.find("====Inputs====").unwrap()..];
    let input = &report[report.find("TcpInput:").unwrap()..];
    let input = &input[..input.find("====").unwrap()];
    assert!(input.contains("DroppedMessageCount: 300"), "{input}");
    assert!(input.contains("RoutedMessageCount: 200"), "{input}");
    // The splitter and decoder instances report under `<input>-<template>`.
    let splitter = &report[report.find("TcpInput-signed:").expect("splitter row")..];
    assert!(splitter.contains("DroppedMessageCount: 300"), "{splitter}");
    let decoder = &report[report
        .find("TcpInput-ProtobufDecoder:")
        .expect("decoder row")..];
    assert!(decoder.contains("ProcessMessageCount: 200"), "{decoder}");
    let encoder = &report[report.find("out-ProtobufEncoder:").expect("encoder row")..];
    assert!(encoder.contains("ProcessMessageCount: 200"), "{encoder}");
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    assert_eq!(count(&out), 200);
}

#[test]
fn a_stalled_output_slows_the_sender_without_growing_memory_or_losing_messages() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = format!(
        r#"
[hekad]
maxprocs = 2
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{port}"

[forward]
type = "TcpOutput"
message_matcher = "TRUE"
address = "{peer}"
encoder = "ProtobufEncoder"
# Unbuffered, the peer's stall must reach the sender (tests/queue.rs has
# the buffered case).
use_buffering = false
"#,
        base = dir.path().display(),
        peer = peer.local_addr().unwrap()
    );
    let daemon = Daemon::start(dir.path(), &config, Some(port));
    let baseline = daemon.rss_kib();
    let mut flood = heka_flood()
        .args([
            "-address",
            &format!("127.0.0.1:{port}"),
            "-num",
            &N.to_string(),
            "-size",
            "400",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The peer accepts but reads nothing for three seconds.
    let (mut conn, _) = peer.accept().unwrap();
    let stall_end = Instant::now() + Duration::from_secs(3);
    let mut peak = baseline;
    while Instant::now() < stall_end {
        peak = peak.max(daemon.rss_kib());
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        flood.try_wait().unwrap().is_none(),
        "the sender was never slowed down"
    );
    // ~45 MB were offered; hekad holds at most its pool of packs.
    assert!(
        peak < baseline + 20 * 1024,
        "RSS grew from {baseline} KiB to {peak} KiB while stalled"
    );
    // Resume reading; hekad closes the connection when it stops.
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let reader = thread::spawn(move || {
        let mut received = Vec::new();
        let _ = conn.read_to_end(&mut received);
        received
    });
    assert!(flood.wait().unwrap().success());
    daemon.signal("TERM");
    let (status, log) = daemon.wait(60);
    assert!(status.success(), "{log}");
    let received = reader.join().unwrap();
    let events = crate::support::receiver::events(&received, 64 * 1024, None);
    let delivered = events
        .iter()
        .filter(|e| matches!(e, hekad::proto::deframer::Event::Record(_)))
        .count();
    assert_eq!(delivered, N, "records lost while the output was stalled");
    assert_eq!(events.len(), N, "corrupt bytes in the forwarded stream");
}

#[test]
fn sigterm_with_messages_in_flight_delivers_everything_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dir.path().join("drain.heka");
    let daemon = Daemon::start(dir.path(), &file_config(port, &out, ""), Some(port));
    let mut flood = heka_flood()
        .args([
            "-address",
            &format!("127.0.0.1:{port}"),
            "-num",
            "0",
            "-duration",
            "10s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    daemon.signal("TERM");
    let (status, log) = daemon.wait(30);
    let _ = flood.kill();
    let _ = flood.wait();
    assert!(status.success(), "{log}");
    let routed: u64 = log
        .lines()
        .find_map(|l| l.split("Input TcpInput routed ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no routed count in the log:\n{log}"));
    assert!(
        routed > 1000,
        "too little traffic to test a drain: {routed}"
    );
    assert_eq!(
        count(&out),
        routed,
        "accepted messages lost at shutdown:\n{log}"
    );
}

#[test]
fn config_errors_name_the_file_line_section_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[hekad]\npoolsize = 10\n\n[TcpInput]\naddress = \"127.0.0.1:1\"\nadress_typo = 3\n\n[out]\ntype = \"LogOutput\"\nmessage_matcher = \"Type = 'x'\"\nencoder = \"PayloadEncoder\"\n\n[PayloadEncoder]\n\n[out2]\ntype = \"LogOutput\"\nmessage_matcher = \"TRUE\"\nencoder = \"NoSuchEncoder\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hekad"))
        .args(["--config", path.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let file = path.display().to_string();
    assert!(
        err.contains(&format!("{file}:6"))
            && err.contains("`TcpInput`")
            && err.contains("adress_typo"),
        "{err}"
    );
    assert!(
        err.contains("`out`") && err.contains("offset 5"),
        "matcher error: {err}"
    );
    assert!(
        err.contains("`out2`") && err.contains("no section named `NoSuchEncoder`"),
        "{err}"
    );
    assert!(err.contains("3 errors loading plugins"), "{err}");
}

#[test]
fn the_example_config_checks_out_and_version_prints() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hekad"))
        .current_dir(root)
        .args(["-config=heka.toml.example", "-check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_hekad"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(text(&version.stdout).trim(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_port_in_use_stops_startup_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let daemon = Daemon::start(
        dir.path(),
        &file_config(port, &dir.path().join("x.heka"), ""),
        None,
    );
    let (status, log) = daemon.wait(20);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("`TcpInput`") && log.contains(&format!("127.0.0.1:{port}")),
        "{log}"
    );
}

#[test]
fn the_embedding_example_runs() {
    // `cargo test --workspace` builds examples next to the test binaries;
    // when only this test target was built, build the example first.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("embed");
    if !example.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = std::process::Command::new(cargo)
            .args(["build", "--example", "embed"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(built.success(), "building the example failed");
    }
    let out = std::process::Command::new(&example)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", example.display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["HELLO, ACTORS", "HELLO, HEKA", "HELLO, RUST"]);
}

#[test]
fn sighup_makes_file_output_reopen_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dir.path().join("rotating.heka");
    let daemon = Daemon::start(dir.path(), &file_config(port, &out, ""), Some(port));
    let addr = format!("127.0.0.1:{port}");
    run_ok(heka_inject().args(["-heka", &addr, "-payload", "before rotation"]));
    wait_for_records(&out, 1, &daemon);
    let rotated = dir.path().join("rotating.heka.1");
    std::fs::rename(&out, &rotated).unwrap();
    daemon.signal("HUP");
    assert!(daemon.wait_for_log("Reopen requested", 10));
    run_ok(heka_inject().args(["-heka", &addr, "-payload", "after rotation"]));
    wait_for_records(&out, 1, &daemon);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    let old = text(&heka_cat(&["-format=txt", rotated.to_str().unwrap()]).stdout);
    let new = text(&heka_cat(&["-format=txt", out.to_str().unwrap()]).stdout);
    assert!(
        old.contains("before rotation") && !old.contains("after rotation"),
        "{old}"
    );
    assert!(
        new.contains("after rotation") && !new.contains("before rotation"),
        "{new}"
    );
}

#[test]
fn pid_file_and_base_dir_are_handled_like_heka() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pid_file = dir.path().join("hekad.pid");
    let base = dir.path().join("state/nested");
    let config = format!(
        "[hekad]\nbase_dir = {base:?}\npid_file = {pid:?}\n\n[TcpInput]\naddress = \"127.0.0.1:{port}\"\n\n[CounterFilter]\n",
        base = base.display().to_string(),
        pid = pid_file.display().to_string()
    );
    let daemon = Daemon::start(dir.path(), &config, Some(port));
    assert!(base.is_dir(), "base_dir was not created");
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(written.trim(), daemon.pid().to_string());
    // A second hekad with the same pid_file refuses to start.
    let second_dir = tempfile::tempdir().unwrap();
    let second = Daemon::start(
        second_dir.path(),
        &config.replace(&port.to_string(), &free_port().to_string()),
        None,
    );
    let (status, log) = second.wait(20);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("names a running process"), "{log}");
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    assert!(!pid_file.exists(), "pid_file left behind");
}
