//! UdpInput: the start of the pipeline for datagrams. It binds `address`
//! (UDP, or a Unix datagram socket with `net = "unixgram"`) when the
//! pipeline is prepared, and runs every datagram through one `StreamSink`
//! (the input's splitter, NullSplitter unless configured, and decoder) as
//! a whole: the datagram is the stream, so a trailing partial record is
//! dropped (counted) unless the splitter has `deliver_incomplete_final`.
//!
//! Text records get Type = the input's name, and with `set_hostname` the
//! sender's IP as Hostname, as Heka's did.
//!
//! Back-pressure: the next datagram is read only after the previous one was
//! routed, so a full pipeline leaves datagrams in the kernel's buffer and,
//! once that is full, the kernel drops them (UDP has no way to slow a
//! sender; those drops are the kernel's `RcvbufErrors`, not ours).
//!
//! Shutdown: on stop the input routes the datagrams already queued in the
//! socket (at most [`DRAIN_LIMIT`]), then returns; a Unix socket file it
//! created is removed.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, StreamDefaults, StreamSink,
};
use heka_actors::stats::RunnerStats;
use serde::Deserialize;

use super::net::{self, Net};

/// How long a stopping input keeps routing datagrams already queued.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// The read buffer: larger than any UDP datagram (65,507 bytes of IPv4
/// payload); a Unix datagram that fills it was cut by the kernel.
pub const DATAGRAM_BUFFER: usize = 64 * 1024 + 1;

/// UdpInput's options (Heka's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpInputConfig {
    /// `host:port` to listen on, or a socket path for `unixgram`.
    pub address: String,
    /// `udp` (default), `udp4`, `udp6` or `unixgram`.
    #[serde(default = "default_net")]
    pub net: String,
    /// Set each message's Hostname to the sender's IP (default false; not
    /// possible with `unixgram`).
    #[serde(default)]
    pub set_hostname: bool,
}

fn default_net() -> String {
    net::DEFAULT_NET.into()
}

enum Socket {
    Udp(std::net::UdpSocket),
    Unix(std::os::unix::net::UnixDatagram),
}

/// Heka's UdpInput.
pub struct UdpInput {
    config: UdpInputConfig,
    net: Net,
    socket: Option<Socket>,
    /// The socket file to remove at the end (`unixgram` with a path).
    socket_file: Option<PathBuf>,
    max_record: usize,
}

impl UdpInput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let config: UdpInputConfig = crate::plugins::options(spec)?;
        let net = Net::parse(&config.net)
            .ok_or_else(|| BuildError::invalid(spec, net::unknown_net(&config.net)))?;
        if net == Net::Unixgram && config.set_hostname {
            return Err(BuildError::invalid(
                spec,
                "set_hostname is not possible with unixgram",
            ));
        }
        Ok(Box::new(UdpInput {
            config,
            net,
            socket: None,
            socket_file: None,
            max_record: heka_proto::framing::max_record_size(globals.max_message_size as usize),
        }))
    }

    fn bind(&mut self) -> std::io::Result<Socket> {
        if self.net != Net::Unixgram {
            let addr = net::resolve(&self.config.address, self.net)?;
            let socket = std::net::UdpSocket::bind(addr)?;
            socket.set_nonblocking(true)?;
            return Ok(Socket::Udp(socket));
        }
        let addr = net::unix_addr(&self.config.address)?;
        if let Some(path) = addr.as_pathname() {
            remove_stale_socket(path);
        }
        let socket = std::os::unix::net::UnixDatagram::bind_addr(&addr)?;
        socket.set_nonblocking(true)?;
        if let Some(path) = addr.as_pathname() {
            // Any local user may send, as with Heka.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
            self.socket_file = Some(path.to_owned());
        }
        Ok(Socket::Unix(socket))
    }
}

/// Removes a socket file left by an earlier run (only a socket: any other
/// file at that path makes the bind fail).
fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

impl Input for UdpInput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        let socket = self.bind().map_err(|e| {
            PluginError::fatal(format!("cannot listen on {}: {e}", self.config.address))
        })?;
        self.socket = Some(socket);
        Ok(())
    }

    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            if self.socket.is_none() {
                self.prepare()?;
            }
            let listen_err = |e: std::io::Error| PluginError::fatal(format!("cannot listen: {e}"));
            let socket = match self.socket.take().expect("prepared above") {
                Socket::Udp(s) => {
                    Datagrams::Udp(tokio::net::UdpSocket::from_std(s).map_err(listen_err)?)
                }
                Socket::Unix(s) => {
                    Datagrams::Unix(tokio::net::UnixDatagram::from_std(s).map_err(listen_err)?)
                }
            };
            tracing::info!(plugin = %cx.name(), address = %self.config.address, "Listening.");
            let defaults = StreamDefaults {
                hostname: None,
                msg_type: Some(cx.name().to_owned()),
                logger: None,
            };
            let mut sink = cx
                .stream(defaults)
                .map_err(|e| PluginError::fatal(e.to_string()))?;
            let mut reader = Reader {
                buf: vec![0; DATAGRAM_BUFFER.max(self.max_record + 1)],
                set_hostname: self.config.set_hostname,
            };
            let result = reader.serve(&cx, &socket, &mut sink).await;
            if let Some(path) = self.socket_file.take() {
                drop(socket);
                let _ = std::fs::remove_file(path);
            }
            result
        })
    }
}

