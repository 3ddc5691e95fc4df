//! State of one peer shared by the reactor thread and the main thread.
//!
//! Only counters and flags live here, all atomic: the queues themselves are owned by one thread
//! each (the reactor's socket buffers, the main thread's readable packets).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::Limits;
use crate::stats::Stats;

/// A peer's id: random, unique among live peers, in `2..=i32::MAX` (1 is the server in
/// Godot's multiplayer API).
pub type PeerId = i32;

/// Counters and flags of one peer, shared between the threads.
#[derive(Debug)]
pub struct PeerShared {
    id: PeerId,
    addr: SocketAddr,
    limits: Limits,
    inbound_bytes: AtomicUsize,
    inbound_messages: AtomicUsize,
    outbound_bytes: AtomicUsize,
    outbound_messages: AtomicUsize,
    /// The reactor stopped reading this socket because the inbound limits were reached.
    read_paused: AtomicBool,
    /// Cleared when the connection ends; sends are refused from then on.
    open: AtomicBool,
    /// Set when the main thread asks for a close; sends are refused from then on.
    closing: AtomicBool,
    /// The server's counters (queued bytes of all peers, messages in).
    pub(crate) stats: Arc<Stats>,
}

/// A shared handle to one peer's counters.
pub type PeerHandle = Arc<PeerShared>;

impl PeerShared {
    pub(crate) fn new(
        id: PeerId,
        addr: SocketAddr,
        limits: Limits,
        stats: Arc<Stats>,
    ) -> PeerHandle {
        Arc::new(PeerShared {
            id,
            addr,
            limits,
            inbound_bytes: AtomicUsize::new(0),
            inbound_messages: AtomicUsize::new(0),
            outbound_bytes: AtomicUsize::new(0),
            outbound_messages: AtomicUsize::new(0),
            read_paused: AtomicBool::new(false),
            open: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            stats,
        })
    }

    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The peer's address (IPv4-mapped IPv6 addresses are reported as IPv4).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The limits this peer was accepted with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether the connection is still open for sending.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Whether messages can still be queued: open, and no close requested.
    pub fn accepts_sends(&self) -> bool {
        self.is_open() && !self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn mark_closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    pub(crate) fn mark_closed(&self) {
        self.open.store(false, Ordering::Release);
    }

    /// Payload bytes accepted for sending and not yet written to the socket.
    pub fn outbound_bytes(&self) -> usize {
        self.outbound_bytes.load(Ordering::Acquire)
    }

    /// Messages accepted for sending and not yet written to the socket.
    pub fn outbound_messages(&self) -> usize {
        self.outbound_messages.load(Ordering::Acquire)
    }

    /// Payload bytes received and not yet consumed by the main thread.
    pub fn inbound_bytes(&self) -> usize {
        self.inbound_bytes.load(Ordering::Acquire)
    }

    /// Reserves room for one outbound message or says why there is none.
    pub(crate) fn reserve_outbound(&self, len: usize) -> Result<(), (usize, usize)> {
        let bytes = self.outbound_bytes.load(Ordering::Acquire);
        let messages = self.outbound_messages.load(Ordering::Acquire);
        // A message larger than the whole budget still goes out when the queue is empty, so a
        // large message is never refused forever.
        let bytes_full = bytes > 0 && bytes + len > self.limits.outbound_bytes;
        if bytes_full || messages >= self.limits.outbound_messages {
            return Err((bytes, messages));
        }
        self.outbound_bytes.fetch_add(len, Ordering::AcqRel);
        self.outbound_messages.fetch_add(1, Ordering::AcqRel);
        self.stats.queued_out(len);
        Ok(())
    }

    /// The reactor wrote (or discarded) one outbound message of `len` payload bytes.
    pub(crate) fn release_outbound(&self, len: usize) {
        self.outbound_bytes.fetch_sub(len, Ordering::AcqRel);
        self.outbound_messages.fetch_sub(1, Ordering::AcqRel);
    }

    /// The reactor handed one received message to the main thread. Returns false when the inbound
    /// limits are now reached and the reactor must stop reading; it then owns the pause, and the
    /// main thread will ask it to resume.
    pub(crate) fn add_inbound(&self, len: usize) -> bool {
        self.inbound_bytes.fetch_add(len, Ordering::AcqRel);
        self.inbound_messages.fetch_add(1, Ordering::AcqRel);
        if !self.inbound_full() {
            return true;
        }
        self.read_paused.store(true, Ordering::Release);
        // The main thread may have drained everything between the check and the store; whoever
        // clears the flag first resumes reading.
        if !self.inbound_full() && self.read_paused.swap(false, Ordering::AcqRel) {
            return true;
        }
        false
    }

    /// The main thread consumed one message of `len` payload bytes. Returns true when the reactor
    /// had paused reading and must now be told to resume.
    pub fn consume_inbound(&self, len: usize) -> bool {
        self.inbound_bytes.fetch_sub(len, Ordering::AcqRel);
        self.inbound_messages.fetch_sub(1, Ordering::AcqRel);
        !self.inbound_full() && self.read_paused.swap(false, Ordering::AcqRel)
    }

    fn inbound_full(&self) -> bool {
        self.inbound_bytes.load(Ordering::Acquire) >= self.limits.inbound_bytes
            || self.inbound_messages.load(Ordering::Acquire) >= self.limits.inbound_messages
    }
}
