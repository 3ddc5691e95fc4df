//! Drives one real [`Connection`] over a [`MemorySocket`] with a script of operations decoded from
//! the fuzzer's bytes, the way the reactor would, and checks invariants after every step.
//!
//! Script format (see [`Op`]): a configuration byte, then operations, each an opcode byte and its
//! arguments; a missing byte reads as 0, so every input is a valid script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{Limits, ServerConfig};
use crate::connection::{close_code, Connection, Context};
use crate::events::Event;
use crate::forwarded::Cidr;
use crate::input::ReadBuffer;
use crate::peer::{PeerHandle, PeerId};
use crate::stats::Stats;
use crate::transport::{TlsStream, Transport};

use super::check::{check_output, check_tls_records};
use super::socket::MemorySocket;
use super::tls_client::TlsClient;
use super::TlsFixture;

/// The operations of a script; an opcode byte is taken modulo their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// `lo, hi`: up to `1 + lo + 256 * (hi % 16)` pending client bytes reach the socket, then a
    /// readable event.
    Deliver = 0,
    /// `len, bytes...`: raw bytes appended to what the client sends (on TLS: to the wire).
    Raw,
    /// `variant`: a valid upgrade request appended.
    Handshake,
    /// `flags, lo, hi, fill`: a masked message of `lo + 256 * (hi % 8)` bytes appended; `flags`:
    /// bit 0 text, bits 1-2 fragments - 1, the rest the mask key. The payload counts up from
    /// `fill` (ASCII letters for text).
    Message,
    /// `kind, code`: a masked control frame appended: ping, pong, close with a code, or close
    /// without one.
    Control,
    /// `limit`: on TLS, each read of the socket returns at most `limit` bytes (0: no limit).
    /// Plain sockets return what they hold, as TCP does on Linux: the connection takes a short
    /// read to mean the socket is empty (`input.rs`), so this operation does nothing there.
    ReadLimit,
    /// `bytes, per_write`: a writable event: the socket takes `bytes * 16` bytes, at most
    /// `per_write` per call (0: no limit).
    Writable,
    /// The client ends its side (FIN); a readable event with hang-up.
    HangUp,
    /// The connection is reset; a readable event with hang-up.
    Reset,
    /// `steps`: time passes (`steps * 50 ms`); deadlines fire, the liveness sweep runs.
    Time,
    /// `len, fill, text`: the main thread sends a message (as `Server::send` does).
    Send,
    /// `code, reason_len`: the main thread starts the closing handshake.
    Close,
    /// Admission control: admit.
    Admit,
    /// `status`: admission control: reject.
    Reject,
    /// `count`: the main thread reads up to `count` messages (resuming reads when due).
    Consume,
    /// The main thread drops the peer without a closing handshake.
    Drop,
    /// `stop()`: a best-effort 1001 and the socket closes.
    Shutdown,
    /// `refuse_new_connections` toggles.
    RefuseNew,
}

const OP_COUNT: u8 = Op::RefuseNew as u8 + 1;

impl Op {
    fn from_byte(b: u8) -> Op {
        const ALL: [Op; OP_COUNT as usize] = [
            Op::Deliver,
            Op::Raw,
            Op::Handshake,
            Op::Message,
            Op::Control,
            Op::ReadLimit,
            Op::Writable,
            Op::HangUp,
            Op::Reset,
            Op::Time,
            Op::Send,
            Op::Close,
            Op::Admit,
            Op::Reject,
            Op::Consume,
            Op::Drop,
            Op::Shutdown,
            Op::RefuseNew,
        ];
        ALL[(b % OP_COUNT) as usize]
    }
}

/// Bits of the configuration byte.
pub mod config_bits {
    /// Admission control on.
    pub const ADMISSION: u8 = 1;
    /// Small inbound limits (64 bytes, 3 messages), so reading pauses and messages are too big.
    pub const SMALL_LIMITS: u8 = 2;
    /// Heartbeat (1 s) and idle timeout (3 s) on; off otherwise.
    pub const LIVENESS: u8 = 4;
    /// Every address is a trusted proxy, so forwarding headers are parsed.
    pub const TRUST_PROXIES: u8 = 8;
    /// Bits 4-5: the server's protocols: none, `chat`, `chat` and `superchat`, `binary`.
    pub const PROTOCOL_SHIFT: u8 = 4;
    /// Extra headers in the 101 reply.
    pub const EXTRA_HEADERS: u8 = 64;
    /// `refuse_new_connections` on from the start.
    pub const REFUSE_NEW: u8 = 128;
}

