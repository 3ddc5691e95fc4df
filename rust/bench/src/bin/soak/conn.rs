//! One blocking client connection (plain TCP or rustls) that keeps whole messages: the soak checks
//! every byte, so unlike wsload's parser this one assembles each payload. Each client has its own
//! thread, so blocking reads with a timeout are all the scheduling it needs.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use crate::client::{self, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT};
use crate::target::Target;

/// A write the server does not take for this long means it stopped reading: the connection is
/// reported broken instead of hanging the client.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message accepted (the soak's are at most tens of KiB; the stats answer a few hundred
/// bytes).
const MAX_MESSAGE: usize = 16 << 20;

enum Io {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Io::Plain(s) => s,
            Io::Tls(s) => &s.sock,
        }
    }
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf),
            Io::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Plain(s) => s.write(buf),
            Io::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Io::Plain(s) => s.flush(),
            Io::Tls(s) => s.flush(),
        }
    }
}

/// What `recv` got.
#[derive(Debug)]
pub enum Msg {
    /// A whole data message (text or binary).
    Data(Vec<u8>),
    /// The server's close frame (its code, 1005 when none); the connection is over.
    Close(u16),
}

/// An open WebSocket connection.
pub struct Conn {
    io: Io,
    /// Received bytes not parsed yet.
    buf: Vec<u8>,
    /// A fragmented message being assembled.
    partial: Option<Vec<u8>>,
    /// Frame bytes to send (reused).
    out: Vec<u8>,
}

