//! TcpInput: the start of the pipeline for network streams. It listens on
//! `address`, and gives each accepted connection its own splitter and
//! decoder instance through a `StreamSink`, which routes records as they
//! complete and stops reading while the pipeline is full, so TCP slows the
//! sender instead of hekad buffering without bound. At most
//! `max_connections` (ours, default 1024) are served at once; more wait in
//! the kernel's backlog, and an accept error (out of file descriptors)
//! pauses accepting for [`ACCEPT_BACKOFF`] instead of spinning.
//!
//! With `use_tls = true` each accepted connection first does a rustls
//! server handshake (configured by the `[<name>.tls]` table, see
//! [`super::tls`]; the acceptor is built, and its files loaded, when the
//! plugin is built). A handshake that fails or takes longer than
//! [`HANDSHAKE_TIMEOUT`] is logged with the peer and drops that connection
//! only; the listener goes on. At the end of a stream the input answers
//! with its own close_notify. A client that closes its TCP connection
//! without TLS's close_notify ends its stream like a plain TCP close (only
//! whole records are routed either way) and is logged at debug level.
//!
//! With `acknowledge = true` (ours, beyond Heka) each connection also
//! tells its sender which records every destination here handled, in
//! hekad's acknowledgement protocol ([`super::ack`], `input/acked.rs`),
//! for a sending TcpOutput with `require_acks = true`.

use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, StreamDefaults,
};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use super::tls::TlsConfig;

mod acked;

/// How long a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default `max_connections` (ours).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How long accepting pauses after an accept error. Errors such as running
/// out of file descriptors repeat at once until a connection ends; retrying
/// immediately would spin a core and flood the log.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// TcpInput's options (Heka's names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpInputConfig {
    /// Address to listen on, `host:port`.
    pub address: String,
    /// `tcp`, `tcp4` or `tcp6`.
    #[serde(default = "default_net")]
    pub net: String,
    /// Accept TLS connections, configured by `tls` (default false).
    #[serde(default)]
    pub use_tls: bool,
    /// Heka's `[<name>.tls]` table (used when `use_tls`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Enable TCP keep-alive on accepted connections.
    #[serde(default)]
    pub keep_alive: bool,
    /// Keep-alive period in seconds.
    #[serde(default = "default_keep_alive_period")]
    pub keep_alive_period: u64,
    /// Ours: acknowledge records once handled, for senders with
    /// `require_acks = true` (default false: never send, like Heka).
    #[serde(default)]
    pub acknowledge: bool,
    /// Ours, not Heka's: the most connections served at once (0: no limit).
    /// Past it new connections wait in the kernel's listen backlog until
    /// one ends, so the read buffers of a flood of connections (each may
    /// hold up to one record) cannot grow hekad's memory without bound.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

fn default_net() -> String {
    "tcp".into()
}

fn default_keep_alive_period() -> u64 {
    7200
}

/// Heka's TcpInput: accepts connections and runs each through its own
/// splitter (default HekaFramingSplitter) and decoder (default
/// ProtobufDecoder) instance. Text records get hostname = the peer's address
/// and type = the input's name, as Heka's do.
pub struct TcpInput {
    config: TcpInputConfig,
    listener: Option<std::net::TcpListener>,
    /// Set when `use_tls`.
    tls: Option<TlsAcceptor>,
}

impl TcpInput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, _: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let config: TcpInputConfig = crate::plugins::options(spec)?;
        if !matches!(config.net.as_str(), "tcp" | "tcp4" | "tcp6") {
            return Err(BuildError::invalid(
                spec,
                format!("net `{}` is not supported (tcp, tcp4, tcp6)", config.net),
            ));
        }
        let tls = match config.use_tls {
            false => None,
            true => Some(config.tls.clone().unwrap_or_default().acceptor(spec)?),
        };
        Ok(Box::new(TcpInput {
            config,
            listener: None,
            tls,
        }))
    }
}

