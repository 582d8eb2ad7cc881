//! UdpOutput: the end of a pipeline branch that sends each encoded message
//! as one datagram to `address` (UDP, or a Unix datagram socket with
//! `net = "unixgram"`), from `local_address` when set.
//!
//! - A message whose encoding is larger than `max_message_size` (65,507,
//!   the most IPv4 UDP carries; at least 512) is dropped, logged with its
//!   size, and counted in the output's `DroppedOversize` report figure, as
//!   Heka dropped it with an error.
//! - A send the operating system refuses (no route, a Unix peer that is not
//!   there, an ICMP "port unreachable" reported on a later send) is a
//!   [`PluginError::Retry`]: the runner waits and calls again with the same
//!   batch, and the output resumes at the datagram that failed, so nothing
//!   already sent goes twice. Heka ignored those errors; a datagram the
//!   network loses after the send is still lost, as with any UDP sender.
//! - The socket is made on the first write (connecting a UDP socket only
//!   sets its peer), and made again after a failure.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use heka_actors::report::Metric;
use serde::Deserialize;

use super::net::{self, Net};

/// `max_message_size` when not set: the largest IPv4 UDP payload.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 65507;
/// The smallest `max_message_size` accepted.
pub const MIN_MAX_MESSAGE_SIZE: usize = 512;
/// Report figure: messages dropped for being larger than `max_message_size`.
pub const FIGURE_DROPPED_OVERSIZE: &str = "DroppedOversize";

/// UdpOutput's options (Heka's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpOutputConfig {
    /// `host:port` to send to, or a socket path for `unixgram`.
    pub address: String,
    /// `udp` (default), `udp4`, `udp6` or `unixgram`.
    #[serde(default = "default_net")]
    pub net: String,
    /// Local address to send from (`ip`, `ip:port`, or a path for
    /// `unixgram`).
    #[serde(default)]
    pub local_address: Option<String>,
    /// Largest encoded message sent (default 65507, at least 512).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
}

fn default_net() -> String {
    net::DEFAULT_NET.into()
}

fn default_max_message_size() -> usize {
    DEFAULT_MAX_MESSAGE_SIZE
}

enum Socket {
    Udp(tokio::net::UdpSocket),
    Unix(tokio::net::UnixDatagram),
}

impl Socket {
    async fn send(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Udp(s) => s.send(data).await,
            Socket::Unix(s) => s.send(data).await,
        }
    }
}

/// Heka's UdpOutput.
pub struct UdpOutput {
    config: UdpOutputConfig,
    net: Net,
    socket: Option<Socket>,
    /// The record a Retry interrupted.
    resume: Option<usize>,
    dropped_oversize: u64,
    /// Whether the last attempt failed (log an outage once, not per retry).
    failing: bool,
}

impl UdpOutput {
    /// Checks the options; the socket is made by the first write.
    pub fn new(spec: &PluginSpec, config: UdpOutputConfig) -> Result<UdpOutput, BuildError> {
        let net = Net::parse(&config.net)
            .ok_or_else(|| BuildError::invalid(spec, net::unknown_net(&config.net)))?;
        if config.max_message_size < MIN_MAX_MESSAGE_SIZE {
            return Err(BuildError::invalid(
                spec,
                format!("max_message_size can't be smaller than {MIN_MAX_MESSAGE_SIZE} bytes"),
            ));
        }
        if let (Some(local), false) = (&config.local_address, net == Net::Unixgram) {
            if parse_local(local).is_none() {
                return Err(BuildError::invalid(
                    spec,
                    format!("local_address {local:?} is not an IP address"),
                ));
            }
        }
        Ok(UdpOutput {
            config,
            net,
            socket: None,
            resume: None,
            dropped_oversize: 0,
            failing: false,
        })
    }

