//! Connection limits and the server's counters.
//!
//! The reactor keeps every counter up to date as it works (atomics), so reading them is a few
//! loads and one short lock for the close codes, whatever the number of peers: cheap enough to
//! call every frame. The limits are atomics too, so they can change while listening; a new value
//! applies to the next accepted connection, never to connections already admitted.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// The counters of one listening server (see each field of [`StatsSnapshot`]) and its
/// connection limits.
#[derive(Debug, Default)]
pub struct Stats {
    max_connections: AtomicUsize,
    max_connections_per_ip: AtomicUsize,
    connections: AtomicUsize,
    connections_total: AtomicU64,
    refused_total: AtomicU64,
    handshake_timeouts_total: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    queued_out_bytes: AtomicUsize,
    closed_by_code: Mutex<BTreeMap<u16, u64>>,
}

/// The counters at one moment. Totals count from `Server::start`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// TCP connections holding a slot now: handshakes in progress (TLS included) and upgraded
    /// peers. A peer's slot is freed when its `Disconnected` event is queued; a handshake's when
    /// it fails or times out. What [`Stats::max_connections`] limits.
    pub connections: usize,
    /// TCP connections admitted (given a slot) since start, whether or not they upgraded.
    pub connections_total: u64,
    /// TCP connections closed at accept because a connection limit was reached.
    pub refused_total: u64,
    /// Connections dropped because they did not finish the upgrade within `handshake_timeout`.
    pub handshake_timeouts_total: u64,
    /// Data messages (text or binary) received from peers and handed to the main thread.
    pub messages_in: u64,
    /// Data messages completely written to a peer's socket, one per recipient; in multiplayer
    /// mode the 4-byte id announcement counts as one.
    pub messages_out: u64,
    /// Payload bytes of `messages_in` (no WebSocket framing, no control frames).
    pub bytes_in: u64,
    /// Payload bytes of `messages_out` (no WebSocket framing, no control frames).
    pub bytes_out: u64,
    /// Payload bytes accepted for sending and not yet written, all peers together.
    pub queued_out_bytes: usize,
    /// For each ended peer (one per `Disconnected` event), the code of the first close frame of
    /// its connection, whichever side sent it (1005 for a close frame without a code), or 1006
    /// when the connection ended without any. Sorted by code.
    pub closed_by_code: Vec<(u16, u64)>,
}

impl Stats {
    /// Counters at zero with these limits (0 = unlimited).
    pub fn new(max_connections: usize, max_connections_per_ip: usize) -> Stats {
        let stats = Stats::default();
        stats.set_max_connections(max_connections);
        stats.set_max_connections_per_ip(max_connections_per_ip);
        stats
    }

    /// Most connections at once (0 = unlimited).
    pub fn max_connections(&self) -> usize {
        self.max_connections.load(Ordering::Relaxed)
    }

    /// Changes the limit for connections accepted from now on.
    pub fn set_max_connections(&self, limit: usize) {
        self.max_connections.store(limit, Ordering::Relaxed);
    }

    /// Most connections at once from one IP address (0 = unlimited).
    pub fn max_connections_per_ip(&self) -> usize {
        self.max_connections_per_ip.load(Ordering::Relaxed)
    }

    /// Changes the per-address limit for connections accepted from now on.
    pub fn set_max_connections_per_ip(&self, limit: usize) {
        self.max_connections_per_ip.store(limit, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            connections_total: load(&self.connections_total),
            refused_total: load(&self.refused_total),
            handshake_timeouts_total: load(&self.handshake_timeouts_total),
            messages_in: load(&self.messages_in),
            messages_out: load(&self.messages_out),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            queued_out_bytes: self.queued_out_bytes.load(Ordering::Relaxed),
            closed_by_code: self
                .closed_by_code
                .lock()
                .iter()
                .map(|(c, n)| (*c, *n))
                .collect(),
        }
    }

    pub(crate) fn message_in(&self, len: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn message_out(&self, len: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn queued_out(&self, len: usize) {
        self.queued_out_bytes.fetch_add(len, Ordering::Relaxed);
    }

    pub(crate) fn unqueued_out(&self, len: usize) {
        self.queued_out_bytes.fetch_sub(len, Ordering::Relaxed);
    }

    pub(crate) fn handshake_timed_out(&self) {
        self.handshake_timeouts_total
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self, code: u16) {
        *self.closed_by_code.lock().entry(code).or_insert(0) += 1;
    }

    pub(crate) fn refused(&self) {
        self.refused_total.fetch_add(1, Ordering::Relaxed);
    }
}

/// The reactor's count of connections per address, checked against the limits at accept.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

impl Slots {
    /// Takes a slot for a connection from `ip`, or returns false when a limit is reached.
    pub fn try_take(&mut self, ip: IpAddr, stats: &Stats) -> bool {
        let max = stats.max_connections();
        let max_per_ip = stats.max_connections_per_ip();
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if (max > 0 && self.total >= max) || (max_per_ip > 0 && from_ip >= max_per_ip) {
            return false;
        }
        *self.per_ip.entry(ip).or_insert(0) += 1;
        self.total += 1;
        stats.connections.store(self.total, Ordering::Relaxed);
        stats.connections_total.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Frees the slot of a connection from `ip`.
    pub fn release(&mut self, ip: IpAddr, stats: &Stats) {
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
            self.total -= 1;
        }
        stats.connections.store(self.total, Ordering::Relaxed);
    }

    /// stop(): every connection is gone.
    pub fn clear(&mut self, stats: &Stats) {
        self.per_ip.clear();
        self.total = 0;
        stats.connections.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_enforce_both_limits_and_free_on_release() {
        let stats = Stats::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let mut slots = Slots::default();
        assert!(slots.try_take(a, &stats));
        assert!(slots.try_take(a, &stats));
        assert!(!slots.try_take(a, &stats), "per-address limit");
        assert!(slots.try_take(b, &stats));
        assert!(!slots.try_take(b, &stats), "total limit");
        slots.release(a, &stats);
        assert!(slots.try_take(b, &stats));
        stats.set_max_connections(0);
        stats.set_max_connections_per_ip(0);
        assert!(slots.try_take(a, &stats), "0 is unlimited");
        let snap = stats.snapshot();
        assert_eq!((snap.connections, snap.connections_total), (4, 5));
    }
}