impl Conn {
    /// TCP connect, (TLS,) the HTTP upgrade; fails if any of it takes longer than `timeout`.
    pub fn open(target: &Target, key_state: &mut u64, timeout: Duration) -> io::Result<Conn> {
        let deadline = Instant::now() + timeout;
        let tcp = TcpStream::connect_timeout(&target.addr, timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let io = match &target.tls {
            None => Io::Plain(tcp),
            Some((config, name)) => {
                let session = ClientConnection::new(config.clone(), name.clone())
                    .map_err(io::Error::other)?;
                Io::Tls(Box::new(StreamOwned::new(session, tcp)))
            }
        };
        let mut conn = Conn {
            io,
            buf: Vec::with_capacity(64 * 1024),
            partial: None,
            out: Vec::new(),
        };
        let key = client::new_key(key_state);
        client::request(&mut conn.out, &target.host_header, &target.path, &key);
        conn.io.tcp().set_read_timeout(Some(timeout))?;
        conn.io.write_all(&conn.out)?;
        conn.io.flush()?;
        conn.out.clear();
        loop {
            match client::check_response(&conn.buf, &key) {
                Ok(Some(head_len)) => {
                    conn.buf.drain(..head_len);
                    return Ok(conn);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            if conn.fill(deadline)? == 0 {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
    }

    /// Reads once, waiting until `deadline` at most: the bytes added, 0 on timeout.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.io
            .tcp()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let at = self.buf.len();
        self.buf.resize(at + 64 * 1024, 0);
        let result = self.io.read(&mut self.buf[at..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(at + n);
        match result {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection without a close frame",
            )),
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// The next message, or `None` when `deadline` passes first. Pings are answered here.
    pub fn recv(&mut self, deadline: Instant) -> io::Result<Option<Msg>> {
        loop {
            if let Some(msg) = self.parse()? {
                return Ok(Some(msg));
            }
            if Instant::now() >= deadline || self.fill(deadline)? == 0 {
                // One more look: a read that timed out may still have added nothing.
                return Ok(None);
            }
        }
    }

    /// Takes one message out of `buf` if a whole one is there.
    fn parse(&mut self) -> io::Result<Option<Msg>> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        loop {
            let b = &self.buf;
            if b.len() < 2 {
                return Ok(None);
            }
            if b[1] & 0x80 != 0 {
                return Err(bad("masked frame from the server"));
            }
            if b[0] & 0x70 != 0 {
                return Err(bad("reserved bits set"));
            }
            let (len, hlen) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => {
                    let v = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
                    (usize::try_from(v).unwrap_or(usize::MAX), 10)
                }
                126 | 127 => return Ok(None),
                n => (n as usize, 2),
            };
            if len > MAX_MESSAGE {
                return Err(bad("frame too large"));
            }
            if b.len() < hlen + len {
                return Ok(None);
            }
            let fin = b[0] & 0x80 != 0;
            let opcode = b[0] & 0x0f;
            let payload = b[hlen..hlen + len].to_vec();
            self.buf.drain(..hlen + len);
            match opcode {
                OP_PING => {
                    self.send(OP_PONG, &payload)?;
                }
                OP_PONG => {}
                OP_CLOSE => {
                    let code = if payload.len() >= 2 {
                        u16::from_be_bytes([payload[0], payload[1]])
                    } else {
                        1005
                    };
                    return Ok(Some(Msg::Close(code)));
                }
                OP_TEXT | OP_BINARY => {
                    if self.partial.is_some() {
                        return Err(bad("new message inside a fragmented one"));
                    }
                    if fin {
                        return Ok(Some(Msg::Data(payload)));
                    }
                    self.partial = Some(payload);
                }
                OP_CONT => {
                    let Some(mut msg) = self.partial.take() else {
                        return Err(bad("continuation without a message"));
                    };
                    msg.extend_from_slice(&payload);
                    if msg.len() > MAX_MESSAGE {
                        return Err(bad("message too large"));
                    }
                    if fin {
                        return Ok(Some(Msg::Data(msg)));
                    }
                    self.partial = Some(msg);
                }
                _ => return Err(bad("unknown opcode")),
            }
        }
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.out.clear();
        client::push_frame(&mut self.out, opcode, payload);
        self.io.write_all(&self.out)?;
        self.io.flush()
    }

    /// Sends one binary message.
    pub fn send_binary(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(OP_BINARY, payload)
    }

    /// The clean way out: a close frame (1000), then data until the server's close frame or EOF
    /// (at most `wait`). Data that still arrives is handed to `on_data`. True when the server
    /// answered with its own close frame.
    pub fn close(mut self, wait: Duration, mut on_data: impl FnMut(Vec<u8>)) -> bool {
        if self.send(OP_CLOSE, &1000u16.to_be_bytes()).is_err() {
            return false;
        }
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match self.recv(deadline) {
                Ok(Some(Msg::Data(d))) => on_data(d),
                Ok(Some(Msg::Close(_))) => return true,
                Ok(None) | Err(_) => return false,
            }
        }
        false
    }

    /// Gone without a close frame: the socket is closed (FIN); with TLS, without close_notify.
    pub fn drop_fin(self) {
        let _ = self.io.tcp().shutdown(Shutdown::Both);
    }

    /// Gone abruptly: SO_LINGER 0, so closing the socket sends a TCP RST.
    pub fn drop_rst(self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on a socket we own, with a struct of the size we pass.
        unsafe {
            libc::setsockopt(
                self.io.tcp().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 65535 => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// A scripted server on loopback: the 101, then a ping, a message in three fragments, a large
    /// one byte by byte, and a close; it hands back what the client sent after the upgrade.
    #[test]
    fn whole_messages_come_out_of_fragments_and_split_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let big2 = big.clone();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut byte = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte).unwrap();
                req.push(byte[0]);
            }
            let text = String::from_utf8(req).unwrap();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
            let mut out = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").into_bytes();
            out.extend(frame(0x89, b"hb"));
            out.extend(frame(0x02, b"ab"));
            out.extend(frame(0x00, b"cd"));
            out.extend(frame(0x80, b"ef"));
            s.write_all(&out).unwrap();
            for b in frame(0x82, &big2) {
                s.write_all(&[b]).unwrap();
            }
            s.write_all(&frame(0x88, &1001u16.to_be_bytes())).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            got
        });
        let target =
            crate::target::parse(&format!("ws://{addr}"), crate::target::Trust::Nothing).unwrap();
        let mut key_state = 99;
        let mut conn = Conn::open(&target, &mut key_state, Duration::from_secs(10)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        match conn.recv(deadline).unwrap() {
            Some(Msg::Data(d)) => assert_eq!(d, b"abcdef"),
            other => panic!("{other:?}"),
        }
        match conn.recv(deadline).unwrap() {
            Some(Msg::Data(d)) => assert!(d == big),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            conn.recv(deadline).unwrap(),
            Some(Msg::Close(1001))
        ));
        conn.drop_fin();
        // What the client sent: the pong answering the ping ("hb", masked).
        let sent = server.join().unwrap();
        assert_eq!(sent[0], 0x80 | OP_PONG);
        assert_eq!(sent[1], 0x80 | 2);
        let unmasked: Vec<u8> = sent[6..8]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ sent[2 + i])
            .collect();
        assert_eq!(unmasked, b"hb");
    }
}
