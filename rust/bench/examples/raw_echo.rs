//! A bare single-threaded WebSocket echo server (mio, hand-written framing, no queues, no second
//! thread): not a server to use, only a yardstick to show how fast `wsload` itself can go.
//!
//! `cargo run --release -p websocket-server-bench --example raw_echo -- PORT` prints
//! `LISTENING <port>`. It echoes each data frame's payload back unmasked with the same opcode;
//! it assumes well-behaved clients (no fragmentation, frames up to 16 MiB) and drops a connection
//! on anything else.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    tcp: TcpStream,
    upgraded: bool,
    inbuf: Vec<u8>,
    out: Vec<u8>,
}

fn main() -> io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let mut listener = TcpListener::bind(([127, 0, 0, 1], port).into())?;
    println!("LISTENING {}", listener.local_addr()?.port());
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut tcp, _)) = listener.accept() {
                    tcp.set_nodelay(true)?;
                    poll.registry().register(
                        &mut tcp,
                        Token(next),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.insert(
                        next,
                        Conn {
                            tcp,
                            upgraded: false,
                            inbuf: Vec::new(),
                            out: Vec::new(),
                        },
                    );
                    next += 1;
                }
                continue;
            }
            let id = event.token().0;
            let Some(conn) = conns.get_mut(&id) else {
                continue;
            };
            if !serve(conn, &mut buf) {
                let mut conn = conns.remove(&id).expect("present");
                let _ = poll.registry().deregister(&mut conn.tcp);
            }
        }
    }
}

/// Reads, echoes, writes; false when the connection is over.
fn serve(conn: &mut Conn, buf: &mut [u8]) -> bool {
    loop {
        match conn.tcp.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                conn.inbuf.extend_from_slice(&buf[..n]);
                if !handle(conn) {
                    return false;
                }
                if n < buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    while !conn.out.is_empty() {
        match conn.tcp.write(&conn.out) {
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    true
}

fn handle(conn: &mut Conn) -> bool {
    let mut pos = 0;
    if !conn.upgraded {
        let Some(end) = conn.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return conn.inbuf.len() < 16 * 1024;
        };
        let head = String::from_utf8_lossy(&conn.inbuf[..end]).to_string();
        let Some(key) = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        }) else {
            return false;
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        conn.out.extend_from_slice(
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes(),
        );
        conn.upgraded = true;
        pos = end + 4;
    }
    let data = &mut conn.inbuf;
    loop {
        let rest = &data[pos..];
        if rest.len() < 2 {
            break;
        }
        let opcode = rest[0] & 0x0f;
        let masked = rest[1] & 0x80 != 0;
        let (len, mut at) = match rest[1] & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 if rest.len() >= 10 => (
                u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes")) as usize,
                10,
            ),
            126 | 127 => break,
            n => (n as usize, 2),
        };
        if !masked || rest[0] & 0x80 == 0 || len > 16 << 20 {
            return false;
        }
        if rest.len() < at + 4 + len {
            break;
        }
        let mask = [rest[at], rest[at + 1], rest[at + 2], rest[at + 3]];
        at += 4;
        let start = pos + at;
        for (i, b) in data[start..start + len].iter_mut().enumerate() {
            *b ^= mask[i & 3];
        }
        match opcode {
            0x8 => return false,
            0x1 | 0x2 | 0x9 => {
                let reply = if opcode == 0x9 { 0x8a } else { 0x80 | opcode };
                conn.out.push(reply);
                if len < 126 {
                    conn.out.push(len as u8);
                } else if len <= 65535 {
                    conn.out.push(126);
                    conn.out.extend_from_slice(&(len as u16).to_be_bytes());
                } else {
                    conn.out.push(127);
                    conn.out.extend_from_slice(&(len as u64).to_be_bytes());
                }
                conn.out.extend_from_slice(&data[start..start + len]);
            }
            _ => {}
        }
        pos = start + len;
    }
    data.drain(..pos);
    true
}
