//! LogstreamerInput in a real hekad: log files written while hekad reads
//! them, rotated by rename+create and by copytruncate, hekad stopped with
//! TERM mid-file and started again, a file truncated and one deleted under
//! it; FileOutput writes what arrives and heka-cat reads it back, and the
//! lines must match what was written exactly (nothing lost, nothing
//! twice, in order). heka-logstreamer prints a config's read order.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::daemon::Daemon;
use crate::support::{heka_cat, text};

/// One message as heka-cat's json shows it.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    payload: String,
    logger: String,
    hostname: String,
    msg_type: String,
}

/// A hekad config: LogstreamerInput `logs` over `<dir>/logs` (keys in
/// `input` added) and a FileOutput of every `logfile` message.
fn config(dir: &Path, input: &str) -> String {
    format!(
        r#"
[hekad]
base_dir = "{base}"

[logs]
type = "LogstreamerInput"
log_directory = "{base}/logs"
check_data_interval = "20ms"
rescan_interval = "200ms"
hostname = "testhost"
{input}

[out]
type = "FileOutput"
message_matcher = "Type == 'logfile'"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 50
"#,
        base = dir.display()
    )
}

const SEQUENCE: &str = r#"
file_match = '(?P<Name>app)\.log\.?(?P<Seq>\d*)'
priority = ["^Seq"]
differentiator = ["Name", ".log"]
"#;

fn logs(dir: &Path) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    logs
}

fn records(dir: &Path) -> Vec<Record> {
    let out = dir.join("out.heka");
    if !out.exists() {
        return Vec::new();
    }
    let json = text(&heka_cat(&["-format=json", out.to_str().unwrap()]).stdout);
    json.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|v| {
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            Record {
                payload: field("payload"),
                logger: field("logger"),
                hostname: field("hostname"),
                msg_type: field("type"),
            }
        })
        .collect()
}

fn payloads(dir: &Path) -> Vec<String> {
    records(dir).into_iter().map(|r| r.payload).collect()
}

/// Waits (bounded) until the output holds at least `n` messages.
fn wait_for(dir: &Path, n: usize, daemon: &Daemon) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = payloads(dir);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages arrived:\n{}",
            got.len(),
            daemon.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts nothing more arrives for a little while, then returns all.
fn settled(dir: &Path, n: usize, daemon: &Daemon) -> Vec<String> {
    wait_for(dir, n, daemon);
    thread::sleep(Duration::from_millis(500));
    payloads(dir)
}

fn lines(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line {i:06}\n")).collect()
}

fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(lines.concat().as_bytes()).unwrap();
}

fn stop(daemon: Daemon) {
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
}

#[test]
fn rename_and_create_rotation_while_writing_keeps_every_line_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    // History first: app.log.2, app.log.1, app.log hold lines 0..300.
    append(&logs.join("app.log.2"), &lines(0..100));
    append(&logs.join("app.log.1"), &lines(100..200));
    append(&logs.join("app.log"), &lines(200..300));
    let daemon = Daemon::start(dir.path(), &config(dir.path(), SEQUENCE), None);
    // A writer keeps appending and rotates three times, logrotate style:
    // shift the numbered files, rename the live one, write a few late
    // lines through the old handle, then reopen a new app.log.
    let mut live = OpenOptions::new()
        .append(true)
        .open(logs.join("app.log"))
        .unwrap();
    let mut next = 300;
    for _ in 0..3 {
        for _ in 0..20 {
            live.write_all(lines(next..next + 25).concat().as_bytes())
                .unwrap();
            next += 25;
            thread::sleep(Duration::from_millis(5));
        }
        for n in (1..3).rev() {
            let from = logs.join(format!("app.log.{n}"));
            if from.exists() {
                std::fs::rename(&from, logs.join(format!("app.log.{}", n + 1))).unwrap();
            }
        }
        std::fs::rename(logs.join("app.log"), logs.join("app.log.1")).unwrap();
        live.write_all(lines(next..next + 5).concat().as_bytes())
            .unwrap();
        next += 5;
        live = File::create(logs.join("app.log")).unwrap();
    }
    live.write_all(lines(next..next + 50).concat().as_bytes())
        .unwrap();
    next += 50;
    let got = settled(dir.path(), next, &daemon);
    assert_eq!(got, lines(0..next), "{}", daemon.log());
    let first = &records(dir.path())[0];
    assert_eq!(first.logger, "app.log");
    assert_eq!(first.hostname, "testhost");
    assert_eq!(first.msg_type, "logfile");
    stop(daemon);
    let journal = std::fs::read_to_string(dir.path().join("logstreamer/app.log.journal")).unwrap();
    assert!(journal.contains("\"version\":1"), "{journal}");
}