/// How the client's bytes reach the connection.
pub(crate) enum Mode {
    /// ws://: the client's bytes are the connection's input.
    Plain,
    /// wss://, the fuzzer's bytes are the TLS stream itself.
    RawTls(Arc<rustls::ServerConfig>),
    /// wss://, a real TLS client in between: the fuzzer's bytes are the plaintext (`Raw` adds
    /// bytes to the encrypted stream).
    TunnelTls(Box<TlsFixture>),
}

/// Runs one script. `multiplayer`: the configuration `WebSocketMultiplayerServer.listen()` makes
/// (the peer id announced after the 101).
pub(crate) fn run(data: &[u8], mode: Mode, multiplayer: bool) -> RunSummary {
    let mut script = Script { data, pos: 0 };
    let flags = script.byte();
    let mut harness = Harness::new(flags, mode, multiplayer);
    while !script.is_done() {
        harness.step(&mut script);
        harness.check_step();
    }
    harness.finish()
}

/// How far a script got (for the tests that show the seeds reach what they are for).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Default)]
pub(crate) struct RunSummary {
    /// Status of the server's response.
    pub status: Option<u16>,
    /// Server frames after the 101.
    pub frames: usize,
    /// The server wrote a close frame.
    pub close_sent: bool,
    pub admission: bool,
    pub connected: bool,
    pub messages: usize,
    pub close_requests: usize,
    pub disconnected: bool,
    /// The socket was closed.
    pub done: bool,
}

/// The fuzzer's bytes, read as a script.
struct Script<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = (self.pos + 1).min(self.data.len());
        b
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let end = (self.pos + n).min(self.data.len());
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        bytes
    }

    fn is_done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// The client's side of the connection.
enum Client {
    Plain,
    RawTls,
    Tunnel {
        tls: Box<TlsClient>,
        /// Encrypted bytes not delivered yet.
        wire: Vec<u8>,
        /// The client's TLS session failed (corrupted stream): its output is no longer checked.
        broken: bool,
    },
}

/// What the events said so far, checked as they arrive.
#[derive(Default)]
struct Tracker {
    admission: Option<PeerId>,
    connected: Option<PeerHandle>,
    disconnected: bool,
    /// Messages delivered and not yet read by the main thread (payload lengths).
    unread: VecDeque<usize>,
    /// Messages delivered, in order.
    delivered: Vec<(Bytes, bool)>,
    /// A rejection was given while the request was pending.
    rejected: bool,
    close_requests: usize,
}

struct Harness {
    conn: Connection,
    socket: MemorySocket,
    config: ServerConfig,
    read_buffer: ReadBuffer,
    stats: Arc<Stats>,
    id: PeerId,
    now: Instant,
    refuse_new: bool,
    multiplayer: bool,
    client: Client,
    /// Bytes the client sends that have not reached the socket (plaintext for a tunnel).
    to_send: Vec<u8>,
    /// Everything the server wrote, as the client sees it (decrypted for a tunnel).
    output: Vec<u8>,
    /// How much of `output` was checked (a check takes it whole: only growth is worth one).
    checked_output: usize,
    tracker: Tracker,
    /// Whole messages the client sent, in order: when `exact`, what is delivered must be a
    /// prefix of them (a subsequence once the server closes: see `Close`).
    sent: Vec<(Vec<u8>, bool)>,
    exact: bool,
    server_closed: bool,
    handshakes: usize,
    /// The main thread dropped the connection or stopped the server: no `Disconnected` is due.
    silent: bool,
}

