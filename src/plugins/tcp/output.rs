//! TcpOutput: the end of a pipeline branch that ships records to another
//! hekad (or anything reading Heka streams). Its OutputRunner encodes each
//! matched pack, framing it when the encoder is the ProtobufEncoder (the
//! receiving TcpInput's default splitter expects frames), and this output
//! writes the batch to one TCP connection, reconnecting as needed.
//!
//! Delivery is at least once, as far as TCP lets a sender know:
//! - The output remembers how far into the current batch it got. On a
//!   connect or write error it drops the connection and answers
//!   [`PluginError::Retry`]; the runner waits and calls again with the same
//!   batch, and the output reconnects and resumes at the start of the first
//!   record not wholly written. A record cut by the failure is sent again
//!   from its start, so a receiver may see it twice, but never loses it.
//! - Before writing on an existing connection it checks whether the peer
//!   has closed it (Heka receivers never send, so a readable end of stream
//!   means closed); without that check the first write after a peer's close
//!   succeeds locally and its bytes vanish.
//! - Over TLS the same holds, with "written" meaning "flushed out of rustls
//!   into the kernel": TLS writes go out in chunks of [`TLS_CHUNK`] bytes,
//!   each flushed before it counts, so a failure resends at most one chunk
//!   plus the record it cut. The peer-closed check cannot just peek at the
//!   socket there, since a TLS server does send (TLS 1.3 session tickets,
//!   a close_notify alert before its FIN), and unread bytes in front of the
//!   end of stream would hide the close. Instead it reads whatever the
//!   socket holds, straight from the file descriptor like the peek, into
//!   the rustls session, which handles tickets and key updates; an end of
//!   stream, a close_notify or a TLS error means closed, and application
//!   data (which Heka receivers never send) is discarded. Closing over TLS
//!   sends close_notify and FIN, then reads and drops what the peer still
//!   sends until it closes too (at most [`TLS_LINGER`]): closing a socket
//!   with unread bytes (those tickets) makes the kernel reset the
//!   connection, which can cost the peer records it has not read yet.
//! - What TCP cannot tell: bytes the local kernel accepted just before the
//!   peer reset the connection are lost without an error. Heka's protocol
//!   has no acknowledgements; by default neither has this output.
//! - With `require_acks = true` (ours, for a hekad TcpInput with
//!   `acknowledge = true`; `output/acks.rs`) a batch counts as delivered
//!   only once the receiver acknowledged every record of it: `write`
//!   returns Ok then, so the packs (and the acknowledgements upstream of
//!   them: a Logstreamer journal, a disk queue's cursor) are released only
//!   for records durable at the receiver. A failure resumes at the first
//!   record not acknowledged rather than the first not written. Waits are
//!   bounded by `ack_timeout` (default [`DEFAULT_ACK_TIMEOUT`]) without
//!   progress, after which the connection is dropped and what it did not
//!   acknowledge is sent again; a peer that does not greet in the protocol
//!   is a Fatal error naming the missing `acknowledge = true`.
//! - Connection refused (at start or later) is a Retry, never fatal.
//!
//! Back-pressure: a peer that stops reading blocks the write, which pauses
//! the runner. As in Heka, this output is disk-buffered unless the config
//! says `use_buffering = false` (defaults: `max_file_size` 128 MiB,
//! `cursor_update_count` 50; see `heka_actors::queue`), so a stalled peer
//! fills the queue, not the router; unbuffered, it holds back the router.
//!
//! TLS: `use_tls = true` wraps each connection in a rustls client
//! handshake (inside the connect timeout), configured by the `tls` table
//! (see [`super::tls`]: `root_cafile` is required unless
//! `insecure_skip_verify`, and the server name defaults to the host part
//! of `address`). A failed handshake is a Retry like a refused connection.
//! Without `use_tls` the `tls` table is checked for unknown keys and
//! otherwise unused.
//!
//! Layout: this file is the plugin (its options, batches, resuming and
//! reconnecting); `output/conn.rs` is the connection it writes to (plain
//! or TLS: connecting, the peer-closed check, chunked flushing, closing).

use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use serde::Deserialize;

use super::tls::{TlsClient, TlsConfig};

mod acks;
mod conn;

use acks::{Acks, Broken, first_unacked};
use conn::Conn;

