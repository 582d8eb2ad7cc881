//! The network and process plugins in a real hekad on 127.0.0.1: datagrams
//! into UdpInput read back from a FileOutput with heka-cat, UdpOutput to a
//! test UDP socket, ProcessInput running real command chains (output,
//! ExitStatus, SubcmdErrors, timeout, kill at shutdown), and statsd
//! datagrams and StatFilter stats through StatAccumInput to CarbonOutput
//! into a test carbon listener, which is dropped and restarted while
//! hekad keeps the lines until it is back.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, heka_inject, text};

/// A UDP port on 127.0.0.1 that was free a moment ago.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The messages of a FileOutput file, as heka-cat's json shows them.
fn messages(path: &Path) -> Vec<Value> {
    if !path.exists() {
        return Vec::new();
    }
    text(&heka_cat(&["-format=json", path.to_str().unwrap()]).stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Waits (bounded) until `path` holds `n` messages.
fn wait_for_messages(path: &Path, n: usize, daemon: &Daemon) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = messages(path);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages:\n{got:#?}\nlog:\n{}",
            got.len(),
            daemon.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn str_of<'a>(msg: &'a Value, key: &str) -> &'a str {
    msg[key].as_str().unwrap_or_default()
}

/// The first value of field `name` (string or integer) as text.
fn field(msg: &Value, name: &str) -> Option<String> {
    let f = msg["fields"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)?;
    if let Some(s) = f["value_string"][0].as_str() {
        return Some(s.to_owned());
    }
    f["value_integer"][0].as_i64().map(|i| i.to_string())
}

fn stop(daemon: Daemon) {
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
}

fn file_output(dir: &Path, matcher: &str) -> String {
    format!(
        r#"
[out]
type = "FileOutput"
message_matcher = "{matcher}"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 50
"#,
        base = dir.display()
    )
}

#[test]
fn udp_datagrams_arrive_in_a_file_output() {
    let dir = tempfile::tempdir().unwrap();
    let (tcp, whole, lines) = (free_port(), free_udp_port(), free_udp_port());
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{tcp}"

[whole]
type = "UdpInput"
address = "127.0.0.1:{whole}"
set_hostname = true

[lines]
type = "UdpInput"
address = "127.0.0.1:{lines}"
splitter = "TokenSplitter"
{out}"#,
        base = dir.path().display(),
        out = file_output(dir.path(), "Type == 'whole' || Type == 'lines'"),
    );
    let daemon = Daemon::start(dir.path(), &config, Some(tcp));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(b"first datagram", ("127.0.0.1", whole))
        .unwrap();
    client
        .send_to(b"second\nstill second", ("127.0.0.1", whole))
        .unwrap();
    // TokenSplitter: two whole lines, and a partial one dropped (counted).
    client
        .send_to(b"a\nb\npartial", ("127.0.0.1", lines))
        .unwrap();
    let path = dir.path().join("out.heka");
    let got = wait_for_messages(&path, 4, &daemon);
    let mut whole_payloads: Vec<&str> = got
        .iter()
        .filter(|m| str_of(m, "type") == "whole")
        .map(|m| str_of(m, "payload"))
        .collect();
    whole_payloads.sort();
    assert_eq!(whole_payloads, ["first datagram", "second\nstill second"]);
    for m in got.iter().filter(|m| str_of(m, "type") == "whole") {
        assert_eq!(str_of(m, "hostname"), "127.0.0.1");
        assert_eq!(str_of(m, "logger"), "whole");
    }
    let line_payloads: Vec<&str> = got
        .iter()
        .filter(|m| str_of(m, "type") == "lines")
        .map(|m| str_of(m, "payload"))
        .collect();
    assert_eq!(line_payloads, ["a\n", "b\n"]);
    assert!(
        daemon.wait_for_log("incomplete final record", 5),
        "{}",
        daemon.log()
    );
    stop(daemon);
}

