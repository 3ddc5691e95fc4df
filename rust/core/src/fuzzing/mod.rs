//! The fuzz harness (feature `fuzzing`; also built for this crate's unit tests): the targets in
//! `rust/fuzz` call these functions, and a unit test replays the checked-in seeds and
//! regressions through them on stable.
//!
//! The connection targets drive the real [`Connection`](crate::connection) state machine with a
//! real [`Context`](crate::connection) over an in-memory socket ([`MemorySocket`]): the fuzzer
//! picks how the client's bytes are cut into reads, how many bytes each write takes (short and
//! blocked writes), and interleaves deadlines and the main thread's commands. Any broken
//! invariant panics.

mod check;
mod harness;
pub mod seeds;
mod socket;
mod tls_client;

use std::net::SocketAddr;
use std::sync::Arc;

pub use check::{check_output, OutputSummary};
pub use harness::{config_bits, Op};
pub use socket::MemorySocket;

use crate::forwarded::{self, Cidr};
use crate::handshake::{self, Parsed, Verdict};
use crate::tls::TlsIdentity;

/// The TLS configurations of the wss:// targets: the server's with a test identity, and a client
/// that accepts it.
#[derive(Debug, Clone)]
pub struct TlsFixture {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl TlsFixture {
    /// From the test certificate and key (PEM).
    pub fn from_pem(certificate: &str, private_key: &str) -> TlsFixture {
        let identity = TlsIdentity {
            certificate_chain: certificate.to_string(),
            private_key: private_key.to_string(),
            extra_chain: String::new(),
        };
        TlsFixture {
            server: crate::tls::server_config(&identity).expect("test identity"),
            client: tls_client::client_config(),
        }
    }
}

/// Target `connection`: a ws:// connection driven by a script (see [`Op`]).
pub fn connection(data: &[u8]) {
    let _ = harness::run(data, harness::Mode::Plain, false);
}

/// Target `multiplayer`: as [`connection`] with the configuration of
/// `WebSocketMultiplayerServer.listen()`: the peer id is announced right after the 101.
pub fn multiplayer(data: &[u8]) {
    let _ = harness::run(data, harness::Mode::Plain, true);
}

/// Target `tls_connection`: a wss:// connection. Byte 0 odd: a real TLS client carries the
/// script's plaintext (`Raw` corrupts the encrypted stream); even: the script's bytes are the
/// TLS stream itself.
pub fn tls_connection(data: &[u8], fixture: &TlsFixture) {
    let Some((&mode, script)) = data.split_first() else {
        return;
    };
    let mode = if mode & 1 == 1 {
        harness::Mode::TunnelTls(Box::new(fixture.clone()))
    } else {
        harness::Mode::RawTls(fixture.server.clone())
    };
    let _ = harness::run(script, mode, false);
}

/// Target `handshake`: the upgrade request parser and the forwarding headers. Byte 0: the
/// server's protocols and extra headers (bits as in [`config_bits`]); byte 1: the TCP peer is a
/// trusted proxy when odd; the rest is the request.
pub fn handshake(data: &[u8]) {
    let flags = data.first().copied().unwrap_or(0);
    let trusted = data.get(1).copied().unwrap_or(0) & 1 == 1;
    let buf = data.get(2..).unwrap_or_default();
    let protocols: Vec<String> = match (flags >> config_bits::PROTOCOL_SHIFT) & 3 {
        0 => vec![],
        1 => vec!["chat".into()],
        2 => vec!["chat".into(), "superchat".into()],
        _ => vec!["binary".into()],
    };
    let extra_headers = if flags & config_bits::EXTRA_HEADERS != 0 {
        vec![("X-Server".to_string(), "fuzz".to_string())]
    } else {
        Vec::new()
    };
    forwarding_headers(buf);
    let parsed = handshake::parse_request(buf, &protocols, &extra_headers);
    let (verdict, consumed) = match parsed {
        Parsed::Partial => {
            assert!(
                buf.len() < handshake::MAX_REQUEST_HEAD,
                "oversized head kept waiting"
            );
            return;
        }
        Parsed::Done { verdict, consumed } => (verdict, consumed),
    };
    assert!(consumed <= buf.len(), "consumed more than given");
    let reply = match &verdict {
        Verdict::Accept { reply, .. } | Verdict::Refuse { reply, .. } => reply,
    };
    let summary = check_output(reply, None).unwrap_or_else(|e| panic!("reply: {e}"));
    let status = summary.status.expect("a whole reply head");
    let Verdict::Accept {
        protocol, request, ..
    } = &verdict
    else {
        assert_ne!(status, 101, "101 for a refused request");
        let head = reply_head_len(reply);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let _ = response.parse(reply);
        let length = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok());
        assert_eq!(
            Some(reply.len() - head),
            length,
            "refusal body and Content-Length differ"
        );
        return;
    };
    assert_eq!(status, 101, "an accepted request not answered with 101");
    assert_eq!(
        reply.len(),
        reply_head_len(reply),
        "101 with bytes after its head"
    );
    assert!(
        protocol.is_empty() || protocols.contains(protocol),
        "negotiated {protocol:?}"
    );
    let tcp: SocketAddr = "192.0.2.7:50000".parse().expect("valid");
    let everyone = [
        Cidr::parse("0.0.0.0/0").expect("valid"),
        Cidr::parse("::/0").expect("valid"),
    ];
    let trusted_list: &[Cidr] = if trusted { &everyone } else { &[] };
    let addr = forwarded::client_address(trusted_list, tcp, &request.headers);
    if !trusted {
        assert_eq!(addr, tcp, "an untrusted peer's headers were believed");
    }
    // The head alone decides the same way: what follows it is not part of the request.
    let again = handshake::parse_request(&buf[..consumed], &protocols, &extra_headers);
    assert_eq!(
        again,
        Parsed::Done { verdict, consumed },
        "the head alone decides otherwise"
    );
}

/// Every header-like line of the input as a `Forwarded` and an `X-Forwarded-For` value from a
/// trusted proxy, and as a CIDR: whatever the text, the parsers answer.
fn forwarding_headers(buf: &[u8]) {
    let tcp: SocketAddr = "[2001:db8::7]:50000".parse().expect("valid");
    let everyone = [
        Cidr::parse("0.0.0.0/0").expect("valid"),
        Cidr::parse("::/0").expect("valid"),
    ];
    let text = String::from_utf8_lossy(buf);
    for line in text.split("\r\n").take(64) {
        let value = line.split_once(':').map_or(line, |(_, v)| v).trim();
        for name in ["Forwarded", "X-Forwarded-For"] {
            let headers = vec![(name.to_string(), value.to_string())];
            let _ = forwarded::client_address(&everyone, tcp, &headers);
        }
        if let Ok(cidr) = Cidr::parse(value) {
            let _ = cidr.contains(tcp.ip());
            let _ = cidr.contains("192.0.2.1".parse().expect("valid"));
        }
    }
}

fn reply_head_len(reply: &[u8]) -> usize {
    reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(usize::MAX, |p| p + 4)
}

/// Runs `data` through the target named `target`; false for an unknown name.
pub fn run_target(target: &str, data: &[u8], fixture: &TlsFixture) -> bool {
    match target {
        "handshake" => handshake(data),
        "connection" => connection(data),
        "multiplayer" => multiplayer(data),
        "tls_connection" => tls_connection(data, fixture),
        _ => return false,
    }
    true
}

/// The targets, as named in `rust/fuzz/fuzz_targets`.
pub const TARGETS: [&str; 4] = ["handshake", "connection", "tls_connection", "multiplayer"];

#[cfg(test)]
mod tests;