enum Datagrams {
    Udp(tokio::net::UdpSocket),
    Unix(tokio::net::UnixDatagram),
}

impl Datagrams {
    async fn recv(&self, buf: &mut [u8]) -> std::io::Result<(usize, Option<std::net::IpAddr>)> {
        match self {
            Datagrams::Udp(s) => s.recv_from(buf).await.map(|(n, a)| (n, Some(a.ip()))),
            Datagrams::Unix(s) => s.recv(buf).await.map(|n| (n, None)),
        }
    }

    fn try_recv(&self, buf: &mut [u8]) -> std::io::Result<(usize, Option<std::net::IpAddr>)> {
        match self {
            Datagrams::Udp(s) => s.try_recv_from(buf).map(|(n, a)| (n, Some(a.ip()))),
            Datagrams::Unix(s) => s.try_recv(buf).map(|n| (n, None)),
        }
    }
}

struct Reader {
    buf: Vec<u8>,
    set_hostname: bool,
}

impl Reader {
    async fn serve(
        &mut self,
        cx: &InputCx,
        socket: &Datagrams,
        sink: &mut StreamSink,
    ) -> Result<(), PluginError> {
        loop {
            let got = tokio::select! {
                biased;
                _ = cx.stopped() => break,
                got = socket.recv(&mut self.buf) => got,
            };
            match got {
                Ok((n, peer)) => self.datagram(cx, sink, n, peer).await?,
                Err(err) => {
                    tracing::warn!(plugin = %cx.name(), error = %err, "Read error.");
                }
            }
        }
        // Route what senders already handed to the kernel.
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        while tokio::time::Instant::now() < deadline {
            match socket.try_recv(&mut self.buf) {
                Ok((n, peer)) => self.datagram(cx, sink, n, peer).await?,
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        Ok(())
    }

    async fn datagram(
        &mut self,
        cx: &InputCx,
        sink: &mut StreamSink,
        n: usize,
        peer: Option<std::net::IpAddr>,
    ) -> Result<(), PluginError> {
        if n >= self.buf.len() {
            RunnerStats::add(&cx.stats().dropped, 1);
            tracing::warn!(plugin = %cx.name(), bytes = n, "Datagram larger than the largest record; dropped.");
            return Ok(());
        }
        if self.set_hostname {
            sink.defaults_mut().hostname = peer.map(|ip| ip.to_string());
        }
        sink.buffer().extend_from_slice(&self.buf[..n]);
        sink.flush(true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(options: &[(&str, toml::Value)]) -> PluginSpec {
        let mut spec = PluginSpec::new("udp_in", "UdpInput").unwrap();
        for (k, v) in options {
            spec.options.insert((*k).into(), v.clone());
        }
        spec
    }

    #[test]
    fn build_checks_net_and_hostname() {
        let g = Globals::default();
        let ok = spec(&[("address", "127.0.0.1:0".into())]);
        assert!(UdpInput::build(&ok, &g).is_ok());
        let bad = spec(&[("address", "x".into()), ("net", "tcp".into())]);
        let err = UdpInput::build(&bad, &g).err().unwrap().message;
        assert!(err.contains("net `tcp`"), "{err}");
        let unix = spec(&[
            ("address", "/tmp/x".into()),
            ("net", "unixgram".into()),
            ("set_hostname", true.into()),
        ]);
        assert!(UdpInput::build(&unix, &g).is_err());
        let missing = spec(&[]);
        assert!(UdpInput::build(&missing, &g).is_err());
    }

    #[test]
    fn prepare_binds_and_reports_busy_addresses() {
        let g = Globals::default();
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let mut input = UdpInput::build(&spec(&[("address", addr.into())]), &g).unwrap();
        let err = input.prepare().unwrap_err().to_string();
        assert!(err.contains("cannot listen"), "{err}");
    }

    #[test]
    fn unixgram_socket_is_world_writable_and_replaces_a_stale_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.sock");
        // A stale socket from an earlier run.
        drop(std::os::unix::net::UnixDatagram::bind(&path).unwrap());
        let options = [
            ("address", path.to_str().unwrap().into()),
            ("net", "unixgram".into()),
        ];
        let mut input = UdpInput::build(&spec(&options), &Globals::default()).unwrap();
        input.prepare().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
    }
}
