//! Helpers for the loopback tests: a watchdog, a server harness that waits for events with a
//! deadline, tungstenite clients with socket timeouts, and a raw client for hand-made frames.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Response;
use tungstenite::{HandshakeError, Message, WebSocket};
use websocket_server_core::{
    BindAddress, Event, PeerHandle, PeerId, Sender, Server, ServerConfig, UpgradeRequest,
};

/// How long a wait for an event may take before the test fails.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read/write timeout of every client socket: a blocked client fails instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A test still running after this long aborts the whole process.
pub const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(30);

/// Aborts the process if the test that created it runs longer than [`WATCHDOG_TIMEOUT`].
pub struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

/// Arms a watchdog for the current test; it is disarmed when the returned guard drops.
pub fn watchdog() -> Watchdog {
    let name = thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG_TIMEOUT) {
            eprintln!("watchdog: test `{name}` still running after {WATCHDOG_TIMEOUT:?}; aborting");
            std::process::abort();
        }
    });
    Watchdog { _disarm: tx }
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// A server on 127.0.0.1, a free port, default everything else.
pub fn local_config() -> ServerConfig {
    ServerConfig {
        bind: BindAddress::Ip(Ipv4Addr::LOCALHOST.into()),
        port: 0,
        ..ServerConfig::default()
    }
}

/// A short, comparable record of an event, kept for failure messages and absence checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Connected {
        peer: PeerId,
        addr: SocketAddr,
        protocol: String,
    },
    Message {
        peer: PeerId,
        len: usize,
        text: bool,
        head: String,
    },
    CloseRequest {
        peer: PeerId,
        code: u16,
        reason: String,
    },
    Disconnected {
        peer: PeerId,
        clean: bool,
    },
    Admission {
        peer: PeerId,
        addr: SocketAddr,
    },
    Fault {
        peer: Option<PeerId>,
        message: String,
    },
}

impl Seen {
    fn of(event: &Event) -> Seen {
        match event {
            Event::Connected { peer, protocol, .. } => Seen::Connected {
                peer: peer.id(),
                addr: peer.addr(),
                protocol: protocol.clone(),
            },
            Event::Message { peer, data, text } => Seen::Message {
                peer: *peer,
                len: data.len(),
                text: *text,
                head: String::from_utf8_lossy(&data[..data.len().min(16)]).into_owned(),
            },
            Event::CloseRequest { peer, code, reason } => Seen::CloseRequest {
                peer: *peer,
                code: *code,
                reason: reason.clone(),
            },
            Event::Disconnected { peer, clean } => Seen::Disconnected {
                peer: *peer,
                clean: *clean,
            },
            Event::Admission { peer, addr, .. } => Seen::Admission {
                peer: *peer,
                addr: *addr,
            },
            Event::Fault { peer, message } => Seen::Fault {
                peer: *peer,
                message: message.clone(),
            },
        }
    }

    pub fn peer(&self) -> PeerId {
        match self {
            Seen::Connected { peer, .. }
            | Seen::Message { peer, .. }
            | Seen::CloseRequest { peer, .. }
            | Seen::Disconnected { peer, .. }
            | Seen::Admission { peer, .. } => *peer,
            // 0 is no peer's id.
            Seen::Fault { peer, .. } => peer.unwrap_or(0),
        }
    }
}

/// What a `Connected` event carried.
pub struct Connected {
    pub peer: PeerHandle,
    pub protocol: String,
    pub request: UpgradeRequest,
}

/// A running server plus the events taken from it: `pending` ones not yet claimed by a wait, and
/// the `history` of every event ever drained.
pub struct Harness {
    pub server: Server,
    pending: Vec<Event>,
    pub history: Vec<Seen>,
}

