//! CarbonOutput: the end of the statsd branch. It takes matched stat metric
//! messages (usually `message_matcher = "Type == 'heka.statmetric'"`),
//! extracts their graphite lines ([`lines`]) and writes them to a carbon
//! daemon's plaintext port at `address` ("localhost:2003") over `protocol`
//! "tcp" (default) or "udp". It needs no encoder.
//!
//! Delivery, never losing a batch silently:
//! - TCP: without `tcp_keep_alive` (Heka's default) each batch gets its own
//!   connection, closed after the write, as Heka opened one per message;
//!   with it one connection is kept, checked before each write for a close
//!   by the peer (carbon never sends, so a readable end of stream means
//!   closed), and replaced after any failure. A refused connection or a
//!   failed write answers [`PluginError::Retry`]: the runner calls again
//!   with the same batch after a back-off (10 ms doubling to 1 s) and the
//!   output resumes at the first line not wholly written, on a new
//!   connection. Carbon takes a repeated line (same name and time) as the
//!   same point, so a line cut by a failure and sent again does no harm.
//! - UDP: lines go in datagrams of at most [`UDP_CHUNK`] bytes (62 KiB, as
//!   Heka cut them), split between lines; a send the system refuses is a
//!   Retry from the datagram that failed.
//! - Malformed lines are dropped, logged and counted in the report figure
//!   `MalformedLines`, as Heka logged them.
//! - A carbon that stops reading blocks the write, which holds back the
//!   router: the back-pressure of an output without buffering.

pub mod lines;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use heka_actors::report::Metric;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

/// Where lines go when `address` is not set (Heka's default).
pub const DEFAULT_ADDRESS: &str = "localhost:2003";
/// Largest UDP datagram of lines (Heka's 62 KiB).
pub const UDP_CHUNK: usize = 63488;
/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Report figure: lines (or fields) dropped as malformed.
pub const FIGURE_MALFORMED: &str = "MalformedLines";

/// CarbonOutput's options (Heka's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonOutputConfig {
    /// Carbon's plaintext `host:port`.
    #[serde(default = "default_address")]
    pub address: String,
    /// "tcp" (default) or "udp".
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// Keep one TCP connection open across batches (default false).
    #[serde(default)]
    pub tcp_keep_alive: bool,
}

fn default_address() -> String {
    DEFAULT_ADDRESS.into()
}
fn default_protocol() -> String {
    "tcp".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tcp,
    Udp,
}

/// One batch's lines, kept across Retry calls.
#[derive(Debug, Default)]
struct Pending {
    text: String,
    /// End offset of each line in `text`.
    ends: Vec<usize>,
    /// Bytes of `text` already delivered.
    done: usize,
}

/// Heka's CarbonOutput.
pub struct CarbonOutput {
    address: String,
    protocol: Protocol,
    keep_alive: bool,
    tcp: Option<TcpStream>,
    udp: Option<UdpSocket>,
    pending: Option<Pending>,
    malformed: u64,
    /// Whether the last attempt failed (log an outage once, not per retry).
    failing: bool,
}

