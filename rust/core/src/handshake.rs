//! The HTTP/1.1 upgrade (RFC 6455 §4.2): parsing the client's request, choosing a sub-protocol,
//! writing the 101 reply or a refusal.
//!
//! Done by hand rather than by tungstenite's handshake machine so the reactor owns the bytes:
//! the reply goes into the connection's own write queue and a later decision (an admission check,
//! TLS underneath) does not need a blocking stream.

use tungstenite::handshake::derive_accept_key;

use crate::events::UpgradeRequest;

/// Largest request head accepted; browsers send well under 2 KiB.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// What the server says to a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Upgrade: the reply to write, the negotiated protocol, and the request.
    Accept {
        /// The 101 reply.
        reply: Vec<u8>,
        /// Negotiated sub-protocol or "".
        protocol: String,
        /// Target and headers of the request.
        request: UpgradeRequest,
    },
    /// Refuse: the HTTP reply to write before closing, and why (for logs and tests).
    Refuse {
        /// The HTTP error reply.
        reply: Vec<u8>,
        /// Why, in words.
        why: String,
    },
}

/// Outcome of looking at the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// The head is complete: `consumed` bytes belong to it, the rest is WebSocket data.
    Done {
        /// Accept or refuse.
        verdict: Verdict,
        /// Length of the request head.
        consumed: usize,
    },
}

/// Looks at `buf` and, once the request head is whole, decides.
pub fn parse_request(
    buf: &[u8],
    protocols: &[String],
    extra_headers: &[(String, String)],
) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_HEAD => return Parsed::Partial,
        Ok(httparse::Status::Partial) => {
            return done(
                refuse(
                    431,
                    "Request Header Fields Too Large",
                    "request head too large",
                ),
                buf.len(),
            )
        }
        Err(httparse::Error::TooManyHeaders) => {
            return done(
                refuse(431, "Request Header Fields Too Large", "too many headers"),
                buf.len(),
            )
        }
        Err(e) => {
            return done(
                refuse(400, "Bad Request", &format!("malformed request: {e}")),
                buf.len(),
            )
        }
    };
    let verdict = decide(&req, protocols, extra_headers);
    done(verdict, consumed)
}

fn done(verdict: Verdict, consumed: usize) -> Parsed {
    Parsed::Done { verdict, consumed }
}

fn decide(
    req: &httparse::Request,
    protocols: &[String],
    extra_headers: &[(String, String)],
) -> Verdict {
    if req.method != Some("GET") {
        return refuse(405, "Method Not Allowed", "method is not GET");
    }
    if req.version != Some(1) {
        return refuse(400, "Bad Request", "not HTTP/1.1");
    }
    let header = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    };
    let tokens = |name: &'static str| -> Vec<String> {
        header(name)
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    };
    if !tokens("Upgrade")
        .iter()
        .any(|t| t.eq_ignore_ascii_case("websocket"))
    {
        return refuse(426, "Upgrade Required", "no 'Upgrade: websocket' header");
    }
    if !tokens("Connection")
        .iter()
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
    {
        return refuse(400, "Bad Request", "no 'Connection: Upgrade' header");
    }
    if header("Sec-WebSocket-Version").next().map(str::trim) != Some("13") {
        return refuse_version();
    }
    let key = match header("Sec-WebSocket-Key").next().map(str::trim) {
        Some(k) if is_valid_key(k) => k.to_string(),
        _ => return refuse(400, "Bad Request", "missing or invalid Sec-WebSocket-Key"),
    };
    let offered = tokens("Sec-WebSocket-Protocol");
    let protocol = match negotiate_protocol(&offered, protocols) {
        Ok(p) => p,
        Err(why) => return refuse(400, "Bad Request", &why),
    };

    let mut reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if !protocol.is_empty() {
        reply.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    for (name, value) in extra_headers {
        reply.push_str(&format!("{name}: {value}\r\n"));
    }
    reply.push_str("\r\n");

    let request = UpgradeRequest {
        target: req.path.unwrap_or("/").to_string(),
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    };
    Verdict::Accept {
        reply: reply.into_bytes(),
        protocol,
        request,
    }
}

/// Godot's rule: the first protocol the client offers that the server lists wins. When either
/// side lists protocols, a match is required (browsers and Godot 4's client reject a reply that
/// names a protocol they did not offer, or omits one they asked for with a server that has some).
pub fn negotiate_protocol(offered: &[String], supported: &[String]) -> Result<String, String> {
    match (offered.is_empty(), supported.is_empty()) {
        (true, true) => Ok(String::new()),
        (false, true) => Err(format!(
            "client asked for sub-protocol(s) {offered:?} but the server supports none"
        )),
        (true, false) => Err(format!(
            "client offered no sub-protocol; the server requires one of {supported:?}"
        )),
        (false, false) => offered
            .iter()
            .find(|o| supported.iter().any(|s| s == *o))
            .cloned()
            .ok_or_else(|| format!("no common sub-protocol: client offered {offered:?}, server supports {supported:?}")),
    }
}

