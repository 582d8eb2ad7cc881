//! DashboardOutput in a running hekad, read over real HTTP on 127.0.0.1:
//! the page and its `headers`, the all-report it asks for every second
//! (counters growing between ticks, also seen by the shipped
//! heka_report.lua filter), a sandbox's output listed in sandboxes.json and
//! served, a terminated sandbox in the tsv, and path-traversal requests
//! refused; a busy port stops hekad naming the plugin; the example's
//! commented block checks out. The browser test loads the page in Debian's
//! headless chromium and checks that the script filled the plugin table.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, free_port};

/// One answer: status, headers (names lowercased) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method target` over a fresh connection and reads the answer.
fn request(port: u16, method: &str, target: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn get(port: u16, target: &str) -> Answer {
    request(port, "GET", target)
}

/// Polls `target` (bounded) until `done` accepts its answer.
fn wait_get(port: u16, target: &str, daemon: &Daemon, done: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = get(port, target);
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{target} never became ready (last status {}, body {:?}):\n{}",
            answer.status,
            answer.body,
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A metric of a plugin in an all-report payload.
fn metric(report: &serde_json::Value, category: &str, plugin: &str, name: &str) -> u64 {
    report[category]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["Name"] == plugin))
        .and_then(|row| row[name]["value"].as_u64())
        .unwrap_or_else(|| panic!("{category}/{plugin}/{name} missing in {report}"))
}

/// hekad with a DashboardOutput on `port` (ticker 1 s), a sandbox
/// injecting a payload every second, one that dies on its first timer
/// event, and the shipped heka_report.lua reading the all-report.
fn start(dir: &Path, port: u16) -> Daemon {
    std::fs::write(
        dir.join("producer.lua"),
        "local n = 0\n\
         function process_message() return 0 end\n\
         function timer_event(ns)\n\
             n = n + 1\n\
             inject_payload('txt', 'Injected Output', 'tick ' .. n)\n\
         end\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("doomed.lua"),
        "function process_message() return 0 end\n\
         function timer_event(ns) error('doomed on purpose') end\n",
    )
    .unwrap();
    let report_lua =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sandboxes/filters/heka_report.lua");
    let config = format!(
        r#"
[hekad]
base_dir = "{base}"
share_dir = "{base}/share"

[dash]
type = "DashboardOutput"
address = "127.0.0.1:{port}"
ticker_interval = 1

[dash.headers]
X-Dashboard-Test = "yes"

[producer]
type = "SandboxFilter"
filename = "{base}/producer.lua"
message_matcher = "Type == 'never'"
ticker_interval = 1

[doomed]
type = "SandboxFilter"
filename = "{base}/doomed.lua"
message_matcher = "Type == 'never'"
ticker_interval = 1

[reports]
type = "SandboxFilter"
filename = "{report_lua}"
message_matcher = "Type == 'heka.all-report'"
"#,
        base = dir.display(),
        report_lua = report_lua.display(),
    );
    Daemon::start(dir, &config, Some(port))
}