impl CarbonOutput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
        let config: CarbonOutputConfig = crate::plugins::options(spec)?;
        Ok(Box::new(Self::new(spec, config)?))
    }

    /// Checks the options; connections are made by the first write.
    pub fn new(spec: &PluginSpec, config: CarbonOutputConfig) -> Result<Self, BuildError> {
        let protocol = match config.protocol.as_str() {
            "" | "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => {
                return Err(BuildError::invalid(
                    spec,
                    format!("{other:?} is not a supported protocol, must be \"tcp\" or \"udp\""),
                ));
            }
        };
        let has_port = config
            .address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !has_port {
            return Err(BuildError::invalid(
                spec,
                format!("`address` must be host:port, got {:?}", config.address),
            ));
        }
        Ok(CarbonOutput {
            address: config.address,
            protocol,
            keep_alive: config.tcp_keep_alive,
            tcp: None,
            udp: None,
            pending: None,
            malformed: 0,
            failing: false,
        })
    }

    /// The batch's lines: extracted on its first attempt, kept for retries.
    fn pending(&mut self, batch: &EncodedBatch) -> Pending {
        if batch.attempt > 0 {
            if let Some(p) = self.pending.take() {
                return p;
            }
        }
        let mut p = Pending::default();
        for pack in &batch.packs {
            for bad in lines::extract(&pack.message, &mut p.text, &mut p.ends) {
                self.malformed += 1;
                tracing::warn!(address = %self.address, line = %bad, "Malformed statmetric line dropped.");
            }
        }
        p
    }

    fn fail(&mut self, pending: Pending, doing: &str, err: io::Error) -> PluginError {
        self.tcp = None;
        self.udp = None;
        self.pending = Some(pending);
        if !self.failing {
            self.failing = true;
            tracing::warn!(address = %self.address, error = %err, "CarbonOutput {doing} failed; retrying.");
        }
        PluginError::retry(format!("{doing} {}: {err}", self.address))
    }

    async fn write_batch(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        let mut p = self.pending(batch);
        if p.done < p.text.len() {
            let result = match self.protocol {
                Protocol::Tcp => self.send_tcp(&mut p).await,
                Protocol::Udp => self.send_udp(&mut p).await,
            };
            if let Err((doing, err)) = result {
                return Err(self.fail(p, doing, err));
            }
        }
        if self.failing {
            self.failing = false;
            tracing::info!(address = %self.address, "CarbonOutput delivering again.");
        }
        Ok(())
    }

    async fn connect(&self) -> io::Result<TcpStream> {
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
    }

    async fn send_tcp(&mut self, p: &mut Pending) -> Result<(), (&'static str, io::Error)> {
        if self.tcp.as_ref().is_some_and(peer_closed) {
            tracing::debug!(address = %self.address, "Carbon closed the connection; reconnecting.");
            self.tcp = None;
        }
        let mut stream = match self.tcp.take() {
            Some(stream) => stream,
            None => self.connect().await.map_err(|e| ("connecting to", e))?,
        };
        while p.done < p.text.len() {
            match stream.write(&p.text.as_bytes()[p.done..]).await {
                Ok(0) => {
                    let err = io::Error::new(io::ErrorKind::WriteZero, "wrote nothing");
                    return Err(("writing to", rewind(p, err)));
                }
                Ok(n) => p.done += n,
                Err(err) => return Err(("writing to", rewind(p, err))),
            }
        }
        if self.keep_alive {
            self.tcp = Some(stream);
        } else {
            // The whole batch is in the kernel; send our FIN after it.
            let _ = stream.shutdown().await;
        }
        Ok(())
    }

    async fn send_udp(&mut self, p: &mut Pending) -> Result<(), (&'static str, io::Error)> {
        if self.udp.is_none() {
            self.udp = Some(self.udp_socket().await.map_err(|e| ("connecting to", e))?);
        }
        let socket = self.udp.as_ref().expect("made above");
        while p.done < p.text.len() {
            let end = chunk_end(&p.ends, p.done);
            if end == p.done {
                // One line longer than a datagram can carry.
                let next = p.ends.partition_point(|&e| e <= p.done);
                let skip = p.ends.get(next).copied().unwrap_or(p.text.len());
                self.malformed += 1;
                tracing::warn!(address = %self.address, bytes = skip - p.done, "Line too long for a UDP datagram; dropped.");
                p.done = skip;
                continue;
            }
            socket
                .send(&p.text.as_bytes()[p.done..end])
                .await
                .map_err(|e| ("sending to", e))?;
            p.done = end;
        }
        Ok(())
    }

    async fn udp_socket(&self) -> io::Result<UdpSocket> {
        let peer = crate::plugins::udp::net::resolve_async(
            &self.address,
            crate::plugins::udp::net::Net::Udp,
        )
        .await?;
        let local: IpAddr = match peer {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let socket = UdpSocket::bind(SocketAddr::new(local, 0)).await?;
        socket.connect(peer).await?;
        Ok(socket)
    }
}

/// Moves `done` back to the start of the line a failed write cut, so the
/// line goes again whole on the next connection.
fn rewind(p: &mut Pending, err: io::Error) -> io::Error {
    let whole = p.ends.partition_point(|&end| end <= p.done);
    p.done = whole.checked_sub(1).map_or(0, |i| p.ends[i]);
    err
}

/// Where the datagram starting at `start` ends: after the last line that
/// fits in [`UDP_CHUNK`] bytes (`start` when not even one fits).
fn chunk_end(ends: &[usize], start: usize) -> usize {
    let first = ends.partition_point(|&e| e <= start);
    let fits = ends[first..].partition_point(|&e| e - start <= UDP_CHUNK);
    match fits {
        0 => start,
        n => ends[first + n - 1],
    }
}

/// Whether the peer of an idle connection has closed it.
fn peer_closed(stream: &TcpStream) -> bool {
    let mut scratch = [0u8; 256];
    loop {
        match stream.try_read(&mut scratch) {
            Ok(0) => return true,
            // Carbon does not talk back; discard whatever it sent.
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

impl Output for CarbonOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(self.write_batch(batch))
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        Box::pin(async move {
            if let Some(mut stream) = self.tcp.take() {
                let _ = stream.shutdown().await;
            }
            Ok(())
        })
    }

    fn needs_encoder(&self) -> bool {
        false
    }

    fn report_fields(&self) -> Vec<Metric> {
        vec![(FIGURE_MALFORMED, self.malformed, "count")]
    }
}

#[cfg(test)]
mod tests;
