//! A TCP peer on 127.0.0.1 standing in for the end of a forwarding chain:
//! it accepts any number of connections (a TcpOutput reconnects), reads
//! each to its end on its own thread, and collects the payload of every
//! framed Heka message (a log line's newline removed), duplicates included. Everything stops when the
//! collector is dropped; every wait is bounded.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hekad::proto::MessageView;
use hekad::proto::deframer::{Deframer, Event};
use hekad::proto::framing::DEFAULT_MAX_MESSAGE_SIZE;

/// Payloads received so far, in arrival order per connection.
pub type Payloads = Arc<Mutex<Vec<String>>>;

/// A listening collector.
pub struct Collector {
    /// Its port on 127.0.0.1.
    pub port: u16,
    payloads: Payloads,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Collector {
    /// Listens on a fresh port.
    pub fn new() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let payloads = Payloads::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&payloads), Arc::clone(&stop));
        let acceptor = thread::spawn(move || {
            let mut readers = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (p, s) = (Arc::clone(&p), Arc::clone(&s));
                        readers.push(thread::spawn(move || read_all(stream, &p, &s)));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            for reader in readers {
                let _ = reader.join();
            }
        });
        Collector {
            port,
            payloads,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// A copy of every payload received so far.
    pub fn payloads(&self) -> Vec<String> {
        self.payloads.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until `done` holds for the payloads received.
    pub fn wait_until(&self, secs: u64, done: impl Fn(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if done(&self.payloads.lock().unwrap()) {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Reads `stream` to its end (or the collector's stop), collecting
/// payloads.
fn read_all(mut stream: TcpStream, payloads: &Payloads, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
    let mut buf = BytesMut::new();
    let mut chunk = vec![0; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(120);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        let mut got = Vec::new();
        while let Some(event) = deframer.next(&mut buf) {
            if let Event::Record(record) = event {
                let view = MessageView::decode(record.message).expect("a Heka message");
                let payload = String::from_utf8_lossy(view.payload());
                got.push(payload.trim_end_matches('\n').to_owned());
            }
        }
        payloads.lock().unwrap().extend(got);
    }
}

/// Reads a connection that was left unread until its end (the peer
/// gone), collecting payloads: what the peer had written before it died.
pub fn drain(stream: TcpStream) -> Vec<String> {
    let payloads = Payloads::default();
    read_all(stream, &payloads, &AtomicBool::new(false));
    payloads.lock().unwrap().clone()
}
