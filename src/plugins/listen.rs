//! Listening addresses as Heka configs write them (Go's `net.Listen`):
//! `host:port`, or `:port` for every interface. Shared by the plugins that
//! accept connections (TcpInput, HttpListenInput, DashboardOutput) and by
//! the datagram plugins' address resolution (`udp/net.rs`).

use std::io;
use std::net::TcpListener;

/// The socket addresses to try, in order, for `address`: `:port` is every
/// interface, IPv6 (which on Linux takes IPv4 too) where the host has it,
/// else IPv4; anything else is itself.
pub fn candidates(address: &str) -> Vec<String> {
    match address.strip_prefix(':') {
        Some(port) => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
        None => vec![address.to_owned()],
    }
}

/// A non-blocking listener on `address` (see [`candidates`]); the error is
/// the last candidate's.
pub fn bind_tcp(address: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for candidate in candidates(address) {
        match TcpListener::bind(&candidate) {
            Ok(listener) => {
                listener.set_nonblocking(true)?;
                return Ok(listener);
            }
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_s_port_only_form_means_every_interface() {
        assert_eq!(candidates(":4352"), ["[::]:4352", "0.0.0.0:4352"]);
        assert_eq!(candidates("127.0.0.1:5565"), ["127.0.0.1:5565"]);
        assert_eq!(candidates("[::1]:5565"), ["[::1]:5565"]);
    }

    #[test]
    fn a_listener_is_non_blocking_and_a_busy_port_is_an_error() {
        // Tests bind 127.0.0.1 only; the `:port` form is checked above.
        let listener = bind_tcp("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let busy = bind_tcp(&address).unwrap_err();
        assert_eq!(busy.kind(), io::ErrorKind::AddrInUse);
        assert!(bind_tcp("not an address").is_err());
    }
}
