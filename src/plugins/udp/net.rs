//! What UdpInput and UdpOutput share: Heka's `net` key (`udp`, `udp4`,
//! `udp6`, `unixgram`) and turning an `address` into a socket address of
//! that network. CarbonOutput's UDP mode and StatsdInput resolve through
//! here too.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::net::SocketAddr as UnixAddr;

/// The `net` key's default.
pub const DEFAULT_NET: &str = "udp";

/// A datagram network, as Heka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// `udp`: IPv4 or IPv6, whichever the address resolves to first.
    Udp,
    /// `udp4`: IPv4 only.
    Udp4,
    /// `udp6`: IPv6 only.
    Udp6,
    /// `unixgram`: a Unix datagram socket; the address is a path, or
    /// `@name` for a Linux abstract socket.
    Unixgram,
}

impl Net {
    /// The network named `text`, if Heka knows it.
    pub fn parse(text: &str) -> Option<Net> {
        Some(match text {
            "udp" => Net::Udp,
            "udp4" => Net::Udp4,
            "udp6" => Net::Udp6,
            "unixgram" => Net::Unixgram,
            _ => return None,
        })
    }

    /// Whether `addr` belongs to this network.
    pub fn accepts(self, addr: &SocketAddr) -> bool {
        match self {
            Net::Udp => true,
            Net::Udp4 => addr.is_ipv4(),
            Net::Udp6 => addr.is_ipv6(),
            Net::Unixgram => false,
        }
    }
}

/// The error for a `net` value Heka does not know.
pub fn unknown_net(text: &str) -> String {
    format!("net `{text}` is not supported (udp, udp4, udp6, unixgram)")
}

/// Resolves `address` (`host:port`) to the first address of `net`
/// (blocking: used when a plugin is prepared, before the pipeline runs).
pub fn resolve(address: &str, net: Net) -> io::Result<SocketAddr> {
    if address.starts_with(':') {
        return every_interface(address, net);
    }
    pick(address, net, address.to_socket_addrs()?)
}

/// Go's `:port`: every interface of `net` (`udp` takes IPv6 when the
/// host has it, which on Linux takes IPv4 too).
fn every_interface(address: &str, net: Net) -> io::Result<SocketAddr> {
    let mut addrs = Vec::new();
    for candidate in crate::plugins::listen::candidates(address) {
        addrs.extend(candidate.to_socket_addrs()?);
    }
    if net == Net::Udp && !ipv6_available() {
        addrs.retain(SocketAddr::is_ipv4);
    }
    pick(address, net, addrs.into_iter())
}

fn ipv6_available() -> bool {
    std::net::UdpSocket::bind("[::1]:0").is_ok()
}

/// Resolves `address` like [`resolve`], without blocking the arbiter.
pub async fn resolve_async(address: &str, net: Net) -> io::Result<SocketAddr> {
    if address.starts_with(':') {
        return every_interface(address, net);
    }
    pick(address, net, tokio::net::lookup_host(address).await?)
}

fn pick(
    address: &str,
    net: Net,
    mut addrs: impl Iterator<Item = SocketAddr>,
) -> io::Result<SocketAddr> {
    addrs.find(|a| net.accepts(a)).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("`{address}` has no {net:?} address"),
        )
    })
}

/// A Unix datagram address: a path, or `@name` for an abstract socket
/// (Linux only, as in Heka).
pub fn unix_addr(address: &str) -> io::Result<UnixAddr> {
    match address.strip_prefix('@') {
        Some(name) => abstract_addr(name),
        None => UnixAddr::from_pathname(address),
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &str) -> io::Result<UnixAddr> {
    use std::os::linux::net::SocketAddrExt;
    UnixAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &str) -> io::Result<UnixAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux-specific",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_s_port_only_form_is_every_interface_of_the_net() {
        let v4 = resolve(":8125", Net::Udp4).unwrap();
        assert_eq!(v4, "0.0.0.0:8125".parse::<SocketAddr>().unwrap());
        let any = resolve(":8125", Net::Udp).unwrap();
        assert!(any.ip().is_unspecified() && any.port() == 8125, "{any}");
        if ipv6_available() {
            let v6 = resolve(":8125", Net::Udp6).unwrap();
            assert_eq!(v6, "[::]:8125".parse::<SocketAddr>().unwrap());
        }
        assert!(resolve(":8125", Net::Unixgram).is_err());
    }

    #[test]
    fn nets_filter_address_families() {
        assert_eq!(Net::parse("udp6"), Some(Net::Udp6));
        assert_eq!(Net::parse("tcp"), None);
        let v4 = resolve("127.0.0.1:9", Net::Udp4).unwrap();
        assert!(v4.is_ipv4());
        assert!(resolve("127.0.0.1:9", Net::Udp6).is_err());
        assert!(resolve("[::1]:9", Net::Udp).unwrap().is_ipv6());
    }

    #[test]
    fn unix_addresses_are_paths_or_abstract_names() {
        let path = unix_addr("/tmp/x.sock").unwrap();
        assert_eq!(path.as_pathname().unwrap().to_str(), Some("/tmp/x.sock"));
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let abs = unix_addr("@heka").unwrap();
            assert_eq!(abs.as_abstract_name(), Some(&b"heka"[..]));
        }
    }
}
