//! One client connection: a state machine from TCP accept to socket close, owned by the reactor.
//!
//! ```text
//! Handshake --101--> Open --close handshake done / error / drop--> Draining --queue empty--> Done
//!     \--refused (HTTP error reply)-----------------------------------^
//!     \--admission control--> Pending --admit: 101--> Open
//!                                  \--reject / timeout: HTTP error reply--> Draining
//! ```
//! tungstenite parses incoming frames and runs the closing handshake; whatever it writes (pongs,
//! close replies) lands in this connection's own write queue, so every byte leaves through one
//! place, in order, with vectored writes.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mio::net::TcpStream;
use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error as WsError, Message};

use crate::config::ServerConfig;
use crate::events::{Event, UpgradeRequest};
use crate::forwarded;
use crate::frame;
use crate::handshake::{self, Parsed, Verdict};
use crate::input::{ReadBuffer, SocketReader};
use crate::peer::{PeerHandle, PeerId, PeerShared};
use crate::stats::Stats;
use crate::transport::Transport;

/// tungstenite's own buffer per connection: what it reassembles a frame in. Small, so idle peers
/// cost little; it grows to the size of the message being read.
const READ_CHUNK: usize = 4096;
/// Most slices handed to one `writev`.
const MAX_IOVECS: usize = 64;
/// Unwritten bytes of what the server queues on its own (pongs, close frames, pings, HTTP
/// replies) above which an open connection is not read until they are written: a peer that
/// sends pings and never reads would otherwise make its pongs pile up without bound.
pub(crate) const MAX_OWN_BACKLOG: usize = 64 * 1024;
/// The reply to a connection the server will not take.
const SERVICE_UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Close codes (RFC 6455 §7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (stop()).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// Invalid payload data (text that is not UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
    /// No status code was present in the close frame.
    pub const NO_STATUS: u16 = 1005;
}

/// What the reactor lends a connection while it works.
pub(crate) struct Context<'a> {
    pub config: &'a ServerConfig,
    pub events: &'a mut Vec<Event>,
    /// The reactor's read buffer, lent to the connection being read.
    pub read_buffer: &'a mut ReadBuffer,
    /// Picks a fresh peer id (unique among live peers).
    pub allocate_id: &'a mut dyn FnMut() -> PeerId,
    pub now: Instant,
    /// New upgrades are answered with 503 (MultiplayerPeer's refuse_new_connections).
    pub refuse_new: bool,
}

enum State {
    /// Reading the HTTP upgrade request.
    Handshake { head: Vec<u8> },
    /// Admission control: a valid request waits for the main thread's answer.
    Pending(Box<PendingUpgrade>),
    /// Upgraded: WebSocket frames flow.
    Open(Box<Session>),
    /// Writing what is queued (a refusal, the last close frame), then shutting our side and
    /// waiting (bounded by the deadline) for the peer to close its side.
    Draining,
    /// Socket closed; the reactor removes the connection.
    Done,
}

struct Session {
    ws: WebSocketContext,
    peer: PeerHandle,
    /// The server started the closing handshake; the peer's close frame is then a reply, not a
    /// request.
    closing_by_us: bool,
    /// Inbound limits reached: the socket is not read until the main thread catches up.
    read_paused: bool,
    /// Code of the first close frame of the connection, whichever side sent it (stats).
    first_close: Option<u16>,
}

/// An accepted request held until the main thread admits or rejects it.
struct PendingUpgrade {
    id: PeerId,
    addr: SocketAddr,
    reply: Vec<u8>,
    protocol: String,
    request: UpgradeRequest,
    /// Bytes after the request head (a client may send frames before the 101 arrives).
    leftover: Vec<u8>,
}

/// One chunk of the write queue.
struct OutChunk {
    data: Bytes,
    written: usize,
    /// Payload bytes to release from the peer's outbound budget once written (0 for control
    /// frames and HTTP replies).
    payload_len: usize,
    counted: bool,
    /// A data message: counted in the stats once written.
    message: bool,
}

