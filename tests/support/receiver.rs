//! A one-connection TCP receiver on 127.0.0.1 for the tools that send
//! (heka-inject, heka-flood): it runs the tool, reads everything it sends
//! until it closes, and cuts the bytes into framing events. Every wait is
//! bounded and the child is always reaped (killed if it overstays).

use std::io::{ErrorKind, Read};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hekad::proto::deframer::{Authentication, Deframer, Event};
use hekad::proto::reader::Reader;
use hekad::proto::signing::Signers;

/// How long a tool may take to connect, send and exit.
const DEADLINE: Duration = Duration::from_secs(20);

/// What one run of a sending tool produced.
pub struct Run {
    /// Everything received on the connection (empty if none was made).
    pub bytes: Vec<u8>,
    /// The tool's exit status and output.
    pub output: Output,
    /// The tool's process id.
    pub pid: u32,
}

/// A listening socket on an ephemeral port of 127.0.0.1.
pub struct Receiver {
    listener: TcpListener,
    /// `127.0.0.1:PORT`, for the tool's command line.
    pub address: String,
}

impl Receiver {
    /// Listens on a fresh port.
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        Receiver { listener, address }
    }

    /// Runs `cmd`, receives its connection to the end, and waits for it.
    pub fn run(&self, cmd: &mut Command) -> Run {
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tool starts");
        // Read the pipes on threads, so a chatty child never blocks on them.
        let mut out_pipe = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let stdout = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out_pipe.read_to_end(&mut v);
            v
        });
        let stderr = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err_pipe.read_to_end(&mut v);
            v
        });
        let mut bytes = Vec::new();
        let mut read_error = None;
        let mut exited = false;
        while start.elapsed() < DEADLINE {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(DEADLINE)).unwrap();
                    read_error = stream.read_to_end(&mut bytes).err();
                    break;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // One more accept after the child exits: its connection
                    // may still wait in the backlog.
                    if exited {
                        break;
                    }
                    exited = child.try_wait().unwrap().is_some();
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > DEADLINE || read_error.is_some() {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            thread::sleep(Duration::from_millis(5));
        };
        // Only now, with the child gone, may the test fail.
        assert!(
            read_error.is_none(),
            "reading the tool's stream: {read_error:?}"
        );
        Run {
            bytes,
            pid: child.id(),
            output: Output {
                status,
                stdout: stdout.join().unwrap(),
                stderr: stderr.join().unwrap(),
            },
        }
    }
}

/// The framing events in `bytes`, read with messages up to `max` bytes and
/// signatures checked against `keys` (not checked when `None`).
pub fn events(bytes: &[u8], max: usize, keys: Option<Signers>) -> Vec<Event> {
    let auth = keys.map_or(Authentication::Skip, |k| {
        Authentication::Verify(Arc::new(k))
    });
    let mut reader = Reader::new(bytes, Deframer::new(max).with_authentication(auth));
    let mut out = Vec::new();
    while let Some(event) = reader.next_event().unwrap() {
        out.push(event);
    }
    out.extend(std::iter::from_fn(|| reader.finish()));
    out
}