#[test]
fn udp_output_sends_datagrams_and_drops_oversize_ones() {
    let dir = tempfile::tempdir().unwrap();
    let tcp = free_port();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{tcp}"

[payload]
type = "PayloadEncoder"
append_newlines = false

[udp_out]
type = "UdpOutput"
message_matcher = "Type == 'to.udp'"
address = "{peer}"
max_message_size = 512
encoder = "payload"
"#,
        base = dir.path().display(),
        peer = peer.local_addr().unwrap(),
    );
    let daemon = Daemon::start(dir.path(), &config, Some(tcp));
    let big = "x".repeat(600);
    for payload in ["one", big.as_str(), "two"] {
        let out = heka_inject()
            .args(["-heka", &format!("127.0.0.1:{tcp}"), "-type", "to.udp"])
            .args(["-payload", payload])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    for _ in 0..2 {
        let n = peer.recv(&mut buf).expect("a datagram within 10 s");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(got, ["one", "two"]);
    assert!(
        daemon.wait_for_log("exceeded allowed UDP data size", 5),
        "{}",
        daemon.log()
    );
    stop(daemon);
}

#[test]
fn process_input_runs_command_chains_and_reports_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let tcp = free_port();
    let pid_file = dir.path().join("sleeper.pid");
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{tcp}"

[chain]
type = "ProcessInput"
immediate_start = true
ticker_interval = 3600
[chain.command.0]
bin = "printf"
args = ["alpha\nbeta\n"]
[chain.command.1]
bin = "tr"
args = ["a-z", "A-Z"]

[failing]
type = "ProcessInput"
immediate_start = true
ticker_interval = 3600
stdout = false
stderr = true
[failing.command.0]
bin = "sh"
args = ["-c", "echo to-stdout; echo to-stderr >&2; exit 3"]

[slow]
type = "ProcessInput"
immediate_start = true
ticker_interval = 3600
timeout = 1
[slow.command.0]
bin = "sh"
args = ["-c", "echo started; exec sleep 60"]

[sleeper]
type = "ProcessInput"
ticker_interval = 0
[sleeper.command.0]
bin = "sh"
args = ["-c", "echo $$ > {pid}; exec sleep 600"]
{out}"#,
        base = dir.path().display(),
        pid = pid_file.display(),
        out = file_output(dir.path(), "Type == 'ProcessInput'"),
    );
    let daemon = Daemon::start(dir.path(), &config, Some(tcp));
    let path = dir.path().join("out.heka");
    let got = wait_for_messages(&path, 4, &daemon);
    let of = |logger: &str| -> Vec<&Value> {
        got.iter()
            .filter(|m| str_of(m, "logger") == logger)
            .collect()
    };

    let chain = of("chain");
    let payloads: Vec<&str> = chain.iter().map(|m| str_of(m, "payload")).collect();
    assert_eq!(payloads, ["ALPHA\n", "BETA\n"]);
    for m in &chain {
        assert_eq!(str_of(m, "type"), "ProcessInput");
        assert_eq!(
            field(m, "ProcessInputName").as_deref(),
            Some("chain.stdout")
        );
        assert_eq!(field(m, "ExitStatus").as_deref(), Some("0"));
        assert_eq!(field(m, "SubcmdErrors"), None);
    }

    let failing = of("failing");
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert_eq!(str_of(failing[0], "payload"), "to-stderr\n");
    assert_eq!(
        field(failing[0], "ProcessInputName").as_deref(),
        Some("failing.stderr")
    );
    assert_eq!(field(failing[0], "ExitStatus").as_deref(), Some("3"));
    assert_eq!(
        field(failing[0], "SubcmdErrors").as_deref(),
        Some("Subcommand[0] returned an error: exit status 3")
    );

    let slow = of("slow");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(str_of(slow[0], "payload"), "started\n");
    assert_eq!(field(slow[0], "ExitStatus").as_deref(), Some("-1"));
    let errors = field(slow[0], "SubcmdErrors").unwrap();
    assert!(errors.contains("timed out after 1 s"), "{errors}");

    // The long-running command is killed when hekad stops.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sleeper = loop {
        let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<u32>() {
            break pid;
        }
        assert!(Instant::now() < deadline, "the sleeper never started");
        thread::sleep(Duration::from_millis(20));
    };
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive(sleeper));
    stop(daemon);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(sleeper) {
        assert!(
            Instant::now() < deadline,
            "sleeper {sleeper} outlived hekad"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A test carbon daemon: accepts connections on a port, reads each to its
/// end and keeps the lines; can be stopped (port closed) and started again.
struct Carbon {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Carbon {
    fn start(port: u16, lines: Arc<Mutex<Vec<String>>>) -> Carbon {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, store) = (Arc::clone(&stop), Arc::clone(&lines));
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut socket, _)) => {
                        socket.set_nonblocking(false).unwrap();
                        socket
                            .set_read_timeout(Some(Duration::from_secs(10)))
                            .unwrap();
                        let mut text = String::new();
                        let _ = socket.read_to_string(&mut text);
                        store
                            .lock()
                            .unwrap()
                            .extend(text.lines().map(str::to_owned));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Carbon {
            port,
            lines,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the port (and forgets nothing received so far).
    fn stop(mut self) -> Arc<Mutex<Vec<String>>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        Arc::clone(&self.lines)
    }

    /// Waits (bounded) until a line starting with `prefix` arrived;
    /// returns the value of every such line.
    fn wait_for(&self, prefix: &str, daemon: &Daemon) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let values = values(&self.lines.lock().unwrap(), prefix);
            if !values.is_empty() {
                return values;
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix:?} line on port {}: {:#?}\nlog:\n{}",
                self.port,
                self.lines.lock().unwrap(),
                daemon.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The values of the graphite lines named `name`.
fn values(lines: &[String], name: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let words: Vec<&str> = l.split(' ').collect();
            (words.len() == 3 && words[0] == name).then(|| words[1].to_owned())
        })
        .collect()
}

#[test]
fn statsd_and_stat_filter_stats_reach_carbon_and_survive_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (tcp, statsd, carbon_port) = (free_port(), free_udp_port(), free_port());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let carbon = Carbon::start(carbon_port, Arc::clone(&lines));
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{tcp}"

[StatsdInput]
address = "127.0.0.1:{statsd}"

[StatAccumInput]
ticker_interval = 1

[requests]
type = "StatFilter"
message_matcher = "Type == 'req'"
[requests.Metric.hits]
type = "Counter"
name = "web.%Type%.hits"
value = "1"
[requests.Metric.size]
type = "Gauge"
name = "web.size"
value = "%Payload%"

[CarbonOutput]
message_matcher = "Type == 'heka.statmetric'"
address = "127.0.0.1:{carbon_port}"
"#,
        base = dir.path().display(),
    );
    let daemon = Daemon::start(dir.path(), &config, Some(tcp));

    // One datagram, so all of it falls into one roll-up.
    let mut datagram = String::from("hits:1|c|@0.1\nhits:1|c|@0.1\nhits:1|c|@0.1\nhits:2|c\n");
    datagram.push_str("g:10|g\ng:+5|g\ng:-3|g\n");
    for v in [7, 3, 10, 1, 9, 2, 8, 4, 6, 5] {
        datagram.push_str(&format!("db.query:{v}|ms\n"));
    }
    datagram.push_str("not a stat line\n");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(datagram.as_bytes(), ("127.0.0.1", statsd))
        .unwrap();
    for _ in 0..3 {
        let out = heka_inject()
            .args(["-heka", &format!("127.0.0.1:{tcp}"), "-type", "req"])
            .args(["-payload", "42"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    // Values computed from what was sent, at ticker_interval = 1 s:
    // 3 × 1/0.1 + 2 = 32 hits; 10 + 5 − 3 = 12; timings 1..=10 ms.
    let count = carbon.wait_for("stats.counters.hits.count", &daemon);
    let all = lines.lock().unwrap().clone();
    let roll_up = count
        .iter()
        .position(|c| c != "0")
        .expect("a roll-up with hits");
    let pick = |name: &str| values(&all, name)[roll_up].clone();
    assert_eq!(pick("stats.counters.hits.count"), "32");
    assert_eq!(pick("stats.counters.hits.rate"), "32.000000");
    assert_eq!(pick("stats.gauges.g"), "12.000000");
    for (name, want) in [
        ("count", "10"),
        ("count_ps", "10.000000"),
        ("lower", "1.000000"),
        ("upper", "10.000000"),
        ("sum", "55.000000"),
        ("mean", "5.500000"),
        ("mean_90", "5.000000"),
        ("upper_90", "9.000000"),
    ] {
        assert_eq!(
            pick(&format!("stats.timers.db.query.{name}")),
            want,
            "{name}"
        );
    }
    assert!(daemon.wait_for_log("Can't parse statsd line", 5));

    // StatFilter: three messages, possibly over several roll-ups.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = lines.lock().unwrap().clone();
        let hits: i64 = values(&all, "stats.counters.web.req.hits.count")
            .iter()
            .map(|v| v.parse::<i64>().unwrap())
            .sum();
        if hits == 3 {
            assert_eq!(
                values(&all, "stats.gauges.web.size").last().unwrap(),
                "42.000000"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{hits} web hits: {all:#?}");
        thread::sleep(Duration::from_millis(50));
    }

    // Carbon goes away; stats sent meanwhile wait in hekad until it is back.
    let lines = carbon.stop();
    client
        .send_to(b"while.down:7|c\n", ("127.0.0.1", statsd))
        .unwrap();
    thread::sleep(Duration::from_millis(2500));
    assert!(values(&lines.lock().unwrap(), "stats.counters.while.down.count").is_empty());
    let carbon = Carbon::start(carbon_port, Arc::clone(&lines));
    let down = carbon.wait_for("stats.counters.while.down.count", &daemon);
    let total: i64 = down.iter().map(|v| v.parse::<i64>().unwrap()).sum();
    assert_eq!(total, 7, "{down:?}");
    stop(daemon);
    carbon.stop();
}

#[test]
fn a_process_input_waiting_to_restart_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let tcp = free_port();
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{tcp}"

[missing]
type = "ProcessInput"
immediate_start = true
ticker_interval = 1
[missing.command.0]
bin = "/nonexistent/program"
[missing.retries]
delay = "30s"
"#,
        base = dir.path().display(),
    );
    let daemon = Daemon::start(dir.path(), &config, Some(tcp));
    assert!(
        daemon.wait_for_log("Input failed; restarting", 10),
        "{}",
        daemon.log()
    );
    let began = Instant::now();
    stop(daemon);
    assert!(began.elapsed() < Duration::from_secs(10));
}
