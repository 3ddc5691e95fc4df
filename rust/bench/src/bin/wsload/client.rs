//! The client side of one connection, written by hand for speed: the byte stream (TCP or rustls),
//! the HTTP upgrade, masked frame encoding with a fixed mask, and a streaming frame parser that
//! keeps only the first 8 payload bytes of each message (the timestamp), so it needs no buffer
//! of its own and never allocates.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::ClientConnection;

/// The masking key of every frame we send. RFC 6455 wants it unpredictable to protect proxies
/// from cache poisoning; between a benchmark and its server a fixed key is harmless, and it lets
/// the masked payload be prepared once.
pub const MASK: [u8; 4] = [0x5a, 0x3c, 0x96, 0xe1];
const MASK64: u64 = u64::from_le_bytes([
    MASK[0], MASK[1], MASK[2], MASK[3], MASK[0], MASK[1], MASK[2], MASK[3],
]);

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

// ---------------------------------------------------------------------------------------------
// Stream

/// A connection's byte stream: plain TCP or a rustls session over it. Both non-blocking.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    tcp: TcpStream,
    session: ClientConnection,
    tcp_eof: bool,
}

impl Stream {
    pub fn new(
        tcp: TcpStream,
        tls: Option<&(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    ) -> io::Result<Stream> {
        Ok(match tls {
            None => Stream::Plain(tcp),
            Some((config, name)) => {
                let session = ClientConnection::new(config.clone(), name.clone())
                    .map_err(io::Error::other)?;
                Stream::Tls(Box::new(TlsStream {
                    tcp,
                    session,
                    tcp_eof: false,
                }))
            }
        })
    }

    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &mut tls.tcp,
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.tcp,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Reads plaintext; `Ok(0)` is the end of the stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read_plaintext(buf),
        }
    }

    /// Writes as much of `buf` as the socket (or rustls' bounded buffer) takes now.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => {
                let n = tls.session.writer().write(buf)?;
                match tls.write_records() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if n == 0 && !buf.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// TLS: writes the records rustls holds (`WouldBlock` when some remain).
    pub fn flush_records(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(tls) => tls.write_records(),
        }
    }
}

impl TlsStream {
    fn read_plaintext(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.tcp_eof {
                        return Ok(0);
                    }
                }
                Err(e) => return Err(e),
            }
            match self.session.read_tls(&mut self.tcp) {
                Ok(0) => self.tcp_eof = true,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if let Err(e) = self.session.process_new_packets() {
                let _ = self.write_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            match self.write_records() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn write_records(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Upgrade

/// A `Sec-WebSocket-Key`: base64 of 16 bytes.
pub type Key = [u8; 24];

/// A fresh key from a cheap generator (uniqueness, not secrecy, is what matters here).
pub fn new_key(state: &mut u64) -> Key {
    let mut raw = [0u8; 16];
    for chunk in raw.chunks_mut(8) {
        // xorshift64*
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    let mut key = [0u8; 24];
    base64(&raw, &mut key);
    key
}

fn base64(input: &[u8; 16], out: &mut [u8; 24]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = 0;
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            out[o + i] = if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize]
            } else {
                b'='
            };
        }
        o += 4;
    }
}

/// The upgrade request.
pub fn request(out: &mut Vec<u8>, host: &str, path: &str, key: &Key) {
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(
        b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ",
    );
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\n\r\n");
}

/// Looks at the response bytes so far: `Ok(None)` while incomplete, `Ok(Some(head_len))` for a
/// valid 101 (the bytes after the head are WebSocket frames).
pub fn check_response(buf: &[u8], key: &Key) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < 16 * 1024 => return Ok(None),
        Ok(httparse::Status::Partial) => return Err("response head too large".into()),
        Err(e) => return Err(format!("bad HTTP response: {e}")),
    };
    if response.code != Some(101) {
        return Err(format!(
            "HTTP {} {} instead of 101",
            response.code.unwrap_or(0),
            response.reason.unwrap_or("")
        ));
    }
    let accept = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Accept"))
        .map(|h| h.value)
        .ok_or("101 without Sec-WebSocket-Accept")?;
    let expected = tungstenite::handshake::derive_accept_key(key);
    if accept.trim_ascii() != expected.as_bytes() {
        return Err("wrong Sec-WebSocket-Accept".into());
    }
    Ok(Some(head_len))
}

// ---------------------------------------------------------------------------------------------
// Sending

/// Appends one masked frame.
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    push_header(out, opcode, payload.len());
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i & 3]));
}

fn push_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
}

/// A close frame with `code`.
pub fn push_close(out: &mut Vec<u8>, code: u16) {
    push_frame(out, OP_CLOSE, &code.to_be_bytes());
}

/// A binary frame of a fixed size, masked once; each copy gets its own 8-byte timestamp.
pub struct Template {
    bytes: Vec<u8>,
    ts_at: usize,
}