#[test]
fn copytruncate_rotation_keeps_every_line_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    let live = logs.join("app.log");
    append(&live, &lines(0..500));
    let daemon = Daemon::start(dir.path(), &config(dir.path(), SEQUENCE), None);
    wait_for(dir.path(), 500, &daemon);
    // Rotate while hekad is idle at the end, then again right after a
    // burst it has probably not finished reading.
    let mut expected = lines(0..500);
    for (round, range) in [(0, 500..600), (1, 600..5600)] {
        if round == 1 {
            append(&live, &lines(range.clone()));
            expected.extend(lines(range.clone()));
        }
        let copy = logs.join("app.log.1");
        if copy.exists() {
            std::fs::rename(&copy, logs.join("app.log.2")).unwrap();
        }
        std::fs::copy(&live, &copy).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&live)
            .unwrap()
            .set_len(0)
            .unwrap();
        let after = lines(10_000 + round * 100..10_100 + round * 100);
        append(&live, &after);
        expected.extend(after);
        if round == 0 {
            append(&live, &lines(range.clone()));
            expected.extend(lines(range));
        }
        wait_for(dir.path(), expected.len(), &daemon);
    }
    let got = settled(dir.path(), expected.len(), &daemon);
    assert_eq!(got, expected, "{}", daemon.log());
    stop(daemon);
}

#[test]
fn a_restart_mid_file_resumes_without_loss_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    let live = logs.join("app.log");
    let cfg = config(dir.path(), "file_match = 'app\\.log'\n");
    append(&live, &lines(0..20_000));
    let daemon = Daemon::start(dir.path(), &cfg, None);
    // Keep writing (and leave a partial line) while hekad stops and starts.
    wait_for(dir.path(), 1, &daemon);
    let mut next = 20_000;
    let mut write = |n: usize| {
        append(&live, &lines(next..next + n));
        next += n;
    };
    for _ in 0..10 {
        write(100);
        thread::sleep(Duration::from_millis(5));
    }
    append(&live, &["partial ".to_owned()]);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    let before = payloads(dir.path()).len();
    let journal = std::fs::read_to_string(dir.path().join("logstreamer/logs.journal")).unwrap();
    assert!(journal.contains("\"file\""), "{journal}");
    append(&live, &["line completed\n".to_owned()]);
    write(1000);
    let daemon = Daemon::start(dir.path(), &cfg, None);
    write(1000);
    let mut expected = lines(0..21_000);
    expected.push("partial line completed\n".to_owned());
    expected.extend(lines(21_000..23_000));
    let got = settled(dir.path(), expected.len(), &daemon);
    assert!(before > 0 && before < expected.len(), "{before}");
    assert_eq!(got.len(), expected.len(), "{}", daemon.log());
    assert!(got == expected, "the lines differ from those written");
    assert!(
        daemon.log().contains("Resuming from the journal."),
        "{}",
        daemon.log()
    );
    stop(daemon);
}

#[test]
fn truncation_and_deletion_are_logged_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    let live = logs.join("app.log");
    append(&live, &["a\n".into(), "b\n".into()]);
    let daemon = Daemon::start(
        dir.path(),
        &config(dir.path(), "file_match = 'app\\.log'\n"),
        None,
    );
    wait_for(dir.path(), 2, &daemon);
    std::fs::write(&live, "c\n").unwrap();
    wait_for(dir.path(), 3, &daemon);
    let file = live.display().to_string();
    assert!(daemon.wait_for_log("File truncated below the read position", 10));
    let log = daemon.log();
    let line = log.lines().find(|l| l.contains("File truncated")).unwrap();
    assert!(
        line.contains(&format!("file={file}")) && line.contains("offset=4"),
        "{line}"
    );
    std::fs::remove_file(&live).unwrap();
    assert!(
        daemon.wait_for_log("File removed while being read", 10),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    let line = log.lines().find(|l| l.contains("File removed")).unwrap();
    assert!(
        line.contains(&format!("file={file}")) && line.contains("offset=2"),
        "{line}"
    );
    append(&live, &["d\n".into()]);
    let got = settled(dir.path(), 4, &daemon);
    assert_eq!(got, ["a\n", "b\n", "c\n", "d\n"]);
    stop(daemon);
}

#[test]
fn heka_logstreamer_prints_streams_and_files_in_read_order() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    for domain in ["a.com", "b.com"] {
        std::fs::create_dir_all(logs.join(domain)).unwrap();
        for name in [
            "access.log",
            "access.log.1",
            "access.log.10",
            "access.log.2",
        ] {
            std::fs::write(logs.join(domain).join(name), "x\n").unwrap();
        }
    }
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("logs.toml"),
        config(
            dir.path(),
            r#"file_match = '(?P<Domain>[^/]+)/access\.log\.?(?P<Seq>\d*)'
priority = ["^Seq"]
differentiator = ["nginx-", "Domain"]"#,
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_heka-logstreamer"))
        .arg(format!("-config={}", conf.display()))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("[logs] 2 stream(s) found"), "{stdout}");
    for domain in ["a.com", "b.com"] {
        let d = logs.join(domain);
        let d = d.display();
        let expected = format!(
            "Stream: nginx-{domain}\n4 file(s), in read order (oldest first):\n    \
             {d}/access.log.10\n    {d}/access.log.2\n    {d}/access.log.1\n    {d}/access.log\n"
        );
        assert!(stdout.contains(&expected), "{stdout}");
    }
    std::fs::write(
        conf.join("z.toml"),
        "[bad]\ntype = \"LogstreamerInput\"\nfile_match = '('\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_heka-logstreamer"))
        .args(["-config", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("file_match"),
        "{}",
        text(&out.stderr)
    );
}