/// Where records go when `address` is not set.
pub const DEFAULT_ADDRESS: &str = "localhost:9125";
/// Idle seconds before TCP keep-alive probes when `keep_alive_period` is
/// not set.
pub const DEFAULT_KEEP_ALIVE_PERIOD: u64 = 7200;
/// How long one connection attempt (with its TLS handshake) may take
/// before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Over TLS, bytes written between flushes: the most a failed write can
/// make the output resend beyond the record it cut.
pub const TLS_CHUNK: usize = 64 * 1024;
/// Over TLS, how long closing waits for the peer to close its side.
pub const TLS_LINGER: Duration = Duration::from_secs(2);
/// With `require_acks`, how long a write waits without acknowledgement
/// progress when `ack_timeout` is not set.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// TcpOutput's own options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpOutputConfig {
    /// `host:port` to connect to (default "localhost:9125").
    #[serde(default = "default_address")]
    pub address: String,
    /// Local `ip:port` (or bare ip) to bind before connecting.
    #[serde(default)]
    pub local_address: Option<String>,
    /// Enable TCP keep-alive (default false).
    #[serde(default)]
    pub keep_alive: bool,
    /// Idle seconds before keep-alive probes (default 7200; 0 = OS default).
    #[serde(default = "default_keep_alive_period")]
    pub keep_alive_period: u64,
    /// Reconnect after this many records (default 0 = never).
    #[serde(default)]
    pub reconnect_after: u64,
    /// Connect with TLS, configured by `tls` (default false).
    #[serde(default)]
    pub use_tls: bool,
    /// Heka's `[<name>.tls]` table (used when `use_tls`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Never filled from a config: the runtime takes `[name.buffering]`
    /// (see `heka_actors::queue`); kept so older callers still build.
    #[serde(default)]
    pub buffering: Option<toml::Table>,
    /// Ours: a batch is delivered only once the receiving hekad (TcpInput
    /// with `acknowledge = true`) acknowledged it (default false).
    #[serde(default)]
    pub require_acks: bool,
    /// Ours: with `require_acks`, the longest a write waits without
    /// acknowledgement progress before reconnecting, a Go duration string
    /// (default "30s").
    #[serde(default)]
    pub ack_timeout: Option<String>,
}

fn default_address() -> String {
    DEFAULT_ADDRESS.into()
}
fn default_keep_alive_period() -> u64 {
    DEFAULT_KEEP_ALIVE_PERIOD
}

/// Sends encoded records over one TCP connection.
#[derive(Debug)]
pub struct TcpOutput {
    address: String,
    local_address: Option<SocketAddr>,
    keep_alive: Option<Option<Duration>>,
    reconnect_after: u64,
    /// Set when `use_tls`.
    tls: Option<TlsClient>,
    conn: Option<Conn>,
    /// Records written on the current connection (for `reconnect_after`).
    since_connect: u64,
    /// The batch a Retry interrupted and the record to resume it at.
    resume: Option<usize>,
    /// Whether the last attempt failed (log the outage once, not per retry).
    failing: bool,
    /// With `require_acks`: the wait without progress allowed.
    ack_timeout: Option<Duration>,
    /// With `require_acks`: the open connection's acknowledgement state.
    acks: Option<Acks>,
}

/// The index of the first record not wholly inside the first `written`
/// bytes of a batch whose records end at `ends`: where a resumed write
/// starts (a record cut short is sent again from its start).
pub fn resume_index(ends: &[usize], written: usize) -> usize {
    ends.partition_point(|&end| end <= written)
}

fn record_start(ends: &[usize], index: usize) -> usize {
    index.checked_sub(1).map_or(0, |prev| ends[prev])
}

fn parse_local(text: &str) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    text.to_socket_addrs().ok()?.next()
}