impl Template {
    /// `size` >= 8 payload bytes: the timestamp, then a printable pattern.
    pub fn new(size: usize) -> Template {
        let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 23) as u8).collect();
        let mut bytes = Vec::with_capacity(size + 14);
        push_frame(&mut bytes, OP_BINARY, &payload);
        let ts_at = bytes.len() - size;
        Template { bytes, ts_at }
    }

    /// Appends the frame carrying `ts` (little-endian) as its first 8 payload bytes.
    #[inline]
    pub fn push(&self, out: &mut Vec<u8>, ts: u64) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let at = start + self.ts_at;
        out[at..at + 8].copy_from_slice(&(ts ^ MASK64).to_le_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Receiving

/// What the parser found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message: its type, total length and first (up to) 8 bytes, zero-padded.
    Data {
        text: bool,
        len: u64,
        head: [u8; 8],
    },
    Ping {
        payload: [u8; 125],
        len: u8,
    },
    Pong,
    /// Close code, 1005 when none.
    Close {
        code: u16,
    },
}

/// A streaming parser of unmasked server frames; state survives between reads.
pub struct Parser {
    hdr: [u8; 10],
    hlen: u8,
    hneed: u8,
    in_payload: bool,
    remaining: u64,
    opcode: u8,
    fin: bool,
    in_message: bool,
    msg_text: bool,
    msg_len: u64,
    head: [u8; 8],
    head_len: u8,
    ctrl: [u8; 125],
    ctrl_len: u8,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            hdr: [0; 10],
            hlen: 0,
            hneed: 2,
            in_payload: false,
            remaining: 0,
            opcode: 0,
            fin: false,
            in_message: false,
            msg_text: false,
            msg_len: 0,
            head: [0; 8],
            head_len: 0,
            ctrl: [0; 125],
            ctrl_len: 0,
        }
    }
}

