//! heka-flood's send loop: one blocking connection, whole cycles of
//! pre-made records per `write_all` (or one record per message interval),
//! exact counts, progress once a second, reconnects when asked.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::records::RecordSet;
use super::{FloodError, Options};
use crate::inject;

/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What a run sent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Whole messages written.
    pub messages: u64,
    /// Bytes written (framing included).
    pub bytes: u64,
    /// From the connection to the last write.
    pub elapsed: Duration,
}

impl std::fmt::Display for Summary {
    /// Heka's closing line, then the byte rate.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let bytes = self.bytes as f64;
        writeln!(
            f,
            "Sent {} messages. {:.2} msg/sec {:.2} Mbit/sec",
            self.messages,
            self.messages as f64 / secs,
            bytes * 8.0 / 1e6 / secs
        )?;
        write!(
            f,
            "{} bytes in {:.3} s: {:.2} MB/sec",
            self.bytes,
            secs,
            bytes / 1e6 / secs
        )
    }
}

/// Prints the send rate of the last interval, once per [`PROGRESS_EVERY`].
struct Meter {
    last: Instant,
    last_messages: u64,
}

impl Meter {
    fn tick(&mut self, summary: &Summary, out: &mut dyn Write) {
        let now = Instant::now();
        let span = now - self.last;
        if span < PROGRESS_EVERY {
            return;
        }
        let rate = (summary.messages - self.last_messages) as f64 / span.as_secs_f64();
        // Progress is best effort: a closed stderr must not stop the run.
        let _ = writeln!(
            out,
            "heka-flood: sent {} messages, {rate:.0} msg/sec",
            summary.messages
        );
        self.last = now;
        self.last_messages = summary.messages;
    }
}

/// Sends as `opts` says; progress and reconnect notices go to `progress`.
pub fn run(opts: &Options, progress: &mut dyn Write) -> Result<Summary, FloodError> {
    let set = RecordSet::build(&opts.profile)?;
    let mix = set.mix();
    let _ = writeln!(
        progress,
        "heka-flood: sending to {}: cycles of {} records, {} bytes \
         ({} signed, {} corrupt, {} oversized)",
        opts.address,
        set.len(),
        set.bytes().len(),
        mix.signed,
        mix.corrupt,
        mix.oversized
    );
    let mut stream = inject::connect(&opts.address).map_err(|source| FloodError::Connect {
        address: opts.address.clone(),
        source,
    })?;
    let start = Instant::now();
    let deadline = opts.duration.map(|d| start + d);
    let expired = || deadline.is_some_and(|d| Instant::now() >= d);
    let mut meter = Meter {
        last: start,
        last_messages: 0,
    };
    let mut summary = Summary::default();
    let cycle = set.len() as u64;
    let mut next = 0;
    loop {
        let left = match opts.num_messages {
            0 => u64::MAX,
            n => n - summary.messages,
        };
        if left == 0 || expired() {
            break;
        }
        let (chunk, n) = if !opts.message_interval.is_zero() {
            (set.record(next), 1)
        } else if left >= cycle {
            (set.bytes(), cycle)
        } else {
            (set.prefix(left as usize), left)
        };
        match stream.write_all(chunk) {
            Ok(()) => {
                summary.messages += n;
                summary.bytes += chunk.len() as u64;
                next = (next + 1) % set.len();
            }
            Err(source) => {
                let Some(pause) = opts.reconnect_interval else {
                    summary.elapsed = start.elapsed();
                    return Err(FloodError::Send {
                        address: opts.address.clone(),
                        source,
                        summary,
                    });
                };
                match reconnect(&opts.address, pause, source, progress, &expired) {
                    Some(s) => stream = s,
                    None => break,
                }
            }
        }
        if !opts.message_interval.is_zero() {
            let remaining = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            std::thread::sleep(opts.message_interval.min(remaining));
        }
        meter.tick(&summary, progress);
    }
    summary.elapsed = start.elapsed();
    // A clean close: the receiver sees the stream end on a record boundary.
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    Ok(summary)
}

/// After a failed send: reports it, then pauses and reconnects until that
/// works or `expired` says to stop (`None`).
fn reconnect(
    address: &str,
    pause: Duration,
    mut error: io::Error,
    progress: &mut dyn Write,
    expired: &dyn Fn() -> bool,
) -> Option<TcpStream> {
    loop {
        let _ = writeln!(
            progress,
            "heka-flood: send to {address} failed: {error}; reconnecting in {pause:?}"
        );
        std::thread::sleep(pause);
        if expired() {
            return None;
        }
        match inject::connect(address) {
            Ok(stream) => return Some(stream),
            Err(e) => error = e,
        }
    }
}
