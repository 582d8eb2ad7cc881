//! TcpInput: the start of the pipeline for network streams. It listens on
//! `address`, and gives each accepted connection its own splitter and
//! decoder instance through a `StreamSink`, which routes records as they
//! complete and stops reading while the pipeline is full, so TCP slows the
//! sender instead of hekad buffering without bound.

use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, StreamDefaults,
};
use serde::Deserialize;

/// TcpInput's options (Heka's names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpInputConfig {
    /// Address to listen on, `host:port`.
    pub address: String,
    /// `tcp`, `tcp4` or `tcp6`.
    #[serde(default = "default_net")]
    pub net: String,
    /// TLS is not available yet: must be false.
    #[serde(default)]
    pub use_tls: bool,
    /// Enable TCP keep-alive on accepted connections.
    #[serde(default)]
    pub keep_alive: bool,
    /// Keep-alive period in seconds.
    #[serde(default = "default_keep_alive_period")]
    pub keep_alive_period: u64,
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
        if config.use_tls {
            return Err(BuildError::invalid(spec, "use_tls is not supported yet"));
        }
        Ok(Box::new(TcpInput {
            config,
            listener: None,
        }))
    }
}

impl Input for TcpInput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        let listener = std::net::TcpListener::bind(&self.config.address).map_err(|e| {
            PluginError::fatal(format!("cannot listen on {}: {e}", self.config.address))
        })?;
        listener.set_nonblocking(true).map_err(|e| {
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
            loop {
                tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    Some(done) = connections.join_next(), if !connections.is_empty() => {
                        if let Err(err) = done {
                            tracing::error!(plugin = %cx.name(), error = %err, "Connection task failed.");
                        }
                    }
                    accepted = listener.accept() => {
                        let (socket, peer) = match accepted {
                            Ok(pair) => pair,
                            Err(err) => {
                                tracing::warn!(plugin = %cx.name(), error = %err, "Accept failed.");
                                continue;
                            }
                        };
                        if self.config.keep_alive {
                            let keepalive = socket2::TcpKeepalive::new()
                                .with_time(Duration::from_secs(self.config.keep_alive_period));
                            let _ = socket2::SockRef::from(&socket).set_tcp_keepalive(&keepalive);
                        }
                        let cx = cx.clone();
                        connections.spawn_local(async move { connection(cx, socket, peer).await });
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

async fn connection(cx: InputCx, socket: tokio::net::TcpStream, peer: std::net::SocketAddr) {
    let defaults = StreamDefaults {
        hostname: Some(peer.ip().to_string()),
        msg_type: Some(cx.name().to_owned()),
    };
    let mut sink = match cx.stream(defaults) {
        Ok(sink) => sink,
        Err(err) => {
            tracing::error!(plugin = %cx.name(), error = %err, "Cannot open a stream.");
            return;
        }
    };
    if let Err(err) = sink.read_from(socket).await {
        tracing::warn!(plugin = %cx.name(), peer = %peer, error = %err, "Connection ended with an error.");
    }
}