impl Parser {
    /// Consumes bytes from `data` up to the end of the next complete frame that yields
    /// something; returns how many bytes were used and the frame. `None` means all of `data`
    /// was used without completing one.
    #[inline]
    pub fn next(&mut self, data: &[u8]) -> Result<(usize, Option<Frame>), &'static str> {
        let mut pos = 0;
        loop {
            if !self.in_payload {
                let want = (self.hneed - self.hlen) as usize;
                let take = want.min(data.len() - pos);
                self.hdr[self.hlen as usize..self.hlen as usize + take]
                    .copy_from_slice(&data[pos..pos + take]);
                self.hlen += take as u8;
                pos += take;
                if self.hlen < self.hneed {
                    return Ok((pos, None));
                }
                if self.hlen == 2 {
                    if self.hdr[1] & 0x80 != 0 {
                        return Err("masked frame from the server");
                    }
                    self.hneed = match self.hdr[1] & 0x7f {
                        126 => 4,
                        127 => 10,
                        _ => 2,
                    };
                    if self.hneed > 2 {
                        continue;
                    }
                }
                if let Some(frame) = self.start_frame()? {
                    return Ok((pos, Some(frame)));
                }
            } else {
                let avail = data.len() - pos;
                if avail == 0 {
                    return Ok((pos, None));
                }
                let n = self.remaining.min(avail as u64) as usize;
                let chunk = &data[pos..pos + n];
                if self.opcode & 0x8 != 0 {
                    let at = self.ctrl_len as usize;
                    self.ctrl[at..at + n].copy_from_slice(chunk);
                    self.ctrl_len += n as u8;
                } else {
                    let at = self.head_len as usize;
                    if at < 8 {
                        let k = (8 - at).min(n);
                        self.head[at..at + k].copy_from_slice(&chunk[..k]);
                        self.head_len += k as u8;
                    }
                    self.msg_len += n as u64;
                }
                pos += n;
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    if let Some(frame) = self.end_frame()? {
                        return Ok((pos, Some(frame)));
                    }
                }
            }
        }
    }

    /// The header is complete.
    fn start_frame(&mut self) -> Result<Option<Frame>, &'static str> {
        let b0 = self.hdr[0];
        if b0 & 0x70 != 0 {
            return Err("reserved bits set");
        }
        let len = match self.hneed {
            4 => u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as u64,
            10 => u64::from_be_bytes(self.hdr[2..10].try_into().expect("8 bytes")),
            _ => (self.hdr[1] & 0x7f) as u64,
        };
        self.hlen = 0;
        self.hneed = 2;
        self.opcode = b0 & 0x0f;
        self.fin = b0 & 0x80 != 0;
        match self.opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if len > 125 || !self.fin {
                    return Err("bad control frame");
                }
                self.ctrl_len = 0;
            }
            OP_TEXT | OP_BINARY => {
                if self.in_message {
                    return Err("new message inside a fragmented one");
                }
                self.in_message = true;
                self.msg_text = self.opcode == OP_TEXT;
                self.msg_len = 0;
                self.head = [0; 8];
                self.head_len = 0;
            }
            OP_CONT => {
                if !self.in_message {
                    return Err("continuation without a message");
                }
            }
            _ => return Err("reserved opcode"),
        }
        self.remaining = len;
        self.in_payload = true;
        if len == 0 {
            return self.end_frame();
        }
        Ok(None)
    }

    fn end_frame(&mut self) -> Result<Option<Frame>, &'static str> {
        self.in_payload = false;
        Ok(match self.opcode {
            OP_PING => Some(Frame::Ping {
                payload: self.ctrl,
                len: self.ctrl_len,
            }),
            OP_PONG => Some(Frame::Pong),
            OP_CLOSE => Some(Frame::Close {
                code: if self.ctrl_len >= 2 {
                    u16::from_be_bytes([self.ctrl[0], self.ctrl[1]])
                } else {
                    1005
                },
            }),
            _ if self.fin => {
                self.in_message = false;
                Some(Frame::Data {
                    text: self.msg_text,
                    len: self.msg_len,
                    head: self.head,
                })
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 65535 {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    fn parse_all(parser: &mut Parser, data: &[u8], step: usize) -> Vec<Frame> {
        let mut frames = Vec::new();
        for chunk in data.chunks(step) {
            let mut pos = 0;
            while pos < chunk.len() {
                let (used, frame) = parser.next(&chunk[pos..]).unwrap();
                pos += used;
                frames.extend(frame);
            }
        }
        frames
    }

    #[test]
    fn frames_are_found_whatever_the_read_boundaries() {
        let mut stream = Vec::new();
        stream.extend(server_frame(OP_BINARY, true, &7u64.to_le_bytes()));
        stream.extend(server_frame(OP_PING, true, b"hi"));
        stream.extend(server_frame(OP_TEXT, true, &vec![b'x'; 300]));
        stream.extend(server_frame(OP_BINARY, false, b"abcd"));
        stream.extend(server_frame(OP_CONT, false, b"efgh"));
        stream.extend(server_frame(OP_CONT, true, &vec![b'z'; 70_000]));
        stream.extend(server_frame(OP_BINARY, true, b""));
        stream.extend(server_frame(OP_CLOSE, true, &1000u16.to_be_bytes()));
        for step in [1, 2, 3, 7, 64, 100_000] {
            let frames = parse_all(&mut Parser::default(), &stream, step);
            assert_eq!(frames.len(), 6, "step {step}: {frames:?}");
            assert_eq!(
                frames[0],
                Frame::Data {
                    text: false,
                    len: 8,
                    head: 7u64.to_le_bytes()
                }
            );
            assert!(matches!(frames[1], Frame::Ping { len: 2, payload } if &payload[..2] == b"hi"));
            assert!(matches!(
                frames[2],
                Frame::Data {
                    text: true,
                    len: 300,
                    ..
                }
            ));
            assert_eq!(
                frames[3],
                Frame::Data {
                    text: false,
                    len: 70_008,
                    head: *b"abcdefgh"
                }
            );
            assert_eq!(
                frames[4],
                Frame::Data {
                    text: false,
                    len: 0,
                    head: [0; 8]
                }
            );
            assert_eq!(frames[5], Frame::Close { code: 1000 });
        }
    }

    #[test]
    fn masked_frames_unmask_to_the_payload() {
        let mut out = Vec::new();
        push_frame(&mut out, OP_TEXT, b"hello world");
        assert_eq!(&out[..2], &[0x81, 0x80 | 11]);
        let unmasked: Vec<u8> = out[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ out[2 + (i & 3)])
            .collect();
        assert_eq!(unmasked, b"hello world");

        let template = Template::new(300);
        let mut out = Vec::new();
        template.push(&mut out, 0x0102_0304_0506_0708);
        assert_eq!(&out[..4], &[0x82, 0x80 | 126, 1, 44]);
        let payload: Vec<u8> = out[8..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[i & 3])
            .collect();
        assert_eq!(payload.len(), 300);
        assert_eq!(&payload[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(payload[8], b'a' + 8);
    }

    #[test]
    fn keys_are_base64_of_16_bytes_and_the_rfc_accept_checks() {
        let mut state = 42;
        let key = new_key(&mut state);
        assert_eq!(&key[22..], b"==");
        assert_ne!(new_key(&mut state), key);
        let rfc: Key = *b"dGhlIHNhbXBsZSBub25jZQ==";
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x82\x04";
        assert_eq!(check_response(response, &rfc), Ok(Some(response.len() - 2)));
        assert_eq!(check_response(&response[..20], &rfc), Ok(None));
        assert!(check_response(b"HTTP/1.1 503 No\r\n\r\n", &rfc).is_err());
    }

    #[test]
    fn base64_matches_a_known_value() {
        let mut out = [0u8; 24];
        base64(b"the sample nonce", &mut out);
        assert_eq!(&out, b"dGhlIHNhbXBsZSBub25jZQ==");
    }
}