impl Input for TcpInput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        let listener = crate::plugins::listen::bind_tcp(&self.config.address).map_err(|e| {
            PluginError::fatal(format!("cannot listen on {}: {e}", self.config.address))
        })?;
        self.listener = Some(listener);
        Ok(())
    }

    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let std_listener = match self.listener.take() {
                Some(l) => l,
                None => {
                    self.prepare()?;
                    self.listener.take().expect("prepare stores the listener")
                }
            };
            let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| {
                PluginError::fatal(format!("cannot listen on {}: {e}", self.config.address))
            })?;
            tracing::info!(plugin = %cx.name(), address = %self.config.address, "Listening.");
            let mut connections = tokio::task::JoinSet::new();
            let limit = self.config.max_connections;
            let mut full = false;
            // Set after an accept error: no accepting until then.
            let mut paused: Option<tokio::time::Instant> = None;
            loop {
                let room = limit == 0 || connections.len() < limit;
                if !room && !full {
                    tracing::warn!(plugin = %cx.name(), max_connections = limit, "Connection limit reached; new connections wait until one ends.");
                }
                full = !room;
                let resume = paused.unwrap_or_else(tokio::time::Instant::now);
                tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    Some(done) = connections.join_next(), if !connections.is_empty() => {
                        if let Err(err) = done {
                            tracing::error!(plugin = %cx.name(), error = %err, "Connection task failed.");
                        }
                    }
                    _ = tokio::time::sleep_until(resume), if paused.is_some() => paused = None,
                    accepted = listener.accept(), if room && paused.is_none() => {
                        let (socket, peer) = match accepted {
                            Ok(pair) => pair,
                            Err(err) => {
                                tracing::warn!(plugin = %cx.name(), error = %err, "Accept failed.");
                                paused = Some(tokio::time::Instant::now() + ACCEPT_BACKOFF);
                                continue;
                            }
                        };
                        if self.config.keep_alive {
                            let keepalive = socket2::TcpKeepalive::new()
                                .with_time(Duration::from_secs(self.config.keep_alive_period));
                            let _ = socket2::SockRef::from(&socket).set_tcp_keepalive(&keepalive);
                        }
                        let cx = cx.clone();
                        let tls = self.tls.clone();
                        let acks = self.config.acknowledge;
                        connections.spawn_local(async move {
                            match tls {
                                None => connection(cx, socket, peer, acks).await,
                                Some(tls) => tls_connection(cx, tls, socket, peer, acks).await,
                            }
                        });
                    }
                }
            }
            // Stop requested: every connection routes what it already
            // received, then ends.
            while let Some(done) = connections.join_next().await {
                if let Err(err) = done {
                    tracing::error!(plugin = %cx.name(), error = %err, "Connection task failed.");
                }
            }
            Ok(())
        })
    }

    fn default_splitter(&self) -> &'static str {
        "HekaFramingSplitter"
    }

    fn default_decoder(&self) -> Option<&'static str> {
        Some("ProtobufDecoder")
    }
}

/// Does the TLS handshake, then reads the connection like a plain one.
async fn tls_connection(
    cx: InputCx,
    tls: TlsAcceptor,
    socket: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    acks: bool,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(socket));
    let stream = tokio::select! {
        biased;
        _ = cx.stopped() => return,
        done = handshake => done,
    };
    match stream {
        Ok(Ok(mut stream)) => {
            connection(cx, &mut stream, peer, acks).await;
            // Answer the client's close_notify with ours (best effort; an
            // acknowledging connection closed its side already).
            if !acks {
                let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.shutdown()).await;
            }
        }
        Ok(Err(err)) => {
            tracing::warn!(plugin = %cx.name(), peer = %peer, error = %err, "TLS handshake failed.");
        }
        Err(_) => {
            tracing::warn!(plugin = %cx.name(), peer = %peer, "TLS handshake timed out.");
        }
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    cx: InputCx,
    socket: S,
    peer: std::net::SocketAddr,
    acks: bool,
) {
    let defaults = StreamDefaults {
        hostname: Some(peer.ip().to_string()),
        msg_type: Some(cx.name().to_owned()),
        logger: None,
    };
    let mut sink = match cx.stream(defaults) {
        Ok(sink) => sink,
        Err(err) => {
            tracing::error!(plugin = %cx.name(), error = %err, "Cannot open a stream.");
            return;
        }
    };
    let read = match acks {
        false => sink.read_from(socket).await,
        true => acked::acknowledged(&cx, &mut sink, socket, peer).await,
    };
    match read {
        Ok(()) => {}
        // A TLS peer that closed TCP without close_notify.
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!(plugin = %cx.name(), peer = %peer, error = %err, "Connection ended without TLS close_notify.");
        }
        Err(err) => {
            tracing::warn!(plugin = %cx.name(), peer = %peer, error = %err, "Connection ended with an error.");
        }
    }
}

#[cfg(test)]
mod tests;
