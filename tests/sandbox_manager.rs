//! SandboxManagerFilter in a running hekad, driven by heka-sbmgr as a real
//! process: unsigned, wrongly signed, stale and over-`max_filters` loads
//! load nothing; a signed load, reload and unload round trip under traffic
//! counts every message exactly once; a loaded filter comes back after a
//! restart.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use heka_proto::framing;
use heka_proto::prost::Message as _;
use heka_proto::{Bytes, Message};

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, text};

const KEY: &str = "control secret";

fn config(dir: &Path, port: u16) -> String {
    format!(
        r#"
[hekad]
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{port}"
splitter = "signed"

[signed]
type = "HekaFramingSplitter"

[signed.signer.ops_0]
hmac_key = "{KEY}"

[mgr]
type = "SandboxManagerFilter"
message_signer = "ops"
max_filters = 1

[out]
type = "FileOutput"
message_matcher = "Type =~ /^heka\\./"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 100
"#,
        base = dir.display(),
    )
}

/// A counting filter: every `traffic` message adds one; each tick it
/// reports `<version> <count>`.
fn script(version: &str) -> String {
    format!(
        "count = 0\n\
         function process_message() count = count + 1 return 0 end\n\
         function timer_event() inject_payload('txt', 'count', '{version} ', count) end\n"
    )
}

const FILTER_TOML: &str = "[counting]\ntype = \"SandboxFilter\"\nfilename = \"\"\n\
    message_matcher = \"Type == 'traffic'\"\nticker_interval = 1\npreserve_data = true\n";

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        let dir = dir.join("client");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("counting.toml"), FILTER_TOML).unwrap();
        std::fs::write(
            dir.join("other.toml"),
            FILTER_TOML.replace("[counting]", "[other]"),
        )
        .unwrap();
        Files { dir }
    }

    fn sbmgr_config(&self, port: u16, key: Option<&str>) -> PathBuf {
        let mut text = format!("ip_address = \"127.0.0.1:{port}\"\n");
        if let Some(key) = key {
            text.push_str(&format!(
                "[signer]\nname = \"ops\"\nhmac_key = \"{key}\"\nversion = 0\n"
            ));
        }
        let path = self.dir.join(format!("sbmgr-{}.toml", key.is_some()));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn script(&self, version: &str) -> PathBuf {
        let path = self.dir.join(format!("{version}.lua"));
        std::fs::write(&path, script(version)).unwrap();
        path
    }
}

fn sbmgr(config: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_heka-sbmgr"))
        .arg("-config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn load(config: &Path, action: &str, script: &Path, toml: &Path) {
    sbmgr(
        config,
        &[
            "-action",
            action,
            "-script",
            script.to_str().unwrap(),
            "-scriptconfig",
            toml.to_str().unwrap(),
        ],
    );
}

/// Sends `n` unsigned `traffic` messages over one connection.
fn traffic(port: u16, n: usize) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut buf = Vec::new();
    for i in 0..n {
        let msg = Message {
            r#type: Some(Bytes::from_static(b"traffic")),
            ..Message::new([7; 16], i as i64)
        };
        framing::encode_frame(&msg.encode_to_vec(), None, 65536, &mut buf).unwrap();
        if i % 50 == 49 {
            stream.write_all(&buf).unwrap();
            buf.clear();
            thread::sleep(Duration::from_millis(5));
        }
    }
    stream.write_all(&buf).unwrap();
}

fn output(dir: &Path) -> String {
    let path = dir.join("out.heka");
    if !path.exists() {
        return String::new();
    }
    text(&heka_cat(&["-format=txt", path.to_str().unwrap()]).stdout)
}

