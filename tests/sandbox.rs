//! Lua sandboxes in a running hekad: the shipped counter.lua with
//! preserve_data across a restart, a runaway script terminated with
//! heka.sandbox-terminated while the rest keeps flowing, and a script edited
//! on disk reloaded in place.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, heka_inject, text};

fn config(dir: &Path, port: u16, extra: &str) -> String {
    let counter = Path::new(env!("CARGO_MANIFEST_DIR")).join("sandboxes/filters/counter.lua");
    format!(
        r#"
[hekad]
base_dir = "{base}"

[TcpInput]
address = "127.0.0.1:{port}"

[counter]
type = "SandboxFilter"
filename = "{counter}"
message_matcher = "Type == 'count.me'"
ticker_interval = 1
preserve_data = true

[out]
type = "FileOutput"
message_matcher = "Type == 'heka.sandbox-output' || Type == 'heka.sandbox-terminated' || Type == 'heka.sandbox.echo'"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 100
{extra}
"#,
        base = dir.display(),
        counter = counter.display()
    )
}

fn send(port: u16, msg_type: &str, n: usize) {
    for _ in 0..n {
        let out = heka_inject()
            .args([
                "-heka",
                &format!("127.0.0.1:{port}"),
                "-type",
                msg_type,
                "-payload",
                "x",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// Waits (bounded) until the output file's text holds `needle`.
fn wait_for_text(dir: &Path, needle: &str, daemon: &Daemon) -> String {
    wait_for_count(dir, needle, 1, daemon)
}

/// Waits (bounded) until the output file's text holds `needle` `n` times.
fn wait_for_count(dir: &Path, needle: &str, n: usize, daemon: &Daemon) -> String {
    let path = dir.join("out.heka");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let txt = if path.exists() {
            text(&heka_cat(&["-format=txt", path.to_str().unwrap()]).stdout)
        } else {
            String::new()
        };
        if txt.matches(needle).count() >= n {
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

#[test]
fn counter_lua_keeps_its_total_across_a_restart_with_preserve_data() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port, "");
    let daemon = Daemon::start(dir.path(), &cfg, Some(port));
    send(port, "count.me", 4);
    send(port, "ignored", 2);
    wait_for_text(dir.path(), "Payload: 4 messages", &daemon);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    assert!(
        dir.path()
            .join("sandbox_preservation/counter.data")
            .exists()
    );

    let port = free_port();
    let daemon = Daemon::start(dir.path(), &config(dir.path(), port, ""), Some(port));
    send(port, "count.me", 3);
    wait_for_text(dir.path(), "Payload: 7 messages", &daemon);
    daemon.signal("TERM");
    assert!(daemon.wait(20).0.success());
}

#[test]
fn a_runaway_sandbox_is_terminated_and_the_rest_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let looper = dir.path().join("looper.lua");
    std::fs::write(
        &looper,
        "function process_message() while true do end end\n",
    )
    .unwrap();
    let extra = format!(
        "\n[looper]\ntype = \"SandboxFilter\"\nfilename = \"{}\"\nmessage_matcher = \"Type == 'loop'\"\ninstruction_limit = 100000\n",
        looper.display()
    );
    let port = free_port();
    let daemon = Daemon::start(dir.path(), &config(dir.path(), port, &extra), Some(port));
    send(port, "loop", 1);
    let txt = wait_for_text(dir.path(), "Type: heka.sandbox-terminated", &daemon);
    assert!(txt.contains("instruction_limit exceeded"), "{txt}");
    send(port, "count.me", 2);
    wait_for_text(dir.path(), "Payload: 2 messages", &daemon);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(
        status.success(),
        "a terminated sandbox (can_exit) must not fail hekad:\n{log}"
    );
}

#[test]
fn an_edited_script_is_reloaded_while_hekad_runs() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("echo.lua");
    let version = |v: &str| {
        format!(
            "function process_message()\n inject_message({{Type = 'echo', Payload = '{v}'}})\n return 0\nend\n"
        )
    };
    std::fs::write(&script, version("one")).unwrap();
    let extra = format!(
        "\n[echo]\ntype = \"SandboxFilter\"\nfilename = \"{}\"\nmessage_matcher = \"Type == 'ping'\"\n",
        script.display()
    );
    let port = free_port();
    let daemon = Daemon::start(dir.path(), &config(dir.path(), port, &extra), Some(port));
    send(port, "ping", 1);
    wait_for_text(dir.path(), "Payload: one", &daemon);
    std::fs::write(&script, version("two")).unwrap();
    assert!(
        daemon.wait_for_log("Filter reloaded", 10),
        "{}",
        daemon.log()
    );
    send(port, "ping", 1);
    wait_for_text(dir.path(), "Payload: two", &daemon);
    // A broken edit keeps the running version.
    std::fs::write(&script, "function process_message( broken").unwrap();
    assert!(daemon.wait_for_log("Reload failed", 10), "{}", daemon.log());
    send(port, "ping", 1);
    let txt = wait_for_count(dir.path(), "Payload: two", 2, &daemon);
    // Three pings, three echoes: one from each version that ran, none lost.
    assert_eq!(txt.matches("Type: heka.sandbox.echo").count(), 3, "{txt}");
    daemon.signal("TERM");
    assert!(daemon.wait(20).0.success());
}

#[test]
fn json_lua_decodes_json_lines_into_fields() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let json = Path::new(env!("CARGO_MANIFEST_DIR")).join("sandboxes/decoders/json.lua");
    let cfg = format!(
        r#"
[hekad]
base_dir = "{base}"

[lines]
type = "TcpInput"
address = "127.0.0.1:{port}"
splitter = "TokenSplitter"
decoder = "json"

[json]
type = "SandboxDecoder"
filename = "{json}"

[json.config]
type = "app.json"

[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 100
"#,
        base = dir.path().display(),
        json = json.display()
    );
    let daemon = Daemon::start(dir.path(), &cfg, Some(port));
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"{\"status\":200,\"req\":{\"path\":\"/a\",\"ms\":1.5},\"ok\":true}\nnot json\n{\"status\":404}\n")
        .unwrap();
    drop(conn);
    let txt = wait_for_count(dir.path(), "Type: app.json", 2, &daemon);
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    assert_eq!(
        txt.matches("Type: app.json").count(),
        2,
        "the bad line must not be delivered:\n{txt}"
    );
    let json_out = text(
        &heka_cat(&[
            "-format=json",
            "-match",
            "Fields[status] == 200",
            dir.path().join("out.heka").to_str().unwrap(),
        ])
        .stdout,
    );
    for want in [
        "\"req.path\"",
        "\"/a\"",
        "\"req.ms\"",
        "1.5",
        "\"ok\"",
        "true",
    ] {
        assert!(json_out.contains(want), "{want} missing in {json_out}");
    }
    assert!(
        log.contains("payload is not a JSON object"),
        "the failure is logged:\n{log}"
    );
}