impl Harness {
    fn new(flags: u8, mode: Mode, multiplayer: bool) -> Harness {
        let protocols: &[&str] = match (flags >> config_bits::PROTOCOL_SHIFT) & 3 {
            0 => &[],
            1 => &["chat"],
            2 => &["chat", "superchat"],
            _ => &["binary"],
        };
        let limits = if flags & config_bits::SMALL_LIMITS != 0 {
            Limits {
                inbound_bytes: 64,
                inbound_messages: 3,
                outbound_bytes: 256,
                outbound_messages: 4,
            }
        } else {
            Limits::DEFAULT
        };
        let (heartbeat_interval, idle_timeout) = if flags & config_bits::LIVENESS != 0 {
            (Duration::from_secs(1), Duration::from_secs(3))
        } else {
            (Duration::ZERO, Duration::ZERO)
        };
        let trusted_proxies = if flags & config_bits::TRUST_PROXIES != 0 {
            vec![
                Cidr::parse("0.0.0.0/0").expect("valid"),
                Cidr::parse("::/0").expect("valid"),
            ]
        } else {
            Vec::new()
        };
        let extra_headers = if flags & config_bits::EXTRA_HEADERS != 0 {
            vec![("X-Server".to_string(), "fuzz".to_string())]
        } else {
            Vec::new()
        };
        let config = ServerConfig {
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
            extra_headers,
            limits,
            announce_peer_id: multiplayer,
            heartbeat_interval,
            idle_timeout,
            admission_control: flags & config_bits::ADMISSION != 0,
            trusted_proxies,
            ..ServerConfig::default()
        };
        let socket = MemorySocket::default();
        let (transport, client) = match mode {
            Mode::Plain => (Transport::Memory(socket.clone()), Client::Plain),
            Mode::RawTls(server) => (
                Transport::MemoryTls(
                    TlsStream::over_memory(socket.clone(), &server).expect("rustls session"),
                ),
                Client::RawTls,
            ),
            Mode::TunnelTls(fixture) => (
                Transport::MemoryTls(
                    TlsStream::over_memory(socket.clone(), &fixture.server)
                        .expect("rustls session"),
                ),
                Client::Tunnel {
                    tls: Box::new(TlsClient::new(&fixture.client)),
                    wire: Vec::new(),
                    broken: false,
                },
            ),
        };
        let now = Instant::now();
        let stats = Arc::new(Stats::new(0, 0));
        let addr: SocketAddr = "192.0.2.7:50000".parse().expect("valid");
        let conn = Connection::new(
            transport,
            addr,
            now + config.handshake_timeout,
            stats.clone(),
        );
        Harness {
            conn,
            socket,
            config,
            read_buffer: ReadBuffer::new(),
            stats,
            // Not a small number, so the announcement's byte order shows.
            id: 0x1234_5678 + i32::from(flags),
            now,
            refuse_new: flags & config_bits::REFUSE_NEW != 0,
            multiplayer,
            client,
            to_send: Vec::new(),
            output: Vec::new(),
            checked_output: 0,
            tracker: Tracker::default(),
            sent: Vec::new(),
            exact: true,
            server_closed: false,
            handshakes: 0,
            silent: false,
        }
    }

    /// Runs `f` on the connection with a context, as the reactor's `with_connection` does, then
    /// (`flush`: the connection was touched this turn) writes what it queued.
    fn with_connection(&mut self, flush: bool, f: impl FnOnce(&mut Connection, &mut Context)) {
        let mut events = Vec::new();
        let id = self.id;
        let mut allocated = false;
        let mut allocate_id = || {
            assert!(!allocated, "a second peer id for one connection");
            allocated = true;
            id
        };
        let mut cx = Context {
            config: &self.config,
            events: &mut events,
            read_buffer: &mut self.read_buffer,
            allocate_id: &mut allocate_id,
            now: self.now,
            refuse_new: self.refuse_new,
        };
        f(&mut self.conn, &mut cx);
        if flush {
            self.conn.flush();
        }
        for event in events {
            self.observe(event);
        }
        self.collect_output();
    }

