//! What a server is told before it starts listening.

use std::net::IpAddr;
use std::time::Duration;

use crate::forwarded::Cidr;
use crate::tls::TlsIdentity;

/// Where the listening socket is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAddress {
    /// Every interface, IPv6 and IPv4 (a dual-stack socket; IPv4 alone where IPv6 is unavailable).
    Any,
    /// One address, IPv4 or IPv6.
    Ip(IpAddr),
}

impl BindAddress {
    /// Parses Godot's notation: `"*"` for every interface, otherwise a literal address
    /// (`"127.0.0.1"`, `"::1"`, with or without brackets).
    pub fn parse(text: &str) -> Option<BindAddress> {
        let text = text.trim();
        if text == "*" {
            return Some(BindAddress::Any);
        }
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        bare.parse().ok().map(BindAddress::Ip)
    }
}

/// Per-peer queue limits, the meaning of Godot 3's `set_buffers()`.
///
/// Inbound limits bound what is waiting for the script to read; when one is reached the server
/// stops reading that socket (TCP back-pressure) until the script catches up. Nothing is dropped,
/// except what a peer sends over the limits after the server started closing it (reading goes on
/// then, so the peer's close answer is seen).
/// Outbound limits bound what is waiting to be written to the socket; a send that would pass one
/// is refused with [`crate::SendError::OutboundFull`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Payload bytes received and not yet read by the script. Also the largest message accepted.
    pub inbound_bytes: usize,
    /// Messages received and not yet read by the script.
    pub inbound_messages: usize,
    /// Payload bytes accepted for sending and not yet written to the socket.
    pub outbound_bytes: usize,
    /// Messages accepted for sending and not yet written to the socket.
    pub outbound_messages: usize,
}

impl Limits {
    /// Default: 1 MiB and 4,096 messages each way (Godot 3's defaults were 64 KiB and 1,024).
    pub const DEFAULT: Limits = Limits {
        inbound_bytes: 1024 * 1024,
        inbound_messages: 4096,
        outbound_bytes: 1024 * 1024,
        outbound_messages: 4096,
    };

    /// The largest single message a peer may send: the whole inbound byte budget.
    pub fn max_message_size(&self) -> usize {
        self.inbound_bytes
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Everything a [`crate::Server`] needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Interface(s) to bind.
    pub bind: BindAddress,
    /// TCP port; 0 picks a free one (see [`crate::Server::local_addr`]).
    pub port: u16,
    /// Sub-protocols the server speaks, in no particular order; empty = none.
    pub protocols: Vec<String>,
    /// Extra `Name: value` header lines for the 101 reply.
    pub extra_headers: Vec<(String, String)>,
    /// Time from TCP accept until the upgrade is done; slower connections are dropped.
    pub handshake_timeout: Duration,
    /// Time the server waits for the peer's answer to a close it started, then drops the socket.
    pub close_timeout: Duration,
    /// Per-peer queue limits.
    pub limits: Limits,
    /// Set TCP_NODELAY on every accepted socket (Godot 3 did).
    pub no_delay: bool,
    /// Pending-connection queue of the listening socket; large, so bursts of connects are not lost.
    pub backlog: i32,
    /// Right after the 101 reply, send the peer its id as one 4-byte little-endian binary
    /// message: the handshake of Godot 4's `WebSocketMultiplayerPeer` clients, which stay
    /// CONNECTING until they get it.
    pub announce_peer_id: bool,
    /// Serve wss:// with this identity (every connection must speak TLS); `None` for ws://.
    pub tls: Option<TlsIdentity>,
    /// Every open connection gets a ping this often (zero: never). Keeps proxies and load
    /// balancers that close idle connections (often after 60 s) from closing quiet ones.
    pub heartbeat_interval: Duration,
    /// A connection from which nothing (data, ping, pong) arrived for this long is closed as
    /// dead, reported as an unclean disconnect (zero: never).
    pub idle_timeout: Duration,
    /// Most TCP connections at once, handshakes in progress included (0 = unlimited); one over
    /// the limit gets a bare HTTP 503 (ws://) or is closed at once (wss://). Changeable while
    /// listening with [`crate::Server::stats`].
    pub max_connections: usize,
    /// Most TCP connections at once from one IP address, counted like `max_connections`
    /// (0 = unlimited).
    pub max_connections_per_ip: usize,
    /// Hold each valid upgrade request until the main thread admits or rejects it (see
    /// [`crate::Event::Admission`]).
    pub admission_control: bool,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed for the
    /// client's address (see `forwarded.rs`).
    pub trusted_proxies: Vec<Cidr>,
    /// How long the id of a connection that is gone stays reserved, so that no new client gets it
    /// while commands for the old one may still be on their way (the main thread learns of a
    /// disconnection one poll() later). Also bounds the reactor's id table to the connections of
    /// that period, however long the server runs.
    pub id_quarantine: Duration,
    /// How long one reactor turn may spend on sockets that are ready before it leaves the rest
    /// for the next turn (at least one socket is handled per turn). A turn can run on the main
    /// thread, inside `poll()`, and a burst of new wss:// clients costs the server a TLS handshake
    /// each, about half a millisecond of signing: without a bound one turn could take several
    /// milliseconds of a game's frame. Zero: one socket per turn.
    pub turn_budget: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: BindAddress::Any,
            port: 0,
            protocols: Vec::new(),
            extra_headers: Vec::new(),
            handshake_timeout: Duration::from_secs(3),
            close_timeout: Duration::from_secs(3),
            limits: Limits::DEFAULT,
            no_delay: true,
            backlog: 1024,
            announce_peer_id: false,
            tls: None,
            heartbeat_interval: crate::liveness::DEFAULT_HEARTBEAT_INTERVAL,
            idle_timeout: crate::liveness::DEFAULT_IDLE_TIMEOUT,
            max_connections: 0,
            max_connections_per_ip: 0,
            id_quarantine: Duration::from_secs(60),
            turn_budget: Duration::from_millis(1),
            admission_control: false,
            trusted_proxies: Vec::new(),
        }
    }
}
