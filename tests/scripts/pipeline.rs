//! One hekad process running the shipped scripts together: nginx lines over
//! TCP, decoded by nginx_access.lua, counted by http_status.lua, the cbuf
//! written by FileOutput and read back with heka-cat.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, text as output_text};

use super::*;

#[test]
fn nginx_lines_flow_through_decoder_and_filter_in_hekad() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = format!(
        r#"
[hekad]
base_dir = "{base}"
share_dir = "{share}"

[lines]
type = "TcpInput"
address = "127.0.0.1:{port}"
splitter = "TokenSplitter"
decoder = "nginx"

[nginx]
type = "SandboxDecoder"
filename = "decoders/nginx_access.lua"
module_directory = "modules"

[nginx.config]
type = "nginx.access"
log_format = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'

[http_status]
type = "SandboxFilter"
filename = "filters/http_status.lua"
message_matcher = "Type == 'nginx.access'"
ticker_interval = 1

[http_status.config]
rows = 10

[out]
type = "FileOutput"
message_matcher = "Type == 'heka.sandbox-output'"
path = "{base}/out.heka"
encoder = "ProtobufEncoder"
flush_operator = "OR"
flush_interval = 100
"#,
        base = dir.path().display(),
        share = repo("sandboxes").display(),
    );
    let daemon = Daemon::start(dir.path(), &cfg, Some(port));
    let lines = fixture_lines("nginx/combined.log");
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(format!("{}\n", lines.join("\n")).as_bytes())
        .unwrap();
    drop(conn);

    // Wait for a cbuf that has counted all 17 good lines.
    let out = dir.path().join("out.heka");
    let deadline = Instant::now() + Duration::from_secs(20);
    let total = loop {
        let json = if out.exists() {
            output_text(&heka_cat(&["-format=json", out.to_str().unwrap()]).stdout)
        } else {
            String::new()
        };
        let last = json
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|m| m["payload"].as_str().map(str::to_owned));
        let total: f64 = last
            .map(|cbuf| {
                cbuf.lines()
                    .skip(1)
                    .flat_map(|row| row.split('\t').map(str::to_owned).collect::<Vec<_>>())
                    .filter_map(|v| v.parse::<f64>().ok().filter(|n| !n.is_nan()))
                    .sum()
            })
            .unwrap_or(0.0);
        if total >= 17.0 || Instant::now() > deadline {
            break total;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert_eq!(total, 17.0, "every good line counted once:\n{log}");
    assert!(status.success(), "{log}");
    assert!(
        log.contains("nginx_access: expected '-'"),
        "bad lines are logged with their reason:\n{log}"
    );
}