    fn step(&mut self, script: &mut Script) {
        let op = Op::from_byte(script.byte());
        if trace() {
            eprintln!("op {op:?} output {}", self.output.len());
        }
        match op {
            Op::Deliver => {
                let n = 1 + script.byte() as usize + 256 * (script.byte() as usize % 16);
                self.deliver(n);
                self.with_connection(true, |conn, cx| conn.on_readable(cx, false));
            }
            Op::Raw => {
                let len = script.byte() as usize;
                let bytes = script.take(len).to_vec();
                self.exact = false;
                match &mut self.client {
                    Client::Tunnel { wire, .. } => wire.extend_from_slice(&bytes),
                    _ => self.to_send.extend_from_slice(&bytes),
                }
            }
            Op::Handshake => {
                let variant = script.byte();
                self.handshakes += 1;
                if self.handshakes > 1 || !self.to_send.is_empty() {
                    self.exact = false;
                }
                let request = super::seeds::upgrade_request(variant);
                self.to_send.extend_from_slice(&request);
            }
            Op::Message => {
                let flags = script.byte();
                let len = script.byte() as usize + 256 * (script.byte() as usize % 8);
                let fill = script.byte();
                let (payload, text) =
                    super::seeds::append_message(&mut self.to_send, flags, len, fill);
                self.sent.push((payload, text));
            }
            Op::Control => {
                let kind = script.byte();
                let code = script.byte();
                super::seeds::append_control(&mut self.to_send, kind, code);
            }
            Op::ReadLimit => {
                let limit = script.byte() as usize;
                if !matches!(self.client, Client::Plain) {
                    self.socket.set_read_limit(limit);
                }
            }
            Op::Writable => {
                let bytes = script.byte() as usize * 16;
                let per_write = script.byte() as usize;
                self.socket.allow_writes(bytes, per_write);
                self.with_connection(true, |_, _| {});
            }
            Op::HangUp => {
                self.socket.close_input();
                self.with_connection(true, |conn, cx| conn.on_readable(cx, true));
            }
            Op::Reset => {
                self.socket.reset();
                self.with_connection(true, |conn, cx| conn.on_readable(cx, true));
            }
            Op::Time => {
                self.now += Duration::from_millis(50) * u32::from(script.byte());
                if self.conn.deadline.is_some_and(|d| d <= self.now) {
                    self.with_connection(false, |conn, cx| conn.on_deadline(cx));
                }
                let mut queued = false;
                self.with_connection(false, |conn, cx| queued = conn.check_liveness(cx));
                if queued {
                    self.with_connection(true, |_, _| {});
                }
            }
            Op::Send => {
                let len = script.byte() as usize * 4;
                let fill = script.byte();
                let text = script.byte() & 1 != 0;
                let payload: Vec<u8> = (0..len)
                    .map(|i| b'A' + fill.wrapping_add(i as u8) % 26)
                    .collect();
                let Some(peer) = self.tracker.connected.clone() else {
                    return;
                };
                if !peer.accepts_sends() || peer.reserve_outbound(len).is_err() {
                    return;
                }
                let frame = crate::frame::encode_data_frame(&payload, text);
                self.with_connection(true, |conn, _| conn.send_frame(frame, len));
            }
            Op::Close => {
                let code = CLOSE_CODES[script.byte() as usize % CLOSE_CODES.len()];
                let reason = "é".repeat(script.byte() as usize);
                self.server_closed = true;
                self.with_connection(true, |conn, cx| conn.start_close(code, &reason, cx));
            }
            Op::Admit => self.with_connection(true, |conn, cx| conn.admit(cx)),
            Op::Reject => {
                let status = [403, 401, 429, 503][script.byte() as usize % 4];
                let reply = crate::admission::rejection_reply(status, "not today");
                if self.tracker.admission.is_some()
                    && self.tracker.connected.is_none()
                    && !self.tracker.disconnected
                {
                    self.tracker.rejected = true;
                }
                self.with_connection(true, |conn, cx| conn.reject(reply, cx));
            }
            Op::Consume => {
                let count = script.byte() as usize % 8 + 1;
                let Some(peer) = self.tracker.connected.clone() else {
                    return;
                };
                for _ in 0..count {
                    let Some(len) = self.tracker.unread.pop_front() else {
                        break;
                    };
                    if peer.consume_inbound(len) {
                        self.with_connection(true, |conn, cx| conn.resume_reading(cx));
                    }
                }
            }
            Op::Drop => {
                self.silent = true;
                self.with_connection(false, |conn, _| conn.drop_silently());
            }
            Op::Shutdown => {
                self.silent = true;
                self.with_connection(false, |conn, _| conn.shutdown("server stopped"));
            }
            Op::RefuseNew => self.refuse_new = !self.refuse_new,
        }
    }

