//! hekad as a real child process: started on a config written to a temp
//! directory, waited for until its TcpInput accepts connections, signalled
//! with `kill`, and always reaped. Its stderr goes to a file the test reads.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running hekad.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Writes `config` to `dir/hekad.toml` and starts hekad on it; returns
    /// once `wait_port` accepts connections (when given).
    pub fn start(dir: &Path, config: &str, wait_port: Option<u16>) -> Daemon {
        Daemon::start_command(
            dir,
            config,
            wait_port,
            Command::new(env!("CARGO_BIN_EXE_hekad")),
        )
    }

    /// [`Daemon::start`] with at most `files` open file descriptors (the
    /// shell's `ulimit -n`, then `exec`, so the pid is hekad's).
    pub fn start_with_file_limit(
        dir: &Path,
        config: &str,
        wait_port: Option<u16>,
        files: u32,
    ) -> Daemon {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_hekad"));
        Daemon::start_command(dir, config, wait_port, cmd)
    }

    fn start_command(dir: &Path, config: &str, wait_port: Option<u16>, mut cmd: Command) -> Daemon {
        let path = dir.join("hekad.toml");
        std::fs::write(&path, config).unwrap();
        let log = dir.join("hekad.log");
        let child = cmd
            .arg(format!("-config={}", path.display()))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("hekad.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("hekad starts");
        let daemon = Daemon {
            child: Some(child),
            log,
        };
        if let Some(port) = wait_port {
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "hekad never listened:\n{}",
                    daemon.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        daemon
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal (`TERM`, `USR1`, `HUP`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Everything hekad wrote to stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits (bounded) until the log contains `text`.
    pub fn wait_for_log(&self, text: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// CPU time used so far (user + system), in clock ticks, from /proc.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th of the whole line.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// Waits for hekad to exit (killing it after `secs`); returns its status
    /// and its stderr.
    pub fn wait(mut self, secs: u64) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hekad did not exit within {secs} s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