/// A client connection.
pub(crate) struct Connection {
    stream: Transport,
    addr: SocketAddr,
    state: State,
    out: VecDeque<OutChunk>,
    /// When the current phase (handshake, close handshake, draining) must be over.
    pub deadline: Option<Instant>,
    /// Filed in the reactor's list of connections to write at the end of this turn.
    pub flush_pending: bool,
    /// Draining: our side of the TCP connection is shut (FIN sent).
    write_shut: bool,
    /// Draining: the peer's side has ended (EOF read).
    peer_eof: bool,
    /// Bytes read from the socket but not yet consumed (only when reading stopped early).
    carry: Vec<u8>,
    /// The peer id given to this connection at its upgrade request, kept after it leaves the
    /// Open state so the reactor can retire the id when the connection is gone.
    allocated_id: Option<PeerId>,
    /// Open: when the peer last sent anything, and when it was last pinged (`liveness.rs`).
    last_heard: Instant,
    last_ping: Instant,
    /// The server's counters.
    stats: Arc<Stats>,
    /// Bytes of `out` the server queued on its own (chunks not counted in the peer's budget).
    own_backlog: usize,
    /// Reading stopped because `own_backlog` passed [`MAX_OWN_BACKLOG`]; writing resumes it.
    output_paused: bool,
}

/// The stream tungstenite sees: reads come from the socket, writes go to the write queue.
struct QueueIo<'a> {
    reader: SocketReader<'a>,
    out: &'a mut VecDeque<OutChunk>,
    own_backlog: &'a mut usize,
}

