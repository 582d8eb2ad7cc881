//! StatsdInput: a statsd server. It binds `address` (UDP,
//! "127.0.0.1:8125" by default) when the pipeline is prepared, parses each
//! datagram's lines ([`super::stat`]) and hands the stats, one batch per
//! datagram, to the StatAccumInput named `stat_accum_name`
//! ("StatAccumInput"). It routes no message itself.
//!
//! - Back-pressure: the next datagram is read only once the accumulator
//!   took the previous batch; while its queue is full the kernel buffers,
//!   then drops, datagrams (UDP cannot slow a sender).
//! - Counted and logged as dropped: every line that does not parse (Heka
//!   logged it too), stats the accumulator could not take (it stopped),
//!   and the cut-off last line of a datagram longer than `max_msg_size`
//!   (512 by default). Heka parsed such a cut line as if whole; here only
//!   the lines that ended before the limit count.
//! - With no accumulator of that name the input fails at start (restarted
//!   per `retries`), as Heka's did.

use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, Input, InputCx, LocalBoxFuture, PluginError};
use heka_actors::stats::RunnerStats;
use serde::Deserialize;

use super::registry::{self, StatSender};
use super::stat::parse_datagram;
use crate::plugins::udp::net::{self, Net};

/// Where StatsdInput listens when `address` is not set.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8125";
/// The accumulator fed when `stat_accum_name` is not set.
pub const DEFAULT_STAT_ACCUM_NAME: &str = "StatAccumInput";
/// Bytes read per datagram when `max_msg_size` is not set.
pub const DEFAULT_MAX_MSG_SIZE: usize = 512;
/// How long a stopping input keeps reading datagrams already queued.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// StatsdInput's options (Heka's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsdInputConfig {
    /// UDP `host:port` to listen on.
    #[serde(default = "default_address")]
    pub address: String,
    /// The StatAccumInput to feed.
    #[serde(default = "default_stat_accum_name")]
    pub stat_accum_name: String,
    /// Largest datagram read whole, in bytes.
    #[serde(default = "default_max_msg_size")]
    pub max_msg_size: usize,
}

fn default_address() -> String {
    DEFAULT_ADDRESS.into()
}
fn default_stat_accum_name() -> String {
    DEFAULT_STAT_ACCUM_NAME.into()
}
fn default_max_msg_size() -> usize {
    DEFAULT_MAX_MSG_SIZE
}

/// Heka's StatsdInput.
pub struct StatsdInput {
    config: StatsdInputConfig,
    socket: Option<std::net::UdpSocket>,
}

impl StatsdInput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let config: StatsdInputConfig = crate::plugins::options(spec)?;
        if config.max_msg_size == 0 {
            return Err(BuildError::invalid(spec, "max_msg_size must be above 0"));
        }
        Ok(Box::new(StatsdInput {
            config,
            socket: None,
        }))
    }
}

impl Input for StatsdInput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        let bind = || -> std::io::Result<std::net::UdpSocket> {
            let socket = std::net::UdpSocket::bind(net::resolve(&self.config.address, Net::Udp)?)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        };
        let socket = bind().map_err(|e| {
            PluginError::fatal(format!("cannot listen on {}: {e}", self.config.address))
        })?;
        self.socket = Some(socket);
        Ok(())
    }

    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let name = self.config.stat_accum_name.clone();
            if !registry::is_registered(&name) {
                return Err(PluginError::fatal(format!(
                    "no StatAccumInput named `{name}` is configured"
                )));
            }
            if self.socket.is_none() {
                self.prepare()?;
            }
            let socket = tokio::net::UdpSocket::from_std(self.socket.take().expect("prepared"))
                .map_err(|e| PluginError::fatal(format!("cannot listen: {e}")))?;
            tracing::info!(plugin = %cx.name(), address = %self.config.address, "Listening.");
            let mut server = Server {
                sender: StatSender::new(&name),
                buf: vec![0; self.config.max_msg_size + 1],
                max: self.config.max_msg_size,
            };
            loop {
                let got = tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    got = socket.recv(&mut server.buf) => got,
                };
                match got {
                    Ok(n) => server.datagram(&cx, n).await,
                    Err(err) => tracing::warn!(plugin = %cx.name(), error = %err, "Read error."),
                }
            }
            let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
            while tokio::time::Instant::now() < deadline {
                match socket.try_recv(&mut server.buf) {
                    Ok(n) => server.datagram(&cx, n).await,
                    Err(_) => break,
                }
            }
            Ok(())
        })
    }
}

struct Server {
    sender: StatSender,
    buf: Vec<u8>,
    max: usize,
}

impl Server {
    async fn datagram(&mut self, cx: &InputCx, n: usize) {
        let stats_row = cx.stats();
        let mut data = &self.buf[..n.min(self.max)];
        if n > self.max {
            // Cut by the limit: keep the lines that ended before it.
            let whole = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            data = &data[..whole];
            RunnerStats::add(&stats_row.dropped, 1);
            tracing::warn!(plugin = %cx.name(), max_msg_size = self.max, "Datagram longer than max_msg_size; its cut-off last line was dropped.");
        }
        let mut stats = Vec::new();
        parse_datagram(data, &mut stats, |line, why| {
            RunnerStats::add(&stats_row.dropped, 1);
            tracing::warn!(plugin = %cx.name(), line = %String::from_utf8_lossy(line), error = %why, "Can't parse statsd line; dropped.");
        });
        if stats.is_empty() {
            return;
        }
        let count = stats.len() as u64;
        RunnerStats::add(&stats_row.received, count);
        match self.sender.send(stats).await {
            Ok(()) => RunnerStats::add(&stats_row.processed, count),
            Err(err) => {
                RunnerStats::add(&stats_row.dropped, count);
                tracing::warn!(plugin = %cx.name(), stats = count, error = %err, "Undelivered stats dropped.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(options: &[(&str, toml::Value)]) -> PluginSpec {
        let mut spec = PluginSpec::new("statsd", "StatsdInput").unwrap();
        for (k, v) in options {
            spec.options.insert((*k).into(), v.clone());
        }
        spec
    }

    #[test]
    fn defaults_are_heka_s() {
        let s = spec(&[]);
        let config: StatsdInputConfig = crate::plugins::options(&s).unwrap();
        assert_eq!(config.address, "127.0.0.1:8125");
        assert_eq!(config.stat_accum_name, "StatAccumInput");
        assert_eq!(config.max_msg_size, 512);
        assert!(
            StatsdInput::build(&spec(&[("max_msg_size", 0.into())]), &Globals::default()).is_err()
        );
        assert!(StatsdInput::build(&spec(&[("bogus", 0.into())]), &Globals::default()).is_err());
    }
}