impl Harness {
    pub fn start(config: ServerConfig) -> Harness {
        let server = Server::start(config).expect("server starts");
        Harness {
            server,
            pending: Vec::new(),
            history: Vec::new(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn sender(&self) -> &Sender {
        self.server.sender()
    }

    /// Takes whatever the server has published.
    pub fn poll(&mut self) {
        let mut batch = Vec::new();
        self.server.drain_events(&mut batch);
        for event in batch {
            self.history.push(Seen::of(&event));
            self.pending.push(event);
        }
    }

    /// Waits (up to [`EVENT_TIMEOUT`]) for the oldest pending event `pick` accepts, removes it
    /// and returns what `pick` made of it. Other events stay pending, in order.
    pub fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            self.poll();
            if let Some((index, value)) = self
                .pending
                .iter()
                .enumerate()
                .find_map(|(i, e)| pick(e).map(|v| (i, v)))
            {
                self.pending.remove(index);
                return value;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {what} within {EVENT_TIMEOUT:?}; events seen ({} in all, last 40 shown): {:#?}",
                    self.history.len(),
                    &self.history[self.history.len().saturating_sub(40)..]
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn wait_connected(&mut self) -> Connected {
        self.wait_for("a Connected event", |e| match e {
            Event::Connected {
                peer,
                protocol,
                request,
            } => Some(Connected {
                peer: peer.clone(),
                protocol: protocol.clone(),
                request: request.clone(),
            }),
            _ => None,
        })
    }

    /// The next message of `id`: payload and text flag.
    pub fn wait_message(&mut self, id: PeerId) -> (Vec<u8>, bool) {
        self.wait_for(&format!("a Message from peer {id}"), |e| match e {
            Event::Message { peer, data, text } if *peer == id => Some((data.to_vec(), *text)),
            _ => None,
        })
    }

    pub fn wait_close_request(&mut self, id: PeerId) -> (u16, String) {
        self.wait_for(&format!("a CloseRequest from peer {id}"), |e| match e {
            Event::CloseRequest { peer, code, reason } if *peer == id => {
                Some((*code, reason.clone()))
            }
            _ => None,
        })
    }

    /// The `clean` flag of `id`'s Disconnected event.
    pub fn wait_disconnected(&mut self, id: PeerId) -> bool {
        self.wait_for(
            &format!("a Disconnected event for peer {id}"),
            |e| match e {
                Event::Disconnected { peer, clean } if *peer == id => Some(*clean),
                _ => None,
            },
        )
    }

    /// How many drained events match `pred`.
    pub fn count(&self, pred: impl Fn(&Seen) -> bool) -> usize {
        self.history.iter().filter(|s| pred(s)).count()
    }

    /// Every drained event of one peer, in order.
    pub fn history_of(&self, id: PeerId) -> Vec<Seen> {
        self.history
            .iter()
            .filter(|s| s.peer() == id)
            .cloned()
            .collect()
    }
}

/// A blocking tungstenite client over a plain TCP stream.
pub type Client = WebSocket<TcpStream>;

pub fn ws_url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

/// A TCP connection with read/write timeouts and Nagle off.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("TCP connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Upgrades a fresh connection with `request`; the error is the client's view of a refusal.
pub fn try_connect(
    addr: SocketAddr,
    request: impl IntoClientRequest,
) -> Result<(Client, Response), tungstenite::Error> {
    match tungstenite::client(request, tcp(addr)) {
        Ok(pair) => Ok(pair),
        Err(HandshakeError::Failure(e)) => Err(e),
        Err(HandshakeError::Interrupted(_)) => panic!("handshake interrupted on a blocking socket"),
    }
}

/// Connects to `ws://addr/` and expects the upgrade to succeed.
pub fn connect(addr: SocketAddr) -> Client {
    try_connect(addr, ws_url(addr, "/"))
        .expect("WebSocket upgrade")
        .0
}

/// Reads the next message (plain or TLS client); fails the test on an error or a timeout.
pub fn recv<S: Read + Write>(client: &mut WebSocket<S>) -> Message {
    match client.read() {
        Ok(message) => message,
        Err(e) => panic!("client read failed: {e}"),
    }
}

/// Short description of a client-side message (never the whole payload).
pub fn describe(message: &Message) -> String {
    match message {
        Message::Text(t) => format!("Text({} bytes)", t.len()),
        Message::Binary(b) => format!("Binary({} bytes)", b.len()),
        Message::Ping(p) => format!("Ping({p:?})"),
        Message::Pong(p) => format!("Pong({p:?})"),
        Message::Close(c) => format!("Close({c:?})"),
        Message::Frame(_) => "Frame".to_string(),
    }
}

/// Reads the server's close frame: code and reason.
pub fn recv_close<S: Read + Write>(client: &mut WebSocket<S>) -> (u16, String) {
    match recv(client) {
        Message::Close(Some(frame)) => (u16::from(frame.code), frame.reason.as_str().to_string()),
        other => panic!(
            "expected a Close frame with a code, got {}",
            describe(&other)
        ),
    }
}

/// Whether a client error is a timeout rather than the end of the connection.
pub fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

/// Reads until the connection ends (no data message may arrive first); fails on a timeout.
pub fn expect_end(client: &mut Client) {
    loop {
        match client.read() {
            Ok(Message::Close(_)) | Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
            Ok(other) => panic!("expected the connection to end, got {}", describe(&other)),
            Err(e) if is_timeout(&e) => panic!("connection still open after {IO_TIMEOUT:?}"),
            Err(_) => return,
        }
    }
}

pub const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Opens a raw TCP connection and upgrades it by hand; returns it positioned after the 101 head.
pub fn raw_upgrade(addr: SocketAddr) -> TcpStream {
    let mut stream = tcp(addr);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    // Byte by byte, so nothing after the head is consumed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => panic!(
                "connection ended during the upgrade; got {:?}",
                String::from_utf8_lossy(&head)
            ),
            Err(e) => panic!(
                "reading the upgrade reply: {e}; got {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.starts_with("HTTP/1.1 101 "),
        "expected a 101 reply, got {head:?}"
    );
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head:?}"
    );
    stream
}

/// A single final frame, masked as a client must.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        len if len < 126 => out.push(0x80 | len as u8),
        len if len <= u16::MAX as usize => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one (unmasked) frame from the server: opcode and payload.
pub fn read_server_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream
        .read_exact(&mut head)
        .expect("frame header from the server");
    assert_eq!(head[1] & 0x80, 0, "server frames must not be masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).unwrap();
            u16::from_be_bytes(ext) as usize
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext).unwrap();
            u64::from_be_bytes(ext) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .expect("frame payload from the server");
    (head[0] & 0x0f, payload)
}

/// Reads a close frame: its code.
pub fn read_close_code(stream: &mut TcpStream) -> u16 {
    let (opcode, payload) = read_server_frame(stream);
    assert_eq!(
        opcode, 0x8,
        "expected a close frame, got opcode {opcode:#x} with {payload:?}"
    );
    assert!(payload.len() >= 2, "close frame without a code");
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Reads until the server ends the connection (EOF or reset); returns what came before.
/// Fails if the connection is still open after [`IO_TIMEOUT`].
pub fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!("server did not close the connection within {IO_TIMEOUT:?}")
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return data, // reset
        }
    }
}

