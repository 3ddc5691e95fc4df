//! Binding the listening socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::BindAddress;
use crate::error::StartError;

/// Binds a non-blocking listener. `Any` is a dual-stack IPv6 socket, or IPv4 alone on a machine
/// without IPv6.
pub fn bind(
    bind: BindAddress,
    port: u16,
    backlog: i32,
) -> Result<mio::net::TcpListener, StartError> {
    let result = match bind {
        BindAddress::Ip(ip) => bind_one(SocketAddr::new(ip, port), backlog),
        BindAddress::Any => {
            match bind_one(
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                backlog,
            ) {
                Err(e) if e.kind() != io::ErrorKind::AddrInUse => bind_one(
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                    backlog,
                ),
                other => other,
            }
        }
    };
    match result {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(StartError::AddressInUse(e)),
        Err(e) => Err(StartError::Bind(e)),
    }
}

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(matches!(addr.ip(), IpAddr::V6(ip) if !ip.is_unspecified()))?;
    }
    // Lets a stopped server listen again at once although old connections sit in TIME_WAIT. Not
    // on Windows, where SO_REUSEADDR lets a second socket bind a port that is already listening
    // (std and mio leave it off there too).
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Reports IPv4 peers of a dual-stack socket as IPv4 (`127.0.0.1`, not `::ffff:127.0.0.1`).
pub fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_is_reported_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert_eq!(normalize(mapped), "127.0.0.1:5000".parse().unwrap());
        let v6: SocketAddr = "[::1]:5000".parse().unwrap();
        assert_eq!(normalize(v6), v6);
    }

    #[test]
    fn busy_port_is_address_in_use() {
        let first = bind(BindAddress::Ip("127.0.0.1".parse().unwrap()), 0, 16).unwrap();
        let port = first.local_addr().unwrap().port();
        let second = bind(BindAddress::Ip("127.0.0.1".parse().unwrap()), port, 16);
        assert!(
            matches!(second, Err(StartError::AddressInUse(_))),
            "{second:?}"
        );
    }
}
