//! The client's address behind a reverse proxy: `X-Forwarded-For` and `Forwarded` (RFC 7239),
//! believed only when the TCP peer is a trusted proxy.
//!
//! Either header can be written by anyone, so each proxy appends the address it saw on the
//! right. Walking from the right over trusted entries gives the first address no trusted proxy
//! vouches for: the client as far as the server can tell. Anything unparsable ends the walk and
//! the TCP address is kept, so a malformed header never yields a made-up address.

use std::net::{IpAddr, SocketAddr};

/// One trusted address or network (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `"1.2.3.4"`, `"10.0.0.0/8"`, `"::1"`, `"[::1]"`, `"fd00::/8"`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let bare = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr: IpAddr = bare
            .parse()
            .map_err(|_| format!("\"{text}\" is not an IP address or CIDR network"))?;
        let addr = unmap(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("\"{text}\": prefix length must be 0..={max}")),
            },
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => masked(
                u32::from(net) as u128,
                u32::from(ip) as u128,
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(net: u128, ip: u128, prefix: u8, bits: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (net >> shift) == (ip >> shift)
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is in any of `trusted`.
pub fn is_trusted(trusted: &[Cidr], ip: IpAddr) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// The client's address: `tcp` unless it is a trusted proxy and the forwarding headers name an
/// untrusted hop. `Forwarded` wins over `X-Forwarded-For` when both are present. The port is the
/// one in the header when it has one, otherwise the TCP port.
pub fn client_address(
    trusted: &[Cidr],
    tcp: SocketAddr,
    headers: &[(String, String)],
) -> SocketAddr {
    if !is_trusted(trusted, tcp.ip()) {
        return tcp;
    }
    let joined = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let hops = if let Some(value) = joined("forwarded") {
        forwarded_hops(&value)
    } else if let Some(value) = joined("x-forwarded-for") {
        x_forwarded_for_hops(&value)
    } else {
        return tcp;
    };
    let Some(hops) = hops else { return tcp };
    // From the right: skip every hop a trusted proxy added about another trusted proxy.
    for hop in hops.iter().rev() {
        match hop {
            Hop::Addr(addr) if is_trusted(trusted, addr.ip()) => continue,
            Hop::Addr(addr) => {
                let port = if addr.port() == 0 {
                    tcp.port()
                } else {
                    addr.port()
                };
                return SocketAddr::new(unmap(addr.ip()), port);
            }
            // "unknown" or an obfuscated name: nothing can be said about what lies beyond.
            Hop::Opaque => return tcp,
        }
    }
    tcp
}

#[derive(Debug, PartialEq, Eq)]
enum Hop {
    /// An address; port 0 when the header gave none.
    Addr(SocketAddr),
    /// `unknown` or an obfuscated identifier (`_hidden`).
    Opaque,
}

/// `X-Forwarded-For: client, proxy1, proxy2`. `None` when any entry is not an address.
fn x_forwarded_for_hops(value: &str) -> Option<Vec<Hop>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.eq_ignore_ascii_case("unknown") {
                Some(Hop::Opaque)
            } else {
                parse_node(e).map(Hop::Addr)
            }
        })
        .collect()
}

/// `Forwarded: for=1.2.3.4;proto=https, for="[2001:db8::1]:4711"` (RFC 7239). Elements without
/// `for=` are skipped. `None` when a `for=` value is malformed.
fn forwarded_hops(value: &str) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    for element in split_unquoted(value, ',') {
        for pair in split_unquoted(element, ';') {
            let Some((name, v)) = pair.split_once('=') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("for") {
                continue;
            }
            let v = v.trim();
            let v = match v.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"')?,
                None => v,
            };
            let hop = if v.eq_ignore_ascii_case("unknown") || v.starts_with('_') {
                Hop::Opaque
            } else {
                Hop::Addr(parse_node(v)?)
            };
            hops.push(hop);
        }
    }
    Some(hops)
}