/// A payload of `len` printable ASCII bytes (valid as text), varied so a shifted or truncated copy
/// does not compare equal.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 23) as u8).collect()
}

/// Client (plain or TLS) sends `payload`; the test thread (the server's main thread) takes the
/// Message event, checks it, sends it back with `sender().send` and consumes it; the client must
/// get the same type and bytes.
pub fn echo_through_main_thread<S: Read + Write>(
    h: &mut Harness,
    client: &mut WebSocket<S>,
    peer: &PeerHandle,
    payload: &[u8],
    text: bool,
) {
    let outgoing = if text {
        Message::text(String::from_utf8(payload.to_vec()).unwrap())
    } else {
        Message::binary(payload.to_vec())
    };
    client.send(outgoing).expect("client sends");
    let (data, is_text) = h.wait_message(peer.id());
    assert_eq!(
        is_text,
        text,
        "text flag of a {}-byte message",
        payload.len()
    );
    assert!(
        data == payload,
        "server got {} bytes, client sent {}",
        data.len(),
        payload.len()
    );
    h.sender()
        .send(peer, &data, is_text)
        .expect("echo accepted for sending");
    h.sender().consume_inbound(peer, data.len());
    let (got, got_text) = match recv(client) {
        Message::Text(t) => (t.as_bytes().to_vec(), true),
        Message::Binary(b) => (b.to_vec(), false),
        other => panic!("expected the echo, got {}", describe(&other)),
    };
    assert_eq!(
        got_text,
        text,
        "echo type of a {}-byte message",
        payload.len()
    );
    assert!(
        got == payload,
        "client got {} bytes back, sent {}",
        got.len(),
        payload.len()
    );
}