    /// Moves up to `n` pending client bytes onto the socket.
    fn deliver(&mut self, n: usize) {
        let bytes: Vec<u8> = match &mut self.client {
            Client::Plain | Client::RawTls => {
                let n = n.min(self.to_send.len());
                self.to_send.drain(..n).collect()
            }
            Client::Tunnel { tls, wire, .. } => {
                let taken = tls.send_plaintext(&self.to_send);
                self.to_send.drain(..taken);
                tls.write_records(wire);
                let n = n.min(wire.len());
                wire.drain(..n).collect()
            }
        };
        self.socket.push_input(&bytes);
    }

    /// Takes what the server wrote; a tunnel's client decrypts it.
    fn collect_output(&mut self) {
        let written = self.socket.take_output();
        if written.is_empty() {
            return;
        }
        match &mut self.client {
            Client::Plain => self.output.extend_from_slice(&written),
            Client::RawTls => {
                self.output.extend_from_slice(&written);
                if let Err(e) = check_tls_records(&self.output) {
                    panic!("server wrote bad TLS records: {e}");
                }
            }
            Client::Tunnel { tls, broken, .. } => {
                if *broken {
                    return;
                }
                if tls.receive(&written, &mut self.output).is_err() {
                    // Only a corrupted stream (`Raw`) makes the client's session fail.
                    assert!(!self.exact, "the TLS client failed on the server's records");
                    *broken = true;
                }
            }
        }
    }

    fn observe(&mut self, event: Event) {
        if trace() {
            eprintln!("event {event:?}");
        }
        let t = &mut self.tracker;
        match event {
            Event::Admission { peer, .. } => {
                assert!(
                    self.config.admission_control,
                    "Admission without admission control"
                );
                assert!(t.admission.is_none(), "a second Admission");
                assert!(t.connected.is_none(), "Admission after Connected");
                assert!(!t.disconnected, "Admission after Disconnected");
                assert_eq!(peer, self.id, "Admission with another id");
                t.admission = Some(peer);
            }
            Event::Connected { peer, protocol, .. } => {
                assert!(t.connected.is_none(), "a second Connected");
                assert!(!t.disconnected, "Connected after Disconnected");
                assert_eq!(peer.id(), self.id, "Connected with another id");
                if self.config.admission_control {
                    assert_eq!(t.admission, Some(peer.id()), "Connected without Admission");
                }
                assert!(
                    protocol.is_empty() || self.config.protocols.contains(&protocol),
                    "negotiated protocol {protocol:?} the server does not speak"
                );
                t.connected = Some(peer);
            }
            Event::Message { peer, data, text } => {
                assert!(t.connected.is_some(), "Message before Connected");
                assert!(!t.disconnected, "Message after Disconnected");
                assert_eq!(peer, self.id, "Message from another id");
                assert!(
                    data.len() <= self.config.limits.max_message_size(),
                    "message over the size limit"
                );
                if text {
                    assert!(std::str::from_utf8(&data).is_ok(), "text message not UTF-8");
                }
                t.unread.push_back(data.len());
                t.delivered.push((data, text));
                self.check_delivered();
            }
            Event::CloseRequest { peer, .. } => {
                assert!(t.connected.is_some(), "CloseRequest before Connected");
                assert!(!t.disconnected, "CloseRequest after Disconnected");
                assert_eq!(peer, self.id, "CloseRequest from another id");
                t.close_requests += 1;
            }
            Event::Disconnected { peer, .. } => {
                assert!(!t.disconnected, "a second Disconnected");
                assert!(
                    t.connected.is_some() || t.admission.is_some(),
                    "Disconnected for a peer never announced"
                );
                assert_eq!(peer, self.id, "Disconnected for another id");
                t.disconnected = true;
            }
            // Only the reactor reports faults; a connection never does.
            Event::Fault { message, .. } => panic!("a Fault event from a connection: {message}"),
        }
    }