    async fn open(&self) -> io::Result<Socket> {
        let local = self.config.local_address.as_deref();
        if self.net == Net::Unixgram {
            let socket = match local {
                Some(path) => tokio::net::UnixDatagram::bind(path)?,
                None => tokio::net::UnixDatagram::unbound()?,
            };
            socket.connect(&self.config.address)?;
            return Ok(Socket::Unix(socket));
        }
        let peer = net::resolve_async(&self.config.address, self.net).await?;
        let unspecified = match peer {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let bind = local
            .and_then(parse_local)
            .unwrap_or(SocketAddr::new(unspecified, 0));
        let socket = tokio::net::UdpSocket::bind(bind).await?;
        socket.connect(peer).await?;
        Ok(Socket::Udp(socket))
    }

    fn fail(&mut self, next: usize, err: io::Error) -> PluginError {
        self.socket = None;
        self.resume = Some(next);
        if !self.failing {
            self.failing = true;
            tracing::warn!(address = %self.config.address, error = %err, "UdpOutput send failed; retrying.");
        }
        PluginError::retry(format!("sending to {}: {err}", self.config.address))
    }

    async fn write_batch(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        let start = match self.resume.take() {
            Some(index) if batch.attempt > 0 => index,
            _ => 0,
        };
        for (i, record) in batch.records().enumerate().skip(start) {
            if record.len() > self.config.max_message_size {
                self.dropped_oversize += 1;
                tracing::warn!(
                    address = %self.config.address,
                    size = record.len(),
                    max = self.config.max_message_size,
                    "Message has exceeded allowed UDP data size; dropped."
                );
                continue;
            }
            if self.socket.is_none() {
                match self.open().await {
                    Ok(socket) => self.socket = Some(socket),
                    Err(err) => return Err(self.fail(i, err)),
                }
            }
            let socket = self.socket.as_ref().expect("opened above");
            if let Err(err) = socket.send(record).await {
                return Err(self.fail(i, err));
            }
            if self.failing {
                self.failing = false;
                tracing::info!(address = %self.config.address, "UdpOutput sending again.");
            }
        }
        Ok(())
    }
}

fn parse_local(text: &str) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    text.parse().ok()
}

impl Output for UdpOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(self.write_batch(batch))
    }

    fn report_fields(&self) -> Vec<Metric> {
        vec![(FIGURE_DROPPED_OVERSIZE, self.dropped_oversize, "count")]
    }
}

impl UdpOutput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
        let config: UdpOutputConfig = crate::plugins::options(spec)?;
        Ok(Box::new(UdpOutput::new(spec, config)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(options: &[(&str, toml::Value)]) -> PluginSpec {
        let mut spec = PluginSpec::new("udp_out", "UdpOutput").unwrap();
        for (k, v) in options {
            spec.options.insert((*k).into(), v.clone());
        }
        spec
    }

    fn batch(records: &[&[u8]]) -> EncodedBatch {
        let mut batch = EncodedBatch::default();
        for r in records {
            batch.data.extend_from_slice(r);
            batch.ends.push(batch.data.len());
        }
        batch
    }

    fn output(addr: &str, max: i64) -> UdpOutput {
        let s = spec(&[("address", addr.into()), ("max_message_size", max.into())]);
        UdpOutput::new(&s, crate::plugins::options(&s).unwrap()).unwrap()
    }

    #[test]
    fn build_checks_its_options() {
        let g = Globals::default();
        let small = spec(&[
            ("address", "127.0.0.1:9".into()),
            ("max_message_size", 100.into()),
        ]);
        let err = UdpOutput::build(&small, &g).err().unwrap().message;
        assert!(err.contains("512"), "{err}");
        let net = spec(&[("address", "127.0.0.1:9".into()), ("net", "tcp".into())]);
        assert!(UdpOutput::build(&net, &g).is_err());
        let local = spec(&[
            ("address", "127.0.0.1:9".into()),
            ("local_address", "nowhere".into()),
        ]);
        assert!(UdpOutput::build(&local, &g).is_err());
        assert!(UdpOutput::build(&spec(&[("address", "127.0.0.1:9".into())]), &g).is_ok());
    }

    #[tokio::test]
    async fn each_record_is_one_datagram_and_oversize_ones_are_dropped() {
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = peer.local_addr().unwrap().to_string();
        let mut out = output(&addr, 512);
        let big = vec![b'x'; 513];
        let exact = vec![b'y'; 512];
        out.write(&batch(&[b"one", &big, &exact, b"two"]))
            .await
            .unwrap();
        let mut buf = [0u8; 2048];
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = peer.recv(&mut buf).await.unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, [b"one".to_vec(), exact, b"two".to_vec()]);
        assert_eq!(out.report_fields(), [(FIGURE_DROPPED_OVERSIZE, 1, "count")]);
    }

    #[tokio::test]
    async fn a_refused_send_is_retried_from_the_failed_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peer.sock");
        let s = spec(&[
            ("address", path.to_str().unwrap().into()),
            ("net", "unixgram".into()),
        ]);
        let mut out = UdpOutput::new(&s, crate::plugins::options(&s).unwrap()).unwrap();
        let mut b = batch(&[b"a", b"b"]);
        // Nobody listens yet: the first send fails, nothing is lost.
        let err = out.write(&b).await.unwrap_err();
        assert!(matches!(err, PluginError::Retry(_)), "{err:?}");
        let peer = tokio::net::UnixDatagram::bind(&path).unwrap();
        b.attempt = 1;
        out.write(&b).await.unwrap();
        let mut buf = [0u8; 16];
        let n = peer.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"a");
        let n = peer.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"b");
    }
}
