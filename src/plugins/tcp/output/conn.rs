//! TcpOutput's connection to its peer, plain TCP or TLS over TCP: opening
//! it (resolving, binding, keep-alive, the TLS handshake), checking whether
//! the peer closed it, writing with a count of what surely left (flushed
//! in [`TLS_CHUNK`]s over TLS), and closing it. The plugin in
//! `output.rs` owns one and replaces it on failure; see its module docs
//! for why each of these matters to delivery.

use std::io::{self, ErrorKind, Read};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use super::super::tls::TlsClient;
use super::{TLS_CHUNK, TLS_LINGER};

/// One open connection: plain TCP, or TLS over TCP.
#[derive(Debug)]
pub(super) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// A new connection to `address` (`host:port`; each resolved address
    /// is tried in turn), bound to `local_address` when set, with TCP
    /// keep-alive when `keep_alive` is set, and its TLS handshake done
    /// when `tls` is set.
    pub(super) async fn open(
        address: &str,
        local_address: Option<SocketAddr>,
        keep_alive: Option<Option<Duration>>,
        tls: Option<&TlsClient>,
    ) -> io::Result<Conn> {
        let stream = connect_tcp(address, local_address, keep_alive).await?;
        let Some(tls) = tls else {
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

    /// The TCP socket underneath.
    #[cfg(test)]
    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(stream) => stream,
            Conn::Tls(stream) => stream.get_ref().0,
        }
    }

    /// True when the peer closed (or reset) the connection. Both checks
    /// go straight to the socket without blocking: tokio's readiness cache
    /// could still say "not readable" for a close that already arrived.
    pub(super) fn peer_closed(&mut self) -> bool {
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
    pub(super) async fn write_counted(&mut self, buf: &[u8]) -> (usize, io::Result<()>) {
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

    /// Reads what the peer sent (acknowledgements, in `require_acks`
    /// mode); 0 at its end.
    pub(super) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(stream) => stream.read(buf).await,
            Conn::Tls(stream) => stream.read(buf).await,
        }
    }

    /// Closes gracefully: FIN after the data. Over TLS, close_notify and
    /// FIN, then what the peer still sends is read and dropped until it
    /// closes too (for at most [`TLS_LINGER`]): a TLS server sends (TLS 1.3
    /// session tickets at least), and closing a socket with unread bytes
    /// makes the kernel reset the connection, which can cost the peer
    /// records it has received but not read yet. With `linger`, a plain
    /// connection does the same (an acknowledging peer sends too).
    pub(super) async fn shutdown(&mut self, linger: bool) {
        match self {
            Conn::Plain(stream) => {
                if stream.shutdown().await.is_err() || !linger {
                    return;
                }
                let mut discard = [0u8; 4096];
                let drain = async { while let Ok(1..) = stream.read(&mut discard).await {} };
                let _ = tokio::time::timeout(TLS_LINGER, drain).await;
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

/// A connection to the first of `address`'s resolved addresses that
/// takes one (skipping those of another family than `local_address`).
async fn connect_tcp(
    address: &str,
    local_address: Option<SocketAddr>,
    keep_alive: Option<Option<Duration>>,
) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host(address).await? {
        if local_address.is_some_and(|local| local.is_ipv4() != addr.is_ipv4()) {
            continue;
        }
        match connect_to(addr, local_address, keep_alive).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(ErrorKind::NotFound, "no usable address")))
}

/// One connection attempt to `addr`, with Heka's socket options.
async fn connect_to(
    addr: SocketAddr,
    local_address: Option<SocketAddr>,
    keep_alive: Option<Option<Duration>>,
) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(local) = local_address {
        socket.bind(local)?;
    }
    let stream = socket.connect(addr).await?;
    // Go's net package, and so Heka, sends without Nagle delays.
    stream.set_nodelay(true)?;
    if let Some(period) = keep_alive {
        let sock = SockRef::from(&stream);
        sock.set_keepalive(true)?;
        if let Some(period) = period {
            sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(period))?;
        }
    }
    Ok(stream)
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