/// A key is the base64 encoding of 16 bytes: 24 characters ending in "==".
fn is_valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn refuse(status: u16, text: &str, why: &str) -> Verdict {
    let body = format!("{why}\n");
    let reply = format!(
        "HTTP/1.1 {status} {text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Verdict::Refuse {
        reply: reply.into_bytes(),
        why: why.to_string(),
    }
}

fn refuse_version() -> Verdict {
    let why = "unsupported Sec-WebSocket-Version (13 required)";
    let body = format!("{why}\n");
    let reply = format!(
        "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Verdict::Refuse {
        reply: reply.into_bytes(),
        why: why.to_string(),
    }
}

/// Rejects header lines that would break the reply (CR/LF injection, empty or invalid names).
pub fn validate_extra_header(name: &str, value: &str) -> Result<(), String> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !name_ok {
        return Err(format!("invalid header name {name:?}"));
    }
    // These are the upgrade's own: a second copy makes clients (Godot's among them) refuse it.
    const RESERVED: [&str; 7] = [
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Content-Length",
    ];
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "header {name:?} is set by the WebSocket upgrade itself"
        ));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("header {name:?} has a line break in its value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(extra: &str) -> Vec<u8> {
        format!(
            "GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn accepts_rfc_example_with_the_rfc_accept_key() {
        let Parsed::Done {
            verdict:
                Verdict::Accept {
                    reply,
                    protocol,
                    request,
                },
            consumed,
        } = parse_request(&request(""), &[], &[])
        else {
            panic!("expected an accepted upgrade")
        };
        let reply = String::from_utf8(reply).unwrap();
        assert!(
            reply.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{reply}"
        );
        assert!(!reply.contains("Sec-WebSocket-Protocol"), "{reply}");
        assert_eq!(protocol, "");
        assert_eq!(request.target, "/chat?x=1");
        assert_eq!(consumed, request_len(""));
    }

    fn request_len(extra: &str) -> usize {
        request(extra).len()
    }

    #[test]
    fn partial_head_waits_for_more() {
        let r = request("");
        assert_eq!(parse_request(&r[..r.len() - 2], &[], &[]), Parsed::Partial);
    }

    #[test]
    fn first_offered_protocol_the_server_lists_wins() {
        let offered = s(&["b", "a"]);
        assert_eq!(negotiate_protocol(&offered, &s(&["a", "b"])).unwrap(), "b");
        assert!(negotiate_protocol(&offered, &s(&["c"])).is_err());
        assert!(negotiate_protocol(&[], &s(&["c"])).is_err());
        assert!(negotiate_protocol(&offered, &[]).is_err());
        assert_eq!(negotiate_protocol(&[], &[]).unwrap(), "");
    }

    #[test]
    fn protocol_header_lists_are_split_and_trimmed() {
        let Parsed::Done {
            verdict: Verdict::Accept {
                reply, protocol, ..
            },
            ..
        } = parse_request(
            &request("Sec-WebSocket-Protocol: x, chat\r\n"),
            &s(&["chat"]),
            &[],
        )
        else {
            panic!("expected an accepted upgrade")
        };
        assert_eq!(protocol, "chat");
        assert!(String::from_utf8(reply)
            .unwrap()
            .contains("Sec-WebSocket-Protocol: chat\r\n"));
    }

    #[test]
    fn extra_headers_are_written_in_the_reply() {
        let extra = vec![("X-Server".to_string(), "demo".to_string())];
        let Parsed::Done {
            verdict: Verdict::Accept { reply, .. },
            ..
        } = parse_request(&request(""), &[], &extra)
        else {
            panic!("expected an accepted upgrade")
        };
        assert!(String::from_utf8(reply)
            .unwrap()
            .contains("X-Server: demo\r\n"));
    }

    #[test]
    fn non_websocket_requests_are_refused() {
        let plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(matches!(
            parse_request(plain, &[], &[]),
            Parsed::Done {
                verdict: Verdict::Refuse { .. },
                ..
            }
        ));
        let garbage = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
        assert!(matches!(
            parse_request(garbage, &[], &[]),
            Parsed::Done {
                verdict: Verdict::Refuse { .. },
                ..
            }
        ));
    }

    #[test]
    fn oversized_head_is_refused() {
        let mut r = b"GET / HTTP/1.1\r\nX: ".to_vec();
        r.extend(std::iter::repeat_n(b'a', MAX_REQUEST_HEAD));
        let Parsed::Done {
            verdict: Verdict::Refuse { reply, .. },
            ..
        } = parse_request(&r, &[], &[])
        else {
            panic!("expected a refusal")
        };
        assert!(reply.starts_with(b"HTTP/1.1 431"));
    }

    #[test]
    fn header_injection_is_rejected() {
        assert!(validate_extra_header("X-Ok", "fine").is_ok());
        assert!(validate_extra_header("X-Bad", "a\r\nSet-Cookie: x").is_err());
        assert!(validate_extra_header("Bad Name", "v").is_err());
        assert!(validate_extra_header("connection", "close").is_err());
        assert!(validate_extra_header("Sec-WebSocket-Accept", "x").is_err());
    }
}
