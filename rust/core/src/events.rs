//! What crosses between the threads: events up to the main thread, commands down to the reactor.

use bytes::Bytes;

use crate::peer::{PeerHandle, PeerId};

/// The HTTP upgrade request a peer connected with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// Request target: path and query, e.g. `/game?token=abc`.
    pub target: String,
    /// Header names (as sent) and values, in order.
    pub headers: Vec<(String, String)>,
}

/// Something that happened on the network, reported to the main thread in order.
#[derive(Debug)]
pub enum Event {
    /// A peer completed the upgrade.
    Connected {
        /// Shared counters of the new peer; its id and address are in there.
        peer: PeerHandle,
        /// Negotiated sub-protocol, or "" when none.
        protocol: String,
        /// The request the peer upgraded with.
        request: UpgradeRequest,
    },
    /// A whole message arrived.
    Message {
        /// Sender.
        peer: PeerId,
        /// Payload. Text messages are valid UTF-8.
        data: Bytes,
        /// Sent as a text message.
        text: bool,
    },
    /// The peer started the closing handshake (the server answers it by itself).
    CloseRequest {
        /// Sender.
        peer: PeerId,
        /// Close code (1005 when the frame had none).
        code: u16,
        /// Close reason, possibly empty.
        reason: String,
    },
    /// A valid upgrade request waits for [`crate::Sender::admit`] or [`crate::Sender::reject`]
    /// (only with `admission_control`). `peer` is the id it keeps once admitted; if the request
    /// ends unanswered (timeout, client gone), a `Disconnected` event for `peer` follows.
    Admission {
        /// Id of the would-be peer.
        peer: PeerId,
        /// The client's address (behind a trusted proxy: the forwarded one).
        addr: std::net::SocketAddr,
        /// The request.
        request: UpgradeRequest,
    },
    /// The connection is over. Reported exactly once for each `Connected` peer, after any
    /// message it delivered, and for each `Admission` that ended unanswered.
    Disconnected {
        /// Peer that left.
        peer: PeerId,
        /// The closing handshake completed (close frames both ways), whichever side started it.
        clean: bool,
    },
    /// A panic was contained in the reactor (a bug): with `peer`, while handling that peer's
    /// connection, which was dropped (its `Disconnected` event follows if it was known to the
    /// main thread); without, in a turn outside any connection. The server keeps running.
    Fault {
        /// The peer whose connection was being handled, if any.
        peer: Option<PeerId>,
        /// The panic's message.
        message: String,
    },
}

/// A request from the main thread to the reactor.
#[derive(Debug)]
pub(crate) enum Command {
    /// Write an encoded frame to each listed peer; `payload_len` was reserved on each.
    Send {
        peers: Targets,
        frame: Bytes,
        payload_len: usize,
    },
    /// Start the closing handshake.
    Close {
        peer: PeerId,
        code: u16,
        reason: String,
    },
    /// Start the closing handshake with every peer (graceful shutdown).
    CloseAll { code: u16, reason: String },
    /// Drop the connection at once, without a closing handshake or a `Disconnected` event.
    Drop { peer: PeerId },
    /// Turn Nagle's algorithm off (true) or on.
    SetNoDelay { peer: PeerId, enabled: bool },
    /// The main thread drained a paused peer's queue: read its socket again.
    ResumeRead { peer: PeerId },
    /// Admission control: write the 101 reply, the peer is connected.
    Admit { peer: PeerId },
    /// Admission control: write this HTTP refusal and close.
    Reject { peer: PeerId, reply: Vec<u8> },
    /// Panic on purpose at this place (tests of panic containment).
    #[cfg(feature = "fault-injection")]
    InjectFault(crate::faults::FaultSite),
}

/// The recipients of one outbound frame.
#[derive(Debug)]
pub(crate) enum Targets {
    One(PeerId),
    Many(Vec<PeerId>),
}