impl TcpOutput {
    /// Checks `config`; the connection is made by the first write.
    pub fn new(spec: &PluginSpec, config: &TcpOutputConfig) -> Result<TcpOutput, BuildError> {
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
        let local_address = match &config.local_address {
            None => None,
            Some(text) => Some(parse_local(text).ok_or_else(|| {
                BuildError::invalid(spec, format!("`local_address` {text:?} is not an address"))
            })?),
        };
        let period =
            (config.keep_alive_period > 0).then(|| Duration::from_secs(config.keep_alive_period));
        let tls = match config.use_tls {
            false => None,
            true => Some(
                config
                    .tls
                    .clone()
                    .unwrap_or_default()
                    .connector(spec, &config.address)?,
            ),
        };
        let ack_timeout = match (&config.ack_timeout, config.require_acks) {
            (_, false) => None,
            (None, true) => Some(DEFAULT_ACK_TIMEOUT),
            (Some(text), true) => Some(
                heka_actors::config::parse_duration(text)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        BuildError::invalid(
                            spec,
                            format!("`ack_timeout` {text:?} is not a positive duration"),
                        )
                    })?,
            ),
        };
        Ok(TcpOutput {
            ack_timeout,
            acks: None,
            address: config.address.clone(),
            local_address,
            keep_alive: config.keep_alive.then_some(period),
            reconnect_after: config.reconnect_after,
            tls,
            conn: None,
            since_connect: 0,
            resume: None,
            failing: false,
        })
    }

    /// Makes sure a live connection is open (greeted, with `require_acks`).
    async fn ensure_connected(&mut self) -> Result<(), Broken> {
        // An acknowledging peer sends, so peeking cannot tell its close;
        // the acknowledgement wait after the write sees it instead.
        if self.ack_timeout.is_none() && self.conn.as_mut().is_some_and(Conn::peer_closed) {
            tracing::debug!(address = %self.address, "Peer closed the connection; reconnecting.");
            self.conn = None;
        }
        if self.conn.is_none() {
            let connect = Conn::open(
                &self.address,
                self.local_address,
                self.keep_alive,
                self.tls.as_ref(),
            );
            let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| io::Error::new(ErrorKind::TimedOut, "connect timed out"))??;
            if let Some(timeout) = self.ack_timeout {
                self.acks = Some(Acks::greet(&mut stream, timeout, &self.address).await?);
            }
            self.conn = Some(stream);
            self.since_connect = 0;
        }
        Ok(())
    }

    fn fail(&mut self, next: usize, doing: &str, err: io::Error) -> PluginError {
        self.conn = None;
        self.resume = Some(next);
        if !self.failing {
            self.failing = true;
            tracing::warn!(address = %self.address, error = %err, "TcpOutput {doing} failed; retrying.");
        }
        PluginError::retry(format!("{doing} {}: {err}", self.address))
    }

    async fn write_batch(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        // A Retry call carries the same batch: resume where it broke off.
        let mut next = match self.resume.take() {
            Some(index) if batch.attempt > 0 => index,
            _ => 0,
        };
        while next < batch.len() {
            match self.ensure_connected().await {
                Ok(()) => {}
                Err(Broken::Io(err)) => return Err(self.fail(next, "connecting to", err)),
                Err(Broken::Peer(text)) => {
                    self.conn = None;
                    self.resume = Some(next);
                    return Err(PluginError::fatal(text));
                }
            }
            // Records for this connection: all, or up to `reconnect_after`.
            let last = match self.reconnect_after {
                0 => batch.len(),
                limit => {
                    let room = limit.saturating_sub(self.since_connect).max(1);
                    batch.len().min(next.saturating_add(room as usize))
                }
            };
            let start = record_start(&batch.ends, next);
            let end = batch.ends[last - 1];
            let conn = self.conn.as_mut().expect("connected above");
            let at = self.acks.as_ref().map_or(0, |acks| acks.sent);
            let (written, result) = conn.write_counted(&batch.data[start..end]).await;
            // With acknowledgements, resume at the first record the peer
            // did not acknowledge, else at the first not wholly written.
            let unacked =
                |acks: &Acks| first_unacked(&batch.ends, next, last, start, at, acks.acked());
            if let Err(err) = result {
                let resume = match &self.acks {
                    Some(acks) => unacked(acks),
                    None => resume_index(&batch.ends, start + written),
                };
                return Err(self.fail(resume, "writing to", err));
            }
            if let Some(acks) = self.acks.as_mut() {
                acks.sent += written as u64;
                if let Err(broken) = acks.settle(conn).await {
                    let resume = unacked(acks);
                    let err = match broken {
                        Broken::Io(err) => err,
                        Broken::Peer(text) => io::Error::new(ErrorKind::InvalidData, text),
                    };
                    return Err(self.fail(resume, "awaiting acknowledgements from", err));
                }
            }
            if self.failing {
                self.failing = false;
                tracing::info!(address = %self.address, "TcpOutput connection restored.");
            }
            self.since_connect += (last - next) as u64;
            next = last;
            if self.reconnect_after > 0 && self.since_connect >= self.reconnect_after {
                self.disconnect().await;
            }
        }
        Ok(())
    }

    /// Closes the connection gracefully (close_notify for TLS, then FIN
    /// after the data sent so far).
    async fn disconnect(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.shutdown(self.acks.take().is_some()).await;
        }
    }
}

impl Output for TcpOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(self.write_batch(batch))
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        Box::pin(async move {
            self.disconnect().await;
            Ok(())
        })
    }

    fn frames_protobuf_by_default(&self) -> bool {
        true
    }

    fn default_buffering(&self) -> Option<heka_actors::config::Buffering> {
        Some(heka_actors::config::Buffering {
            max_file_size: 128 << 20,
            cursor_update_count: 50,
            ..Default::default()
        })
    }
}

/// Builds a TcpOutput from its spec.
pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
    let config: TcpOutputConfig = crate::plugins::options(spec)?;
    Ok(Box::new(TcpOutput::new(spec, &config)?))
}

#[cfg(test)]
mod tests;
