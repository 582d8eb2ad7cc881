//! heka.toml.example runs as shipped: its nginx pipeline reads the sample
//! access log in the repo, and what it writes agrees with the log itself.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, free_port};
use crate::support::{heka_cat, text};

/// The example with its state, outputs and port moved into `dir`.
fn example_in(dir: &Path, port: u16) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = std::fs::read_to_string(Path::new(root).join("heka.toml.example")).unwrap();
    let moved = example
        .replace("target/heka-example", &dir.display().to_string())
        .replace("127.0.0.1:5565", &format!("127.0.0.1:{port}"));
    assert_ne!(moved, example);
    moved
}

/// Requests per (minute, status class) in the sample log, counted here.
fn expected() -> BTreeMap<(u32, u32), u32> {
    let root = env!("CARGO_MANIFEST_DIR");
    let log = std::fs::read_to_string(Path::new(root).join("tests/data/nginx/access.log")).unwrap();
    let mut counts = BTreeMap::new();
    for line in log.lines() {
        let time = line.split('[').nth(1).unwrap();
        let minute: u32 = time.split(':').nth(2).unwrap().parse().unwrap();
        let status = line.split("\" ").nth(1).unwrap();
        let class: u32 = status[..1].parse().unwrap();
        *counts.entry((minute, class)).or_insert(0) += 1;
    }
    counts
}

#[test]
fn the_example_reads_the_sample_nginx_log_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = Daemon::start(dir.path(), &example_in(dir.path(), port), Some(port));
    let lines = expected().values().sum::<u32>();
    let out = dir.path().join("nginx.heka");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let count = if out.exists() {
            text(&heka_cat(&["-format=count", out.to_str().unwrap()]).stdout)
        } else {
            String::new()
        };
        if count.trim() == lines.to_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{count} of {lines}:\n{}",
            daemon.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    // The status filter's circular buffer, printed by sandbox_log.
    let stdout = dir.path().join("hekad.out");
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let printed = std::fs::read_to_string(&stdout).unwrap_or_default();
        let rows: Vec<Vec<String>> = printed
            .lines()
            .filter(|l| l.contains('\t') && !l.contains("nan\tnan\tnan\tnan\tnan"))
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect();
        if rows.len() >= 5 {
            break rows[rows.len() - 5..].to_vec();
        }
        assert!(Instant::now() < deadline, "no cbuf rows:\n{printed}");
        thread::sleep(Duration::from_millis(200));
    };
    let want = expected();
    for (minute, row) in rows.iter().enumerate() {
        for class in 2..=5u32 {
            let got = &row[class as usize - 1];
            let n = want.get(&(minute as u32, class)).copied().unwrap_or(0);
            let shown = if n == 0 {
                "nan".to_owned()
            } else {
                n.to_string()
            };
            assert_eq!(got, &shown, "minute {minute}, {class}xx: {row:?}");
        }
    }
    daemon.signal("TERM");
    let (status, log) = daemon.wait(20);
    assert!(status.success(), "{log}");
    let routed = format!("Input nginx_access_log routed {lines} messages and dropped 0.");
    assert!(log.contains(&routed), "{log}");
}
