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

use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, StreamDefaults,
};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use super::tls::TlsConfig;

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
                        connections.spawn_local(async move {
                            match tls {
                                None => connection(cx, socket, peer).await,
                                Some(tls) => tls_connection(cx, tls, socket, peer).await,
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
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(socket));
    let stream = tokio::select! {
        biased;
        _ = cx.stopped() => return,
        done = handshake => done,
    };
    match stream {
        Ok(Ok(mut stream)) => {
            connection(cx, &mut stream, peer).await;
            // Answer the client's close_notify with ours (best effort).
            let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.shutdown()).await;
        }
        Ok(Err(err)) => {
            tracing::warn!(plugin = %cx.name(), peer = %peer, error = %err, "TLS handshake failed.");
        }
        Err(_) => {
            tracing::warn!(plugin = %cx.name(), peer = %peer, "TLS handshake timed out.");
        }
    }
}

async fn connection<S: AsyncRead + Unpin>(cx: InputCx, socket: S, peer: std::net::SocketAddr) {
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
    match sink.read_from(socket).await {
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
mod tests {
    use super::super::tls::testing::{Pki, spec};
    use super::*;
    use heka_actors::Pipeline;
    use heka_actors::config::Config;
    use heka_proto::deframer::{Deframer, Event};
    use heka_proto::framing::{DEFAULT_MAX_MESSAGE_SIZE, encode_frame};
    use heka_proto::prost::Message as _;
    use heka_proto::{Message, MessageView};
    use std::future::Future;
    use std::net::SocketAddr;
    use tokio::io::AsyncReadExt;

    const LIMIT: Duration = Duration::from_secs(5);

    async fn within<F: Future>(fut: F) -> F::Output {
        tokio::time::timeout(LIMIT, fut).await.expect("timed out")
    }

    /// A port on 127.0.0.1 that was free a moment ago.
    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn framed(payloads: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            let msg = Message {
                uuid: vec![9; 16].into(),
                timestamp: 1,
                r#type: Some("tls.test".into()),
                payload: Some(payload.to_string().into_bytes().into()),
                ..Message::default()
            };
            encode_frame(
                &msg.encode_to_vec(),
                None,
                DEFAULT_MAX_MESSAGE_SIZE,
                &mut out,
            )
            .unwrap();
        }
        out
    }

    /// A TLS client of `addr` trusting ca.pem, with `cert` (`client` or
    /// `stranger`) as its certificate if given; sends `data` and closes.
    async fn send(pki: &Pki, addr: SocketAddr, cert: Option<&str>, data: &[u8]) -> bool {
        let mut keys = vec![("root_cafile", "ca.pem".into())];
        if let Some(cert) = cert {
            keys.push(("cert_file", format!("{cert}.pem").into()));
            keys.push(("key_file", format!("{cert}.key").into()));
        }
        let tls: TlsConfig = pki.table(&keys).try_into().unwrap();
        let client = tls
            .connector(&spec("TcpOutput", &[], None), &addr.to_string())
            .unwrap();
        let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let Ok(mut stream) = client.connector.connect(client.server_name, socket).await else {
            return false;
        };
        // TLS 1.3: the server checks the client's certificate after the
        // client's handshake is done, so a refusal shows on first use.
        if stream.write_all(data).await.is_err() || stream.shutdown().await.is_err() {
            return false;
        }
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.is_ok()
    }

    #[test]
    fn tls_input_builds_an_acceptor_from_its_table() {
        let pki = Pki::new();
        let tls = pki.table(&[
            ("cert_file", "server.pem".into()),
            ("key_file", "server.key".into()),
        ]);
        let options = [("address", "127.0.0.1:0".into()), ("use_tls", true.into())];
        let ok = spec("TcpInput", &options, Some(tls.clone()));
        assert!(TcpInput::build(&ok, &Globals::default()).is_ok());
        let err = TcpInput::build(&spec("TcpInput", &options, None), &Globals::default())
            .err()
            .unwrap()
            .message;
        assert!(err.contains("tls.cert_file"), "{err}");
        // Without use_tls the table is checked for unknown keys only.
        let mut missing = tls;
        missing.insert("cert_file".into(), pki.path("nowhere.pem").into());
        let plain = spec(
            "TcpInput",
            &[("address", "127.0.0.1:0".into())],
            Some(missing),
        );
        assert!(TcpInput::build(&plain, &Globals::default()).is_ok());
    }

    /// The whole path: TLS clients → TcpInput (client certificates
    /// required) → router → TcpOutput over TLS → a rustls server here.
    /// A client without a certificate is refused and the listener goes on.
    #[test]
    fn tls_end_to_end_through_a_pipeline() {
        let pki = Pki::new();
        let input_port = free_port();
        let input: SocketAddr = format!("127.0.0.1:{input_port}").parse().unwrap();
        let text = format!(
            r#"
            [TlsIn]
            type = "TcpInput"
            address = "{input}"
            use_tls = true
            [TlsIn.tls]
            cert_file = "{server_pem}"
            key_file = "{server_key}"
            client_auth = "RequireAndVerifyClientCert"
            client_cafile = "{ca}"

            [TlsOut]
            type = "TcpOutput"
            message_matcher = "Type == 'tls.test'"
            encoder = "ProtobufEncoder"
            address = "127.0.0.1:{{OUT}}"
            use_tls = true
            [TlsOut.tls]
            root_cafile = "{ca}"
            server_name = "localhost"
            "#,
            server_pem = pki.path("server.pem"),
            server_key = pki.path("server.key"),
            ca = pki.path("ca.pem"),
        );
        actix_rt::System::new().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let out_port = listener.local_addr().unwrap().port();
            let text = text.replace("{OUT}", &out_port.to_string());
            let config = Config::from_str(&text, std::path::Path::new("tls.toml")).unwrap();
            let acceptor: TlsConfig = pki
                .table(&[
                    ("cert_file", "server.pem".into()),
                    ("key_file", "server.key".into()),
                ])
                .try_into()
                .unwrap();
            let acceptor = acceptor.acceptor(&spec("TcpInput", &[], None)).unwrap();
            // The output's peer: collects payloads until it has three.
            let receiver = tokio::spawn(async move {
                let (socket, _) = listener.accept().await.unwrap();
                let mut stream = acceptor.accept(socket).await.unwrap();
                let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
                let mut buf = bytes::BytesMut::new();
                let mut payloads = Vec::new();
                while payloads.len() < 3 {
                    assert!(stream.read_buf(&mut buf).await.unwrap() > 0);
                    while let Some(event) = deframer.next(&mut buf) {
                        let Event::Record(record) = event else {
                            panic!("{event:?}");
                        };
                        let view = MessageView::decode(record.message).unwrap();
                        payloads.push(String::from_utf8(view.payload().to_vec()).unwrap());
                    }
                }
                payloads
            });
            let pipeline = Pipeline::start(
                config.globals,
                config.plugins,
                crate::catalogue::catalogue(),
            )
            .unwrap();
            assert!(!within(send(&pki, input, None, &framed(&["anonymous"]))).await);
            assert!(!within(send(&pki, input, Some("stranger"), &framed(&["stranger"]))).await);
            assert!(within(send(&pki, input, Some("client"), &framed(&["one", "two"]))).await);
            assert!(within(send(&pki, input, Some("client"), &framed(&["three"]))).await);
            let got = within(receiver).await.unwrap();
            assert_eq!(got, ["one", "two", "three"]);
            assert_eq!(within(pipeline.stop()).await, 0);
        });
    }
}
