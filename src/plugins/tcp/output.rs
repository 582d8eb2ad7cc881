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
//!   has no acknowledgements; neither has this output.
//! - Connection refused (at start or later) is a Retry, never fatal.
//!
//! Back-pressure: a peer that stops reading blocks the write, which pauses
//! the runner, which holds back the router, as in Heka without buffering.
//! `use_buffering` (Heka's default for this output) and the `buffering`
//! table are accepted, but disk buffering is not implemented: the batch
//! waits in memory instead.
//!
//! TLS: `use_tls = true` wraps each connection in a rustls client
//! handshake (inside the connect timeout), configured by the `tls` table
//! (see [`super::tls`]: `root_cafile` is required unless
//! `insecure_skip_verify`, and the server name defaults to the host part
//! of `address`). A failed handshake is a Retry like a refused connection.
//! Without `use_tls` the `tls` table is checked for unknown keys and
//! otherwise unused.

use std::io::{self, ErrorKind, Read};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use serde::Deserialize;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use super::tls::{TlsClient, TlsConfig};

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
    /// Heka's disk-queue settings: accepted and ignored (see the module docs).
    #[serde(default)]
    pub buffering: Option<toml::Table>,
}

fn default_address() -> String {
    DEFAULT_ADDRESS.into()
}
fn default_keep_alive_period() -> u64 {
    DEFAULT_KEEP_ALIVE_PERIOD
}

/// Identifies the batch a retried `write` call carries (the runner passes
/// the same batch again after a Retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMark {
    data: usize,
    len: usize,
    records: usize,
}

impl BatchMark {
    fn of(batch: &EncodedBatch) -> BatchMark {
        BatchMark {
            data: batch.data.as_ptr() as usize,
            len: batch.data.len(),
            records: batch.len(),
        }
    }
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
    resume: Option<(BatchMark, usize)>,
    /// Whether the last attempt failed (log the outage once, not per retry).
    failing: bool,
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

/// One open connection: plain TCP, or TLS over TCP.
#[derive(Debug)]
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// The TCP socket underneath.
    #[cfg(test)]
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(stream) => stream,
            Conn::Tls(stream) => stream.get_ref().0,
        }
    }

    /// True when the peer closed (or reset) the connection. Both checks
    /// go straight to the socket without blocking: tokio's readiness cache
    /// could still say "not readable" for a close that already arrived.
    fn peer_closed(&mut self) -> bool {
        match self {
            Conn::Plain(stream) => {
                let mut byte = [MaybeUninit::<u8>::uninit()];
                match SockRef::from(&*stream).peek(&mut byte) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(err) => {
                        !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
                    }
                }
            }
            Conn::Tls(stream) => tls_peer_closed(stream),
        }
    }

    /// Writes `buf`, returning how many bytes surely reached the kernel
    /// before any error (see the module docs for TLS).
    async fn write_counted(&mut self, buf: &[u8]) -> (usize, io::Result<()>) {
        match self {
            Conn::Plain(stream) => {
                let mut done = 0;
                while done < buf.len() {
                    match stream.write(&buf[done..]).await {
                        Ok(0) => return (done, Err(ErrorKind::WriteZero.into())),
                        Ok(n) => done += n,
                        Err(err) if err.kind() == ErrorKind::Interrupted => {}
                        Err(err) => return (done, Err(err)),
                    }
                }
                (done, Ok(()))
            }
            Conn::Tls(stream) => {
                let mut done = 0;
                for chunk in buf.chunks(TLS_CHUNK) {
                    // rustls may hold written bytes until flushed: only a
                    // flushed chunk counts as sent.
                    let result = match stream.write_all(chunk).await {
                        Ok(()) => stream.flush().await,
                        Err(err) => Err(err),
                    };
                    if let Err(err) = result {
                        return (done, Err(err));
                    }
                    done += chunk.len();
                }
                (done, Ok(()))
            }
        }
    }

    /// Closes gracefully: FIN after the data. Over TLS, close_notify and
    /// FIN, then what the peer still sends is read and dropped until it
    /// closes too (for at most [`TLS_LINGER`]): a TLS server sends (TLS 1.3
    /// session tickets at least), and closing a socket with unread bytes
    /// makes the kernel reset the connection, which can cost the peer
    /// records it has received but not read yet.
    async fn shutdown(&mut self) {
        match self {
            Conn::Plain(stream) => {
                let _ = stream.shutdown().await;
            }
            Conn::Tls(stream) => {
                if stream.shutdown().await.is_err() {
                    return;
                }
                let mut discard = [0u8; 4096];
                let drain = async { while let Ok(1..) = stream.read(&mut discard).await {} };
                let _ = tokio::time::timeout(TLS_LINGER, drain).await;
            }
        }
    }
}