impl Read for QueueIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for QueueIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        *self.own_backlog += buf.len();
        self.out.push_back(OutChunk {
            data: Bytes::copy_from_slice(buf),
            written: 0,
            payload_len: 0,
            counted: false,
            message: false,
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Connection {
    pub fn new(
        stream: Transport,
        addr: SocketAddr,
        handshake_deadline: Instant,
        stats: Arc<Stats>,
    ) -> Connection {
        Connection {
            stream,
            addr,
            allocated_id: None,
            state: State::Handshake { head: Vec::new() },
            out: VecDeque::new(),
            deadline: Some(handshake_deadline),
            flush_pending: false,
            write_shut: false,
            peer_eof: false,
            carry: Vec::new(),
            last_heard: handshake_deadline,
            last_ping: handshake_deadline,
            stats,
            own_backlog: 0,
            output_paused: false,
        }
    }

    /// A connection over a connection limit: a bare 503 is written, then it drains and closes;
    /// its request is never parsed.
    pub fn refused(
        stream: Transport,
        addr: SocketAddr,
        deadline: Instant,
        stats: Arc<Stats>,
    ) -> Connection {
        let mut conn = Connection::new(stream, addr, deadline, stats);
        conn.push_raw(Bytes::from_static(SERVICE_UNAVAILABLE));
        conn.state = State::Draining;
        conn
    }

    /// Whether this connection counts against the connection limits: a handshake in progress
    /// or an upgraded peer (refused and ending connections do not).
    pub fn holds_slot(&self) -> bool {
        matches!(self.state, State::Handshake { .. } | State::Open(_))
    }

    /// The peer's address (IPv4-mapped IPv6 reported as IPv4).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The socket, for the reactor's registration.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        self.stream.tcp_mut()
    }

    /// The peer id once upgraded.
    pub fn peer_id(&self) -> Option<PeerId> {
        match &self.state {
            State::Open(s) => Some(s.peer.id()),
            State::Pending(p) => Some(p.id),
            _ => None,
        }
    }

    /// The id this connection was given, whatever its state now (`None` before its request).
    pub fn allocated_id(&self) -> Option<PeerId> {
        self.allocated_id
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The socket is readable (or reports an error or `hang_up`): read everything there is.
    pub fn on_readable(&mut self, cx: &mut Context, hang_up: bool) {
        if matches!(self.state, State::Handshake { .. }) {
            self.read_handshake(cx);
        }
        if matches!(self.state, State::Pending(_)) {
            self.read_pending(cx);
        }
        if matches!(self.state, State::Open(_)) {
            self.last_heard = cx.now;
            self.read_frames(cx, !hang_up);
        }
        if matches!(self.state, State::Draining) {
            self.discard_input();
        }
    }

    /// Draining: whatever the peer still sends is read and thrown away, so the kernel does not
    /// answer it with a reset that would destroy our last frames before the peer reads them.
    /// The peer's EOF (or an error) ends the connection once our queue is written.
    fn discard_input(&mut self) {
        let mut sink = [0u8; 4096];
        loop {
            match self.stream.read(&mut sink) {
                Ok(0) => {
                    self.peer_eof = true;
                    if self.out.is_empty() {
                        self.close_socket();
                    }
                    return;
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close_socket();
                    return;
                }
            }
        }
    }

    fn read_handshake(&mut self, cx: &mut Context) {
        let State::Handshake { head } = &mut self.state else {
            return;
        };
        let mut chunk = [0u8; 2048];
        let parsed = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    // Gone before upgrading: nobody was told it existed, so nobody is told it left.
                    self.close_socket();
                    return;
                }
                Ok(n) => {
                    head.extend_from_slice(&chunk[..n]);
                    match handshake::parse_request(
                        head,
                        &cx.config.protocols,
                        &cx.config.extra_headers,
                    ) {
                        Parsed::Partial => continue,
                        done => break done,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close_socket();
                    return;
                }
            }
        };
        let Parsed::Done { verdict, consumed } = parsed else {
            return;
        };
        let leftover = head[consumed..].to_vec();
        match verdict {
            Verdict::Refuse { reply, .. } => {
                self.push_raw(Bytes::from(reply));
                self.state = State::Draining;
            }
            Verdict::Accept { .. } if cx.refuse_new => {
                self.push_raw(Bytes::from_static(SERVICE_UNAVAILABLE));
                self.state = State::Draining;
            }
            Verdict::Accept {
                reply,
                protocol,
                request,
            } => {
                let addr = forwarded::client_address(
                    &cx.config.trusted_proxies,
                    self.addr,
                    &request.headers,
                );
                let id = (cx.allocate_id)();
                self.allocated_id = Some(id);
                let pending = PendingUpgrade {
                    id,
                    addr,
                    reply,
                    protocol,
                    request,
                    leftover,
                };
                if cx.config.admission_control {
                    cx.events.push(Event::Admission {
                        peer: pending.id,
                        addr,
                        request: pending.request.clone(),
                    });
                    self.state = State::Pending(Box::new(pending));
                    // The script gets the whole handshake_timeout to answer, however long the
                    // request took to arrive.
                    self.deadline = Some(cx.now + cx.config.handshake_timeout);
                } else {
                    self.open(pending, cx);
                }
            }
        }
    }

    /// Writes the 101 reply and starts the WebSocket session.
    fn open(&mut self, pending: PendingUpgrade, cx: &mut Context) {
        let PendingUpgrade {
            id,
            addr,
            reply,
            protocol,
            request,
            leftover,
        } = pending;
        self.push_raw(Bytes::from(reply));
        let limits = cx.config.limits;
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(READ_CHUNK)
            .max_message_size(Some(limits.max_message_size()))
            .max_frame_size(Some(limits.max_message_size()));
        let ws = WebSocketContext::from_partially_read(leftover, Role::Server, Some(ws_config));
        let peer = PeerShared::new(id, addr, limits, self.stats.clone());
        if cx.config.announce_peer_id {
            let data = frame::encode_data_frame(&peer.id().to_le_bytes(), false);
            self.own_backlog += data.len();
            self.out.push_back(OutChunk {
                data,
                written: 0,
                payload_len: 4,
                counted: false,
                message: true,
            });
        }
        cx.events.push(Event::Connected {
            peer: peer.clone(),
            protocol,
            request,
        });
        self.state = State::Open(Box::new(Session {
            ws,
            peer,
            closing_by_us: false,
            read_paused: false,
            first_close: None,
        }));
        self.deadline = None;
        self.last_heard = cx.now;
        self.last_ping = cx.now;
    }

    /// Admission control said yes: upgrade, and read what the client already sent.
    pub fn admit(&mut self, cx: &mut Context) {
        if !matches!(self.state, State::Pending(_)) {
            return;
        }
        let State::Pending(pending) = std::mem::replace(&mut self.state, State::Draining) else {
            return;
        };
        let early_data = !pending.leftover.is_empty();
        self.open(*pending, cx);
        if early_data {
            self.read_frames(cx, false);
        }
    }

    /// Admission control said no: write the HTTP refusal and close.
    pub fn reject(&mut self, reply: Vec<u8>, cx: &mut Context) {
        if matches!(self.state, State::Pending(_)) {
            self.push_raw(Bytes::from(reply));
            self.state = State::Draining;
            self.deadline = Some(cx.now + cx.config.close_timeout);
        }
    }

    /// Waiting for admission: keep what the client sends (bounded) and notice when it leaves.
    fn read_pending(&mut self, cx: &mut Context) {
        let State::Pending(pending) = &mut self.state else {
            return;
        };
        let mut chunk = [0u8; 2048];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) if pending.leftover.len() + n <= handshake::MAX_REQUEST_HEAD => {
                    pending.leftover.extend_from_slice(&chunk[..n]);
                }
                Ok(_) => break, // far more than a client sends before its 101
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        cx.events.push(Event::Disconnected {
            peer: pending.id,
            clean: false,
        });
        self.close_socket();
    }

    /// Reads frames until the socket is empty or reading must stop. `after_readiness`: called
    /// for a readiness event without hang-up (see [`SocketReader::new`]).
    fn read_frames(&mut self, cx: &mut Context, after_readiness: bool) {
        let State::Open(session) = &mut self.state else {
            return;
        };
        let mut io = QueueIo {
            reader: SocketReader::new(
                &mut self.stream,
                cx.read_buffer,
                &mut self.carry,
                after_readiness,
            ),
            out: &mut self.out,
            own_backlog: &mut self.own_backlog,
        };
        let outcome = loop {
            // Once the server has sent its close, reading goes on past the limits so the peer's
            // answer is seen (what arrives over the limits meanwhile is discarded, see deliver).
            if session.read_paused && !session.closing_by_us {
                return;
            }
            if *io.own_backlog > MAX_OWN_BACKLOG {
                self.output_paused = true;
                return;
            }
            match session.ws.read(&mut io) {
                Ok(Message::Binary(data)) => session.deliver(data, false, cx.events),
                Ok(Message::Text(text)) => {
                    session.deliver(AsRef::<Bytes>::as_ref(&text).clone(), true, cx.events)
                }
                Ok(Message::Close(close)) => {
                    if !session.closing_by_us {
                        let (code, reason) = match close {
                            Some(CloseFrame { code, reason }) => {
                                (u16::from(code), reason.as_str().to_string())
                            }
                            None => (close_code::NO_STATUS, String::new()),
                        };
                        session.first_close.get_or_insert(code);
                        cx.events.push(Event::CloseRequest {
                            peer: session.peer.id(),
                            code,
                            reason,
                        });
                    }
                }
                Ok(_) => {} // ping (tungstenite queued the pong), pong, raw frame
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => {
                    break Ending::Clean
                }
                Err(WsError::Capacity(CapacityError::MessageTooLong { .. })) => {
                    break Ending::Fail(close_code::TOO_BIG, "message too big")
                }
                Err(WsError::Capacity(_)) => {
                    break Ending::Fail(close_code::TOO_BIG, "frame too big")
                }
                Err(WsError::Utf8(_)) => {
                    break Ending::Fail(close_code::INVALID_DATA, "invalid UTF-8 in text")
                }
                Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                    break Ending::Dropped
                }
                Err(WsError::Protocol(_)) => {
                    break Ending::Fail(close_code::PROTOCOL, "protocol error")
                }
                Err(_) => break Ending::Dropped,
            }
        };
        drop(io);
        match outcome {
            Ending::Clean => self.finish(true, cx),
            Ending::Dropped => {
                self.finish(false, cx);
                self.close_socket();
            }
            Ending::Fail(code, reason) => {
                // A close frame the server already sent (start_close) is its last word: a
                // second one would break the protocol.
                let mut close_sent = false;
                if let State::Open(session) = &mut self.state {
                    session.first_close.get_or_insert(code);
                    close_sent = session.closing_by_us;
                }
                self.finish(false, cx);
                if !close_sent {
                    self.push_raw(frame::encode_close_frame(code, reason));
                }
                self.deadline = Some(cx.now + cx.config.close_timeout);
            }
        }
    }

    /// Ends the WebSocket session: reports `Disconnected` and starts draining what is queued.
    fn finish(&mut self, clean: bool, cx: &mut Context) {
        if let State::Open(session) = &self.state {
            session.peer.mark_closed();
            // 1006: the connection ended without a close frame either way.
            self.stats.closed(session.first_close.unwrap_or(1006));
            cx.events.push(Event::Disconnected {
                peer: session.peer.id(),
                clean,
            });
        }
        self.state = State::Draining;
        self.deadline = Some(cx.now + cx.config.close_timeout);
    }

    /// Queues an encoded data frame whose `payload_len` bytes were reserved on the peer.
    pub fn send_frame(&mut self, data: Bytes, payload_len: usize) {
        match &self.state {
            State::Open(s) if s.ws.can_write() => self.out.push_back(OutChunk {
                data,
                written: 0,
                payload_len,
                counted: true,
                message: true,
            }),
            State::Open(s) => {
                s.peer.release_outbound(payload_len);
                self.stats.unqueued_out(payload_len);
            }
            // A peer that is gone has had its budget released with its queue.
            _ => self.stats.unqueued_out(payload_len),
        }
    }

    /// Starts the closing handshake; the peer's reply (or `close_timeout`) ends the connection.
    pub fn start_close(&mut self, code: u16, reason: &str, cx: &mut Context) {
        let State::Open(session) = &mut self.state else {
            return;
        };
        if !session.ws.can_write() {
            return; // a close is already under way
        }
        session.closing_by_us = true;
        session.first_close.get_or_insert(code);
        let mut io = QueueIo {
            reader: SocketReader::new(&mut self.stream, cx.read_buffer, &mut self.carry, false),
            out: &mut self.out,
            own_backlog: &mut self.own_backlog,
        };
        let close = CloseFrame {
            code: code.into(),
            reason: frame::fit_close_reason(reason).into(),
        };
        // Writes go to the queue, so this cannot block; a failure means the state already ended.
        let _ = session.ws.close(&mut io, Some(close));
        drop(io);
        let paused = session.read_paused;
        self.deadline = Some(cx.now + cx.config.close_timeout);
        if paused {
            // The socket was left unread: no readiness edge will come until it is read.
            self.read_frames(cx, false);
        }
    }

    /// After a write: reads again once the backlog that stopped reading is written (at most
    /// half of it left). Returns whether it read, which may have queued more to write.
    pub fn resume_after_output(&mut self, cx: &mut Context) -> bool {
        if !self.output_paused || self.own_backlog > MAX_OWN_BACKLOG / 2 {
            return false;
        }
        self.output_paused = false;
        // No readiness edge comes for bytes already waiting in the socket: read them now.
        self.read_frames(cx, false);
        true
    }

    /// The main thread caught up: read again.
    pub fn resume_reading(&mut self, cx: &mut Context) {
        if let State::Open(session) = &mut self.state {
            session.read_paused = false;
            self.read_frames(cx, false);
        }
    }

    /// The deadline passed: a slow handshake, an unanswered close, or a stuck drain.
    pub fn on_deadline(&mut self, cx: &mut Context) {
        match self.deadline {
            Some(d) if d <= cx.now => {}
            _ => return,
        }
        if matches!(self.state, State::Handshake { .. }) {
            self.stats.handshake_timed_out();
        }
        if matches!(self.state, State::Open(_)) {
            self.finish(false, cx);
        }
        if let State::Pending(pending) = &self.state {
            // Nobody answered: the main thread forgets the request, the client gets a 503.
            cx.events.push(Event::Disconnected {
                peer: pending.id,
                clean: false,
            });
            self.push_raw(Bytes::from(crate::admission::rejection_reply(
                503,
                "admission timed out",
            )));
            self.state = State::Draining;
            self.deadline = Some(cx.now + cx.config.close_timeout);
            self.flush();
            return;
        }
        self.close_socket();
    }

    /// Still reading the upgrade request (not a peer yet).
    pub fn is_handshaking(&self) -> bool {
        matches!(self.state, State::Handshake { .. })
    }

    /// The reactor's liveness sweep (`liveness.rs`): pings the peer when the heartbeat is due,
    /// closes it as dead (unclean, 1001 "idle timeout") when it was silent for `idle_timeout`.
    /// Returns whether output was queued.
    pub fn check_liveness(&mut self, cx: &mut Context) -> bool {
        let State::Open(session) = &self.state else {
            return false;
        };
        if session.closing_by_us {
            return false; // the close deadline decides now
        }
        if session.read_paused {
            // The server is not reading this socket: the silence is its own.
            self.last_heard = cx.now;
        }
        let (interval, idle) = (cx.config.heartbeat_interval, cx.config.idle_timeout);
        if !idle.is_zero() && cx.now.saturating_duration_since(self.last_heard) >= idle {
            self.finish(false, cx);
            self.push_raw(frame::encode_close_frame(
                close_code::GOING_AWAY,
                "idle timeout",
            ));
            return true;
        }
        if !interval.is_zero()
            && cx.now.saturating_duration_since(self.last_ping) >= interval
            && session.ws.can_write()
        {
            self.push_raw(frame::encode_ping_frame());
            self.last_ping = cx.now;
            return true;
        }
        false
    }

    /// Drops the connection now: no closing handshake and no `Disconnected` event.
    pub fn drop_silently(&mut self) {
        if let State::Open(session) = &self.state {
            session.peer.mark_closed();
        }
        self.close_socket();
    }

    /// Stop(): a best-effort 1001 close frame and one write attempt, then the socket is closed.
    pub fn shutdown(&mut self, reason: &str) {
        if let State::Open(session) = &self.state {
            session.peer.mark_closed();
            if session.ws.can_write() {
                self.push_raw(frame::encode_close_frame(close_code::GOING_AWAY, reason));
                let _ = self.write_queued();
            }
        }
        self.close_socket();
    }

    /// Writes what is queued; when draining and the queue empties, closes the socket.
    pub fn flush(&mut self) {
        match self.write_queued() {
            Ok(()) => {
                if self.out.is_empty() && matches!(self.state, State::Draining) {
                    if self.peer_eof {
                        self.close_socket();
                    } else if !self.write_shut {
                        // FIN after our last byte; the socket closes at the peer's EOF or the
                        // deadline (see discard_input).
                        self.write_shut = true;
                        self.stream.shutdown_write();
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => {
                // The peer is unreachable; reading will report the end (or already did).
                if matches!(self.state, State::Draining) {
                    self.close_socket();
                }
            }
        }
    }

    fn write_queued(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            let slices: Vec<IoSlice> = self
                .out
                .iter()
                .take(MAX_IOVECS)
                .map(|c| IoSlice::new(&c.data[c.written..]))
                .collect();
            let n = match self.stream.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.advance(n);
        }
        // TLS: records rustls still holds.
        self.stream.flush_pending()
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.out.front_mut() else {
                return;
            };
            let left = front.data.len() - front.written;
            if n < left {
                front.written += n;
                return;
            }
            n -= left;
            let done = self.out.pop_front().expect("front exists");
            if !done.counted {
                self.own_backlog = self.own_backlog.saturating_sub(done.data.len());
            }
            self.release(&done);
            if done.counted {
                self.stats.unqueued_out(done.payload_len);
            }
            if done.message {
                self.stats.message_out(done.payload_len);
            }
        }
    }

    fn release(&self, chunk: &OutChunk) {
        if chunk.counted {
            if let State::Open(s) = &self.state {
                s.peer.release_outbound(chunk.payload_len);
            }
        }
    }

    fn push_raw(&mut self, data: Bytes) {
        self.own_backlog += data.len();
        self.out.push_back(OutChunk {
            data,
            written: 0,
            payload_len: 0,
            counted: false,
            message: false,
        });
    }

    fn close_socket(&mut self) {
        self.stream.shutdown();
        for chunk in self.out.drain(..) {
            if chunk.counted {
                self.stats.unqueued_out(chunk.payload_len);
            }
        }
        self.own_backlog = 0;
        self.state = State::Done;
        self.deadline = None;
    }

    pub fn set_no_delay(&mut self, enabled: bool) {
        let _ = self.stream.tcp_mut().set_nodelay(enabled);
    }
}

enum Ending {
    /// The closing handshake completed.
    Clean,
    /// The TCP connection ended without a closing handshake.
    Dropped,
    /// The peer broke the protocol or a limit: tell it why, then close.
    Fail(u16, &'static str),
}

impl Session {
    fn deliver(&mut self, data: Bytes, text: bool, events: &mut Vec<Event>) {
        if self.read_paused {
            // Only while the server closes a peer over its inbound limits: dropped, so memory
            // stays bounded while waiting for the close answer.
            return;
        }
        self.peer.stats.message_in(data.len());
        if !self.peer.add_inbound(data.len()) {
            self.read_paused = true;
        }
        events.push(Event::Message {
            peer: self.peer.id(),
            data,
            text,
        });
    }
}