#[test]
fn dashboard_output_serves_reports_sandbox_outputs_and_terminations() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    // Left by an earlier run: emptied at start.
    std::fs::create_dir_all(tmp.path().join("dashboard/data")).unwrap();
    std::fs::write(tmp.path().join("dashboard/data/stale.txt"), "old").unwrap();
    let daemon = start(tmp.path(), port);

    let index = get(port, "/");
    assert_eq!(index.status, 200, "{}", daemon.log());
    assert!(index.body.contains("dasher.js"), "{}", index.body);
    assert_eq!(index.header("x-dashboard-test"), Some("yes"));
    assert!(
        index
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(get(port, "/dasher.js").status, 200);
    assert_eq!(get(port, "/data/stale.txt").status, 404);
    assert_eq!(request(port, "POST", "/").status, 405);
    let head = request(port, "HEAD", "/index.html");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // The report, and its counters growing from one tick to the next.
    let parse = |a: &Answer| serde_json::from_str::<serde_json::Value>(&a.body).ok();
    let first = wait_get(port, "/data/heka_report.json", &daemon, |a| {
        a.status == 200 && parse(a).is_some()
    });
    assert_eq!(first.header("x-dashboard-test"), Some("yes"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    let first = parse(&first).unwrap();
    for (category, plugin) in [
        ("outputs", "dash"),
        ("filters", "producer"),
        ("filters", "reports"),
    ] {
        let rows = first[category].as_array().unwrap();
        assert!(rows.iter().any(|r| r["Name"] == plugin), "{first}");
    }
    let before = metric(&first, "outputs", "dash", "ProcessMessageCount");
    let injected = metric(&first, "filters", "producer", "InjectMessageCount");
    wait_get(port, "/data/heka_report.json", &daemon, |a| {
        parse(a).is_some_and(|r| {
            metric(&r, "outputs", "dash", "ProcessMessageCount") > before
                && metric(&r, "filters", "producer", "InjectMessageCount") > injected
        })
    });

    // The producer's output (and that of heka_report.lua, which only
    // injects on heka.all-report: the report went through the router).
    let listed = wait_get(port, "/data/sandboxes.json", &daemon, |a| {
        a.body.contains("Injected Output") && a.body.contains("\"reports\"")
    });
    let listed: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    let sandboxes = listed["sandboxes"].as_array().unwrap();
    let producer = sandboxes.iter().find(|s| s["Name"] == "producer").unwrap();
    assert_eq!(producer["Outputs"][0]["Name"], "Injected Output");
    let file = producer["Outputs"][0]["Filename"].as_str().unwrap();
    assert_eq!(file, "data/producer.InjectedOutput.txt");
    let served = get(port, &format!("/{file}"));
    assert_eq!(served.status, 200);
    assert!(served.body.starts_with("tick "), "{}", served.body);
    let reports = sandboxes.iter().find(|s| s["Name"] == "reports").unwrap();
    let table = get(
        port,
        &format!("/{}", reports["Outputs"][0]["Filename"].as_str().unwrap()),
    );
    assert!(table.body.contains("producer"), "{}", table.body);

    let tsv = wait_get(port, "/data/heka_sandbox_termination.tsv", &daemon, |a| {
        a.status == 200
    });
    let line = tsv.body.lines().find(|l| l.contains("\tdoomed\t")).unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    assert!(fields[0].parse::<u64>().unwrap() > 1_700_000_000, "{line}");
    assert!(fields[2].contains("doomed on purpose"), "{line}");

    // Nothing outside the working directory, however it is spelled.
    for target in [
        "/../hekad.toml",
        "/../../Cargo.toml",
        "/data/../../hekad.toml",
        "/%2e%2e/hekad.toml",
        "/%2E%2E%2Fhekad.toml",
        "/data%2f..%2f..%2fhekad.toml",
        "/..%5chekad.toml",
        "/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/data/.heka_report.json.tmp",
    ] {
        let answer = get(port, target);
        assert!(
            answer.status == 403 || answer.status == 400,
            "{target}: {} {}",
            answer.status,
            answer.body
        );
        assert!(!answer.body.contains("DashboardOutput"), "{target}");
    }
}

/// Runs `chromium` with `args`, killed after `secs`; its stdout.
fn chromium(args: &[&str], secs: u64) -> String {
    let mut child = Command::new("chromium")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Debian's chromium is installed (apt-get install chromium)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
#[ignore = "needs Debian's chromium; .ci/run installs it and runs this test"]
fn dashboard_page_fills_its_plugin_table_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = start(tmp.path(), port);
    wait_get(port, "/data/sandboxes.json", &daemon, |a| {
        a.body.contains("Injected Output")
    });
    wait_get(port, "/data/heka_sandbox_termination.tsv", &daemon, |a| {
        a.status == 200
    });
    let profile = tmp.path().join("chromium-profile");
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let url = format!("http://127.0.0.1:{port}/");
    let dom = chromium(
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &profile_arg,
            "--virtual-time-budget=5000",
            "--dump-dom",
            &url,
        ],
        90,
    );
    // Only the script writes these: the page itself names no plugin.
    for cell in [
        "<td class=\"plugin\">dash</td>",
        "<td class=\"plugin\">producer</td>",
        "<td class=\"plugin\">Router</td>",
    ] {
        assert!(dom.contains(cell), "{cell} missing from:\n{dom}");
    }
    assert!(dom.contains("data-category=\"outputs\""), "{dom}");
    assert!(
        dom.contains("href=\"data/producer.InjectedOutput.txt\""),
        "{dom}"
    );
    assert!(dom.contains("doomed on purpose"), "{dom}");
    assert!(!dom.contains("Cannot read the dashboard data"), "{dom}");
}

#[test]
fn the_example_s_dashboard_block_checks_out_when_uncommented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("heka.toml.example")).unwrap();
    let mut inside = false;
    let config: Vec<String> = example
        .lines()
        .map(|line| {
            inside = (inside || line == "# [DashboardOutput]") && !line.is_empty();
            match line.strip_prefix("# ") {
                Some(text) if inside => text.to_owned(),
                _ => line.to_owned(),
            }
        })
        .collect();
    let config = config.join("\n");
    assert!(config.contains("\n[DashboardOutput]\n"), "{config}");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hekad.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hekad"))
        .current_dir(root)
        .arg(format!("-config={}", path.display()))
        .arg("-check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_busy_port_stops_hekad_naming_the_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let config = format!(
        "[hekad]\nbase_dir = \"{}\"\n\n[dash]\ntype = \"DashboardOutput\"\naddress = \"127.0.0.1:{port}\"\n",
        tmp.path().display()
    );
    let (status, log) = Daemon::start(tmp.path(), &config, None).wait(20);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("`dash`") && log.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{log}"
    );
}