    /// Delivered messages are whole messages the client sent, in order.
    fn check_delivered(&self) {
        if !self.exact {
            return;
        }
        let delivered = &self.tracker.delivered;
        if !self.server_closed {
            let n = delivered.len();
            assert!(n <= self.sent.len(), "more messages delivered than sent");
            for (i, (data, text)) in delivered.iter().enumerate() {
                assert!(
                    data.as_ref() == self.sent[i].0.as_slice() && *text == self.sent[i].1,
                    "message {i} delivered is not message {i} sent"
                );
            }
        } else {
            // Once the server closes, messages over the inbound limits are dropped.
            let mut sent = self.sent.iter();
            for (data, text) in delivered {
                assert!(
                    sent.any(|(s, t)| s.as_slice() == data.as_ref() && t == text),
                    "a delivered message was never sent"
                );
            }
        }
    }

    fn check_step(&mut self) {
        if matches!(self.client, Client::RawTls) || self.output.len() == self.checked_output {
            // Ciphertext: its records are checked as they come. Unchanged: checked already.
            return self.check_done();
        }
        self.checked_output = self.output.len();
        let announced = self.multiplayer.then_some(self.id);
        let summary = match check_output(&self.output, announced) {
            Ok(summary) => summary,
            Err(e) => panic!("server output: {e}"),
        };
        if summary.status == Some(101) {
            assert!(self.tracker.connected.is_some(), "101 without Connected");
        }
        if self.multiplayer && summary.frames > 0 {
            assert_eq!(summary.status, Some(101));
        }
        self.check_done();
    }

    fn check_done(&self) {
        if self.conn.is_done() {
            assert!(self.socket.is_closed(), "connection done, socket open");
            let t = &self.tracker;
            if !self.silent {
                if t.connected.is_some() {
                    assert!(t.disconnected, "peer gone without Disconnected");
                } else if t.admission.is_some() && !t.rejected {
                    assert!(t.disconnected, "pending request gone without Disconnected");
                }
            }
            // Every byte reserved for sending was written or released.
            assert_eq!(
                self.stats.snapshot().queued_out_bytes,
                0,
                "queued bytes leaked"
            );
        }
    }

    /// The end of the script: the connection's deadlines all pass, as they would.
    fn finish(&mut self) -> RunSummary {
        let before_end = self.summary();
        for _ in 0..4 {
            self.now += Duration::from_secs(10);
            self.socket.allow_writes(1 << 20, 0);
            self.with_connection(true, |_, _| {});
            if self.conn.deadline.is_some_and(|d| d <= self.now) {
                self.with_connection(false, |conn, cx| conn.on_deadline(cx));
            }
            let mut queued = false;
            self.with_connection(false, |conn, cx| queued = conn.check_liveness(cx));
            if queued {
                self.with_connection(true, |_, _| {});
            }
            self.check_step();
        }
        if !self.config.idle_timeout.is_zero() || self.conn.deadline.is_some() {
            // Timeouts on: nothing outlives them.
            assert!(
                self.conn.is_done() || self.conn_is_open_without_deadline(),
                "connection outlived its deadlines"
            );
        }
        before_end
    }

    /// What the script itself reached (before the deadlines of `finish`).
    fn summary(&self) -> RunSummary {
        let output = check_output(&self.output, None).unwrap_or_default();
        let t = &self.tracker;
        RunSummary {
            status: output.status,
            frames: output.frames,
            close_sent: output.closed,
            admission: t.admission.is_some(),
            connected: t.connected.is_some(),
            messages: t.delivered.len(),
            close_requests: t.close_requests,
            disconnected: t.disconnected,
            done: self.conn.is_done(),
        }
    }

    fn conn_is_open_without_deadline(&self) -> bool {
        self.conn.deadline.is_none() && self.conn.peer_id().is_some()
    }
}

/// `WS_FUZZ_TRACE` set: every operation and event is printed (to follow a crash input).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("WS_FUZZ_TRACE").is_some())
}

/// Close codes the main thread may send, and a client may.
pub(crate) const CLOSE_CODES: [u16; 6] = [
    close_code::NORMAL,
    close_code::GOING_AWAY,
    close_code::PROTOCOL,
    close_code::INVALID_DATA,
    close_code::TOO_BIG,
    4000,
];