/// Reads straight from a socket's file descriptor, bypassing tokio's
/// readiness cache (the socket is non-blocking: nothing to read is
/// `WouldBlock`).
struct RawReader<'a>(&'a socket2::Socket);

impl Read for RawReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut socket: &socket2::Socket = self.0;
        socket.read(buf)
    }
}

/// The TLS form of the peer-closed check: feeds what the socket holds to
/// the rustls session (tickets, key updates, alerts), discarding any
/// application data. Closed on end of stream, close_notify or TLS error.
fn tls_peer_closed(stream: &mut TlsStream<TcpStream>) -> bool {
    let (tcp, session) = stream.get_mut();
    let socket = SockRef::from(&*tcp);
    let mut discard = [0u8; 4096];
    // Bounded, in case a peer keeps sending: still open as far as we know.
    for _ in 0..64 {
        match session.read_tls(&mut RawReader(&socket)) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => return false,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
        match session.process_new_packets() {
            Err(_) => return true,
            Ok(state) if state.peer_has_closed() => return true,
            Ok(_) => {}
        }
        while let Ok(n) = session.reader().read(&mut discard) {
            if n == 0 {
                return true;
            }
        }
    }
    false
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
        Ok(TcpOutput {
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

    async fn connect_to(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(local) = self.local_address {
            socket.bind(local)?;
        }
        let stream = socket.connect(addr).await?;
        // Go's net package, and so Heka, sends without Nagle delays.
        stream.set_nodelay(true)?;
        if let Some(period) = self.keep_alive {
            let sock = SockRef::from(&stream);
            sock.set_keepalive(true)?;
            if let Some(period) = period {
                sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(period))?;
            }
        }
        Ok(stream)
    }

    async fn connect_tcp(&self) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in tokio::net::lookup_host(self.address.as_str()).await? {
            if self
                .local_address
                .is_some_and(|local| local.is_ipv4() != addr.is_ipv4())
            {
                continue;
            }
            match self.connect_to(addr).await {
                Ok(stream) => return Ok(stream),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(ErrorKind::NotFound, "no usable address")))
    }

    /// A new connection, with its TLS handshake done when `use_tls`.
    async fn connect(&self) -> io::Result<Conn> {
        let stream = self.connect_tcp().await?;
        let Some(tls) = &self.tls else {
            return Ok(Conn::Plain(stream));
        };
        match tls.connector.connect(tls.server_name.clone(), stream).await {
            Ok(stream) => Ok(Conn::Tls(Box::new(stream))),
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!("TLS handshake failed: {err}"),
            )),
        }
    }

    /// Makes sure a live connection is open.
    async fn ensure_connected(&mut self) -> io::Result<()> {
        if self.conn.as_mut().is_some_and(Conn::peer_closed) {
            tracing::debug!(address = %self.address, "Peer closed the connection; reconnecting.");
            self.conn = None;
        }
        if self.conn.is_none() {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
                .await
                .map_err(|_| io::Error::new(ErrorKind::TimedOut, "connect timed out"))??;
            self.conn = Some(stream);
            self.since_connect = 0;
        }
        Ok(())
    }

    fn fail(&mut self, mark: BatchMark, next: usize, doing: &str, err: io::Error) -> PluginError {
        self.conn = None;
        self.resume = Some((mark, next));
        if !self.failing {
            self.failing = true;
            tracing::warn!(address = %self.address, error = %err, "TcpOutput {doing} failed; retrying.");
        }
        PluginError::retry(format!("{doing} {}: {err}", self.address))
    }

    async fn write_batch(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        let mark = BatchMark::of(batch);
        let mut next = match self.resume.take() {
            Some((resumed, index)) if resumed == mark => index,
            _ => 0,
        };
        while next < batch.len() {
            if let Err(err) = self.ensure_connected().await {
                return Err(self.fail(mark, next, "connecting to", err));
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
            let (written, result) = conn.write_counted(&batch.data[start..end]).await;
            if let Err(err) = result {
                let resume = resume_index(&batch.ends, start + written);
                return Err(self.fail(mark, resume, "writing to", err));
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
            conn.shutdown().await;
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
}

/// Builds a TcpOutput from its spec.
pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
    let config: TcpOutputConfig = crate::plugins::options(spec)?;
    Ok(Box::new(TcpOutput::new(spec, &config)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    const LIMIT: Duration = Duration::from_secs(5);

    async fn within<F: Future>(fut: F) -> F::Output {
        tokio::time::timeout(LIMIT, fut).await.expect("timed out")
    }

    fn spec(address: &str, options: &[(&str, toml::Value)]) -> PluginSpec {
        let mut spec = PluginSpec::new("Tcp", "TcpOutput").unwrap();
        spec.options.insert("address".into(), address.into());
        for (key, value) in options {
            spec.options.insert((*key).into(), value.clone());
        }
        spec
    }

    fn output(addr: SocketAddr, options: &[(&str, toml::Value)]) -> TcpOutput {
        let spec = spec(&addr.to_string(), options);
        let config: TcpOutputConfig = crate::plugins::options(&spec).unwrap();
        TcpOutput::new(&spec, &config).unwrap()
    }

    fn batch(records: &[&str]) -> EncodedBatch {
        let mut batch = EncodedBatch::default();
        for rec in records {
            batch.data.extend_from_slice(rec.as_bytes());
            batch.ends.push(batch.data.len());
        }
        batch
    }

    /// Calls `write` like the OutputRunner does: again with the same batch
    /// after every Retry, with a short pause. Returns the Retry count.
    async fn write_until_ok(out: &mut TcpOutput, batch: &EncodedBatch) -> usize {
        let mut retries = 0;
        loop {
            match within(out.write(batch)).await {
                Ok(()) => return retries,
                Err(PluginError::Retry(_)) if retries < 100 => retries += 1,
                Err(err) => panic!("after {retries} retries: {err}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Accepts one connection and reads it to its end.
    fn read_one(listener: TcpListener) -> tokio::task::JoinHandle<Vec<u8>> {
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf).await.unwrap();
            buf
        })
    }

    async fn listen() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    #[tokio::test]
    async fn delivers_batches_in_order() {
        let (listener, addr) = listen().await;
        let reader = read_one(listener);
        let mut out = output(addr, &[]);
        assert!(out.frames_protobuf_by_default());
        within(out.write(&batch(&["one\n", "two\n"])))
            .await
            .unwrap();
        within(out.write(&batch(&["three\n"]))).await.unwrap();
        within(out.shutdown()).await.unwrap();
        assert_eq!(within(reader).await.unwrap(), b"one\ntwo\nthree\n");
    }

    #[tokio::test]
    async fn refused_at_start_is_retried_until_the_peer_listens() {
        let (listener, addr) = listen().await;
        drop(listener);
        let mut out = output(addr, &[]);
        let b = batch(&["a", "b"]);
        assert!(matches!(
            within(out.write(&b)).await,
            Err(PluginError::Retry(_))
        ));
        let reader = read_one(TcpListener::bind(addr).await.unwrap());
        write_until_ok(&mut out, &b).await;
        within(out.shutdown()).await.unwrap();
        assert_eq!(within(reader).await.unwrap(), b"ab");
    }

    #[tokio::test]
    async fn survives_the_listener_dropping_and_coming_back() {
        let (listener, addr) = listen().await;
        let mut out = output(addr, &[]);
        let first = batch(&["a1;", "a2;", "a3;"]);
        let want = first.data.len();
        // The peer reads the first batch, then closes the connection and
        // stops listening.
        let reader = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; want];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        });
        within(out.write(&first)).await.unwrap();
        assert_eq!(within(reader).await.unwrap(), b"a1;a2;a3;");
        tokio::time::sleep(Duration::from_millis(50)).await;

        // The next batch finds the connection closed and the port refusing.
        let second = batch(&["b1;", "b2;"]);
        assert!(matches!(
            within(out.write(&second)).await,
            Err(PluginError::Retry(_))
        ));
        assert!(matches!(
            within(out.write(&second)).await,
            Err(PluginError::Retry(_))
        ));
        // The peer comes back on the same port; the same batch is resent.
        let reader = read_one(TcpListener::bind(addr).await.unwrap());
        write_until_ok(&mut out, &second).await;
        write_until_ok(&mut out, &batch(&["c1;"])).await;
        within(out.shutdown()).await.unwrap();
        assert_eq!(within(reader).await.unwrap(), b"b1;b2;c1;");
    }

    #[tokio::test]
    async fn reconnect_after_opens_a_new_connection_every_n_records() {
        let (listener, addr) = listen().await;
        let reader = tokio::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..3 {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                stream.read_to_end(&mut buf).await.unwrap();
                conns.push(String::from_utf8(buf).unwrap());
            }
            conns
        });
        let mut out = output(addr, &[("reconnect_after", 2.into())]);
        within(out.write(&batch(&["1", "2", "3"]))).await.unwrap();
        within(out.write(&batch(&["4", "5"]))).await.unwrap();
        within(out.shutdown()).await.unwrap();
        assert_eq!(within(reader).await.unwrap(), ["12", "34", "5"]);
    }

    #[tokio::test]
    async fn binds_local_address_and_sets_keep_alive() {
        let (listener, addr) = listen().await;
        let local = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut out = output(
            addr,
            &[
                ("local_address", local.to_string().into()),
                ("keep_alive", true.into()),
                ("keep_alive_period", 60.into()),
            ],
        );
        within(out.write(&batch(&["x"]))).await.unwrap();
        let (_stream, peer) = within(listener.accept()).await.unwrap();
        assert_eq!(peer, local);
        let conn = out.conn.as_ref().unwrap().tcp();
        assert!(SockRef::from(conn).keepalive().unwrap());
        assert!(conn.nodelay().unwrap());
    }

    #[test]
    fn resume_starts_at_the_first_record_not_wholly_written() {
        let ends = [3, 6, 11];
        assert_eq!(resume_index(&ends, 0), 0);
        assert_eq!(resume_index(&ends, 2), 0);
        assert_eq!(resume_index(&ends, 3), 1);
        assert_eq!(resume_index(&ends, 5), 1);
        assert_eq!(resume_index(&ends, 6), 2);
        assert_eq!(resume_index(&ends, 11), 3);
        assert_eq!(record_start(&ends, 0), 0);
        assert_eq!(record_start(&ends, 2), 6);
    }

    fn error(options: &[(&str, toml::Value)]) -> String {
        let spec = spec("localhost:9125", options);
        build(&spec, &Globals::default()).err().unwrap().message
    }

    mod tls {
        use super::super::super::tls::testing::Pki;
        use super::*;
        use heka_proto::deframer::{Deframer, Event};
        use heka_proto::framing::{DEFAULT_MAX_MESSAGE_SIZE, encode_frame};
        use heka_proto::prost::Message as _;
        use heka_proto::{Message, MessageView};
        use tokio_rustls::TlsAcceptor;

        fn acceptor(pki: &Pki, cert: &str) -> TlsAcceptor {
            let tls: TlsConfig = pki
                .table(&[
                    ("cert_file", format!("{cert}.pem").into()),
                    ("key_file", format!("{cert}.key").into()),
                ])
                .try_into()
                .unwrap();
            tls.acceptor(&PluginSpec::new("server", "TcpInput").unwrap())
                .unwrap()
        }

        fn tls_output(pki: &Pki, addr: SocketAddr) -> TcpOutput {
            let tls = pki.table(&[("root_cafile", "ca.pem".into())]);
            output(addr, &[("use_tls", true.into()), ("tls", tls.into())])
        }

        /// Heka frames of messages whose payloads are `payloads`.
        fn framed(payloads: &[String]) -> EncodedBatch {
            let mut batch = EncodedBatch::default();
            for payload in payloads {
                let msg = Message {
                    uuid: vec![7; 16].into(),
                    timestamp: 1,
                    payload: Some(payload.clone().into_bytes().into()),
                    ..Message::default()
                };
                encode_frame(
                    &msg.encode_to_vec(),
                    None,
                    DEFAULT_MAX_MESSAGE_SIZE,
                    &mut batch.data,
                )
                .unwrap();
                batch.ends.push(batch.data.len());
            }
            batch
        }

        /// The payloads of the Heka frames in `bytes`; every byte must be
        /// part of a whole frame.
        fn unframe(bytes: &[u8]) -> Vec<String> {
            let mut buf = bytes::BytesMut::from(bytes);
            let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
            let mut payloads = Vec::new();
            while let Some(event) = deframer.next_at_eof(&mut buf) {
                let Event::Record(record) = event else {
                    panic!("not a whole record: {event:?}");
                };
                let view = MessageView::decode(record.message).unwrap();
                payloads.push(String::from_utf8(view.payload().to_vec()).unwrap());
            }
            assert!(buf.is_empty());
            payloads
        }

        fn payloads(prefix: &str, n: usize, size: usize) -> Vec<String> {
            (0..n)
                .map(|i| format!("{prefix}{i:06}{}", "x".repeat(size)))
                .collect()
        }

        #[tokio::test]
        async fn delivers_framed_records_over_tls() {
            let pki = Pki::new();
            let (listener, addr) = listen().await;
            let tls = acceptor(&pki, "server");
            let reader = tokio::spawn(async move {
                let (socket, _) = listener.accept().await.unwrap();
                let mut stream = tls.accept(socket).await.unwrap();
                let mut buf = Vec::new();
                stream.read_to_end(&mut buf).await.unwrap();
                buf
            });
            let mut out = tls_output(&pki, addr);
            let small = payloads("small", 3, 10);
            // More than TLS_CHUNK, so the write is flushed in several chunks.
            let big = payloads("big", 100, 3000);
            within(out.write(&framed(&small))).await.unwrap();
            within(out.write(&framed(&big))).await.unwrap();
            within(out.shutdown()).await.unwrap();
            let got = unframe(&within(reader).await.unwrap());
            assert_eq!(got, [small, big].concat());
        }

        /// The peer reads one batch, then closes (with or without
        /// close_notify) while its TLS 1.3 session tickets still sit unread
        /// in the output's socket; the next batch must notice and go out
        /// on a new connection instead of vanishing.
        async fn resends_after_the_peer_closes(close_notify: bool) {
            let pki = Pki::new();
            let (listener, addr) = listen().await;
            let tls = acceptor(&pki, "server");
            let first = framed(&payloads("a", 3, 5));
            let want = first.data.len();
            let peer = tokio::spawn(async move {
                let (socket, _) = listener.accept().await.unwrap();
                let mut stream = tls.accept(socket).await.unwrap();
                let mut buf = vec![0; want];
                stream.read_exact(&mut buf).await.unwrap();
                if close_notify {
                    stream.shutdown().await.unwrap();
                }
                drop(stream);
                let (socket, _) = listener.accept().await.unwrap();
                let mut stream = tls.accept(socket).await.unwrap();
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).await.unwrap();
                (buf, rest)
            });
            let mut out = tls_output(&pki, addr);
            within(out.write(&first)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            let second = payloads("b", 2, 5);
            write_until_ok(&mut out, &framed(&second)).await;
            within(out.shutdown()).await.unwrap();
            let (got_first, rest) = within(peer).await.unwrap();
            assert_eq!(unframe(&got_first), payloads("a", 3, 5));
            assert_eq!(unframe(&rest), second);
        }

        #[tokio::test]
        async fn resends_after_the_peer_closes_with_close_notify() {
            resends_after_the_peer_closes(true).await;
        }

        #[tokio::test]
        async fn resends_after_the_peer_drops_the_connection() {
            resends_after_the_peer_closes(false).await;
        }

        #[tokio::test]
        async fn an_untrusted_server_is_a_retry() {
            let pki = Pki::new();
            let (listener, addr) = listen().await;
            let tls = acceptor(&pki, "other-server");
            let peer = tokio::spawn(async move {
                let (socket, _) = listener.accept().await.unwrap();
                tls.accept(socket).await.is_err()
            });
            let mut out = tls_output(&pki, addr);
            match within(out.write(&batch(&["x"]))).await {
                Err(PluginError::Retry(text)) => {
                    assert!(text.contains("TLS handshake failed"), "{text}");
                    assert!(text.contains("UnknownIssuer"), "{text}");
                }
                other => panic!("{other:?}"),
            }
            assert!(within(peer).await.unwrap());
        }

        #[test]
        fn tls_config_is_checked_at_build() {
            let pki = Pki::new();
            let with = |options: &[(&str, toml::Value)]| {
                build(&spec("localhost:9125", options), &Globals::default())
                    .err()
                    .map(|e| e.message)
            };
            let roots = pki.table(&[("root_cafile", "ca.pem".into())]);
            assert_eq!(
                with(&[("use_tls", true.into()), ("tls", roots.into())]),
                None
            );
            let err = with(&[("use_tls", true.into())]).unwrap();
            assert!(err.contains("tls.root_cafile"), "{err}");
            let missing = pki.table(&[("root_cafile", "nowhere.pem".into())]);
            let err = with(&[("use_tls", true.into()), ("tls", missing.clone().into())]).unwrap();
            assert!(
                err.contains("section `Tcp`") && err.contains("nowhere.pem"),
                "{err}"
            );
            // Without use_tls the table is only checked for unknown keys.
            assert_eq!(with(&[("tls", missing.into())]), None);
            let mut unknown = toml::Table::new();
            unknown.insert("verify".into(), true.into());
            let err = with(&[("tls", unknown.into())]).unwrap();
            assert!(err.contains("unknown key `tls.verify`"), "{err}");
        }
    }

    #[test]
    fn config_is_checked_at_build() {
        let ok = spec(
            "localhost:9125",
            &[
                ("tls", toml::Table::new().into()),
                ("buffering", toml::Table::new().into()),
            ],
        );
        assert!(build(&ok, &Globals::default()).is_ok());
        let mut defaults = PluginSpec::new("Tcp", "TcpOutput").unwrap();
        defaults.options.clear();
        assert!(build(&defaults, &Globals::default()).is_ok());
        assert!(error(&[("use_tls", true.into())]).contains("root_cafile"));
        assert!(error(&[("local_address", "nowhere".into())]).contains("local_address"));
        assert!(error(&[("timeout", 5.into())]).contains("timeout"));
        let no_port = build(&spec("localhost", &[]), &Globals::default());
        assert!(no_port.err().unwrap().message.contains("host:port"));
    }
}
