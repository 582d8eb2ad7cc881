//! A small HTTP/1.1 server on 127.0.0.1 for the HTTP plugin tests, written
//! on std::net (not the hyper hekad uses) so each side checks the other.
//! It answers one request per connection (`Connection: close`), and its
//! mode decides how: answer through the responder, fail with a status, or
//! stall (read the request, then say nothing until the client gives up).
//! Only requests answered 2xx are kept as received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Through the responder.
    Answer,
    /// With this status and a short body.
    Fail(u16),
    /// Not at all: hold the connection open for this long, then close.
    Stall(Duration),
}

/// Makes the answer to a request: status and body.
pub type Responder = Box<dyn Fn(&Request) -> (u16, Vec<u8>) + Send>;

struct State {
    mode: Mode,
    responder: Responder,
    received: Vec<Request>,
    attempts: usize,
}

/// A running server; stops when dropped.
pub struct Server {
    /// The port it listens on.
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server answering 200 with an empty body.
    pub fn start() -> Server {
        Server::with_responder(Box::new(|_| (200, Vec::new())))
    }

    /// Starts a server answering through `responder`.
    pub fn with_responder(responder: Responder) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Answer,
            responder,
            received: Vec::new(),
            attempts: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || accept_loop(listener, state, stop))
        };
        Server {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Changes how the next requests are answered.
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Requests answered 2xx so far.
    pub fn received(&self) -> Vec<Request> {
        self.state.lock().unwrap().received.clone()
    }

    /// Requests read so far, however they were answered.
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().attempts
    }

    /// Waits (bounded) until `done` holds for the received requests.
    pub fn wait_for(&self, secs: u64, done: impl Fn(&[Request]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if done(&self.received()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits (bounded) until at least `n` requests were read.
    pub fn wait_attempts(&self, n: usize, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.attempts() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let _ = serve(stream, &state, &stop);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn read_request(stream: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let Some(request) = read_request(&stream)? else {
        return Ok(());
    };
    let (status, body) = {
        let mut state = state.lock().unwrap();
        state.attempts += 1;
        match state.mode {
            Mode::Answer => {
                let (status, body) = (state.responder)(&request);
                if (200..300).contains(&status) {
                    state.received.push(request);
                }
                (status, body)
            }
            Mode::Fail(status) => (status, b"failing on purpose\n".to_vec()),
            Mode::Stall(time) => {
                drop(state);
                let until = Instant::now() + time;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return Ok(());
            }
        }
    };
    let head = format!(
        "HTTP/1.1 {status} Status\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}