/// Splits at `sep` outside double quotes.
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`. An obfuscated port (`:_x`) is ignored.
fn parse_node(text: &str) -> Option<SocketAddr> {
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: IpAddr = ip.parse().ok()?;
        let port = match after.strip_prefix(':') {
            None if after.is_empty() => 0,
            Some(p) => parse_port(p)?,
            None => return None,
        };
        return Some(SocketAddr::new(ip, port));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    // IPv4 with a port (an unbracketed IPv6 address never reaches here: it parsed above).
    let (ip, port) = text.rsplit_once(':')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    Some(SocketAddr::new(IpAddr::V4(ip), parse_port(port)?))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.starts_with('_') {
        return Some(0);
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| Cidr::parse(c).unwrap()).collect()
    }

    fn h(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_string(), value.to_string())]
    }

    const PROXY: &str = "127.0.0.1:5000";

    fn ip(addr: &str, trusted: &[&str], headers: &[(String, String)]) -> String {
        client_address(&nets(trusted), addr.parse().unwrap(), headers).to_string()
    }

    #[test]
    fn cidr_parsing_and_matching() {
        assert!(Cidr::parse("10.0.0.0/8")
            .unwrap()
            .contains("10.2.3.4".parse().unwrap()));
        assert!(!Cidr::parse("10.0.0.0/8")
            .unwrap()
            .contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("[fd00::]/8")
            .unwrap()
            .contains("fdab::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(!Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("::2".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains("::ffff:127.0.0.1".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host",
            "1.2.3.4/",
            "1.2.3.4/+8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let spoof = h("X-Forwarded-For", "1.2.3.4");
        assert_eq!(ip(PROXY, &["10.0.0.0/8"], &spoof), PROXY);
        assert_eq!(ip(PROXY, &[], &h("Forwarded", "for=1.2.3.4")), PROXY);
    }

    #[test]
    fn x_forwarded_for_walks_from_the_right_over_trusted_hops() {
        let t = ["127.0.0.1", "10.0.0.0/8"];
        assert_eq!(
            ip(PROXY, &t, &h("x-forwarded-for", "1.2.3.4")),
            "1.2.3.4:5000"
        );
        assert_eq!(
            ip(PROXY, &t, &h("X-Forwarded-For", "1.2.3.4, 127.0.0.1")),
            "1.2.3.4:5000"
        );
        // A client-written left part is not believed past the first untrusted hop.
        assert_eq!(
            ip(
                PROXY,
                &t,
                &h("X-Forwarded-For", "6.6.6.6, 5.5.5.5, 10.1.1.1")
            ),
            "5.5.5.5:5000"
        );
        // Several header lines form one list.
        let two = vec![
            ("X-Forwarded-For".to_string(), "9.9.9.9".to_string()),
            ("X-Forwarded-For".to_string(), "10.0.0.2".to_string()),
        ];
        assert_eq!(ip(PROXY, &t, &two), "9.9.9.9:5000");
        assert_eq!(
            ip(PROXY, &t, &h("X-Forwarded-For", "2001:db8::1")),
            "[2001:db8::1]:5000"
        );
        // Everything trusted: the TCP address stays.
        assert_eq!(ip(PROXY, &t, &h("X-Forwarded-For", "10.0.0.1")), PROXY);
    }

    #[test]
    fn forwarded_for_values_quoted_bracketed_with_ports() {
        let t = ["127.0.0.1"];
        assert_eq!(
            ip(
                PROXY,
                &t,
                &h("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")
            ),
            "192.0.2.60:5000"
        );
        assert_eq!(
            ip(
                PROXY,
                &t,
                &h("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")
            ),
            "[2001:db8:cafe::17]:4711"
        );
        assert_eq!(
            ip(PROXY, &t, &h("Forwarded", "for=\"192.0.2.43:47011\"")),
            "192.0.2.43:47011"
        );
        assert_eq!(
            ip(PROXY, &t, &h("Forwarded", "for=192.0.2.43, for=127.0.0.1")),
            "192.0.2.43:5000"
        );
        assert_eq!(
            ip(PROXY, &t, &h("Forwarded", "For=\"[::1]\"")),
            PROXY.replace("127.0.0.1:5000", "[::1]:5000")
        );
        // Forwarded wins over X-Forwarded-For.
        let both = vec![
            ("X-Forwarded-For".to_string(), "1.1.1.1".to_string()),
            ("Forwarded".to_string(), "for=2.2.2.2".to_string()),
        ];
        assert_eq!(ip(PROXY, &t, &both), "2.2.2.2:5000");
    }

    #[test]
    fn unknown_obfuscated_and_garbage_fall_back_to_the_tcp_address() {
        let t = ["127.0.0.1"];
        for (name, value) in [
            ("Forwarded", "for=unknown"),
            ("Forwarded", "for=_hidden"),
            ("Forwarded", "for=\"[2001:db8::1"),
            ("Forwarded", "for=not-an-ip"),
            ("Forwarded", "proto=https"),
            ("X-Forwarded-For", "garbage"),
            ("X-Forwarded-For", "1.2.3.4, garbage"),
            ("X-Forwarded-For", "unknown"),
            ("X-Forwarded-For", ""),
            ("X-Forwarded-For", "999.1.1.1"),
        ] {
            assert_eq!(ip(PROXY, &t, &h(name, value)), PROXY, "{name}: {value}");
        }
    }
}