/// Waits (bounded) until the output holds `needle`.
fn wait_for(dir: &Path, needle: &str, daemon: &Daemon) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let txt = output(dir);
        if txt.contains(needle) {
            return txt;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {needle:?} in:\n{txt}\nlog:\n{}",
            daemon.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The manager's saved filter files (its staging directory left out).
fn saved(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("sbxmgrs"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn refused_control_messages_load_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::new(dir.path());
    let port = free_port();
    let daemon = Daemon::start(dir.path(), &config(dir.path(), port), Some(port));
    let v1 = files.script("v1");
    let toml = files.dir.join("counting.toml");
    // Unsigned: the router never hands it to the manager.
    load(&files.sbmgr_config(port, None), "load", &v1, &toml);
    // Wrongly signed: the splitter rejects the record.
    load(
        &files.sbmgr_config(port, Some("wrong key")),
        "load",
        &v1,
        &toml,
    );
    // Signed but 10 s old: the manager discards it.
    let right = files.sbmgr_config(port, Some(KEY));
    let mut stale = hekad::sbmgr::options(
        [
            "-config",
            right.to_str().unwrap(),
            "-script",
            v1.to_str().unwrap(),
            "-scriptconfig",
            toml.to_str().unwrap(),
        ]
        .map(std::ffi::OsString::from),
    )
    .unwrap();
    stale.message.timestamp -= 10_000_000_000;
    hekad::sbmgr::run(&stale).unwrap();
    assert!(
        daemon.wait_for_log("Discarded control message: 10 seconds skew", 10),
        "{}",
        daemon.log()
    );
    // Signed and fresh: loads (max_filters = 1) ...
    load(&right, "load", &v1, &toml);
    // The load is applied asynchronously; traffic sent before it is not
    // the new filter's.
    assert!(
        daemon.wait_for_log("Dynamic filter loaded.", 10),
        "{}",
        daemon.log()
    );
    traffic(port, 5);
    wait_for(dir.path(), "Payload: v1 5", &daemon);
    daemon.signal("USR1");
    assert!(
        daemon.wait_for_log("RunningFilters: 1", 10),
        "{}",
        daemon.log()
    );
    // ... and a second one is over max_filters.
    load(&right, "load", &v1, &files.dir.join("other.toml"));
    let txt = wait_for(dir.path(), "max_filters (1) reached", &daemon);
    assert!(txt.contains("Type: heka.sandbox-terminated"), "{txt}");
    // So is a script that does not compile, reported with its error.
    std::fs::write(files.dir.join("bad.lua"), "function process_message(\n").unwrap();
    load(&right, "reload", &files.dir.join("bad.lua"), &toml);
    wait_for(dir.path(), "mgr-counting.lua:2:", &daemon);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    assert_eq!(
        log.matches("Dynamic filter loaded.").count(),
        1,
        "only the signed, fresh load counts:\n{log}"
    );
    assert_eq!(saved(dir.path()), ["mgr-counting.lua", "mgr-counting.toml"]);
}

#[test]
fn load_reload_and_unload_under_traffic_count_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::new(dir.path());
    let port = free_port();
    let daemon = Daemon::start(dir.path(), &config(dir.path(), port), Some(port));
    let right = files.sbmgr_config(port, Some(KEY));
    let toml = files.dir.join("counting.toml");
    load(&right, "load", &files.script("v1"), &toml);
    assert!(
        daemon.wait_for_log("Dynamic filter loaded.", 10),
        "{}",
        daemon.log()
    );
    const N: usize = 3000;
    let sender = thread::spawn(move || traffic(port, N));
    thread::sleep(Duration::from_millis(100));
    load(&right, "reload", &files.script("v2"), &toml);
    sender.join().unwrap();
    wait_for(dir.path(), &format!("Payload: v2 {N}\n"), &daemon);
    assert!(daemon.log().contains("Filter reloaded."));

    // A restart brings the loaded filter back, with its preserved count.
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    let port = free_port();
    let daemon = Daemon::start(dir.path(), &config(dir.path(), port), Some(port));
    assert!(
        daemon.wait_for_log("Dynamic filter restored.", 10),
        "{}",
        daemon.log()
    );
    traffic(port, 2);
    wait_for(dir.path(), &format!("Payload: v2 {}\n", N + 2), &daemon);

    let right = files.sbmgr_config(port, Some(KEY));
    sbmgr(&right, &["-action", "unload", "-filtername", "counting"]);
    let txt = wait_for(dir.path(), "Payload: Filter unloaded.", &daemon);
    assert!(txt.contains("Type: heka.terminated"), "{txt}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !saved(dir.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "files kept: {:?}",
            saved(dir.path())
        );
        thread::sleep(Duration::from_millis(50));
    }
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
}
