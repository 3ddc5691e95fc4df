//! `max_connections`, `max_connections_per_ip` and `get_stats()`, the same in both server classes.
//!
//! The limits live in the core's `Stats` while listening (atomics the reactor reads at each
//! accept), so a change applies to the next connection at once. The counters are maintained by
//! the reactor as it works; `get_stats()` reads them without walking the peers.

use std::sync::Arc;

use godot::prelude::*;
use websocket_server_core::{Server, ServerConfig, Stats};

/// The connection limits of one server object and the counters of its last `listen()`.
#[derive(Default)]
pub struct ConnectionLimits {
    max_connections: usize,
    max_connections_per_ip: usize,
    /// The counters of the running server, or of the last one after `stop()` (read-only then).
    stats: Option<Arc<Stats>>,
}

impl ConnectionLimits {
    /// listen(): the limits go into the core's configuration.
    pub fn configure(&self, config: &mut ServerConfig) {
        config.max_connections = self.max_connections;
        config.max_connections_per_ip = self.max_connections_per_ip;
    }

    /// listen() succeeded: counters start from 0 and limit changes go to this server.
    pub fn started(&mut self, server: &Server) {
        self.stats = Some(server.stats().clone());
    }

    /// Whether `stats` belongs to a running server (the one of the last listen()).
    fn running(&self, listening: bool) -> Option<&Stats> {
        self.stats.as_deref().filter(|_| listening)
    }

    pub fn max_connections(&self) -> i64 {
        self.max_connections as i64
    }

    pub fn max_connections_per_ip(&self) -> i64 {
        self.max_connections_per_ip as i64
    }

    pub fn set_max_connections(&mut self, class: &str, value: i64, listening: bool) {
        if let Some(limit) = checked(class, "max_connections", value, self.max_connections) {
            self.max_connections = limit;
            if let Some(stats) = self.running(listening) {
                stats.set_max_connections(limit);
            }
        }
    }

    pub fn set_max_connections_per_ip(&mut self, class: &str, value: i64, listening: bool) {
        let old = self.max_connections_per_ip;
        if let Some(limit) = checked(class, "max_connections_per_ip", value, old) {
            self.max_connections_per_ip = limit;
            if let Some(stats) = self.running(listening) {
                stats.set_max_connections_per_ip(limit);
            }
        }
    }

    /// get_stats(): every counter, zeros before the first listen().
    pub fn stats(&self, listening: bool) -> VarDictionary {
        let s = self
            .stats
            .as_ref()
            .map(|stats| stats.snapshot())
            .unwrap_or_default();
        let mut closed = VarDictionary::new();
        for (code, count) in &s.closed_by_code {
            closed.set(*code as i64, *count as i64);
        }
        let mut d = VarDictionary::new();
        // After stop() nothing is connected, whatever the last reactor turn saw.
        let connections = if listening { s.connections as i64 } else { 0 };
        d.set("connections", connections);
        d.set("connections_total", s.connections_total as i64);
        d.set("refused_total", s.refused_total as i64);
        d.set(
            "handshake_timeouts_total",
            s.handshake_timeouts_total as i64,
        );
        d.set("messages_in", s.messages_in as i64);
        d.set("messages_out", s.messages_out as i64);
        d.set("bytes_in", s.bytes_in as i64);
        d.set("bytes_out", s.bytes_out as i64);
        let queued = if listening {
            s.queued_out_bytes as i64
        } else {
            0
        };
        d.set("queued_out_bytes", queued);
        d.set("closed_by_code", &closed);
        d
    }
}

/// A limit from a script value, or `None` after reporting why it is kept at `old`.
fn checked(class: &str, property: &str, value: i64, old: usize) -> Option<usize> {
    if (0..=i32::MAX as i64).contains(&value) {
        Some(value as usize)
    } else {
        godot_error!(
            "{class}.{property}: {value} is not a connection count (0 = unlimited, or a positive number); keeping {old}."
        );
        None
    }
}

impl crate::server_state::ServerState {
    /// The `max_connections` setter of both classes.
    pub fn set_max_connections(&mut self, value: i64) {
        let (class, listening) = (self.class(), self.is_listening());
        self.connection_limits
            .set_max_connections(class, value, listening);
    }

    /// The `max_connections_per_ip` setter of both classes.
    pub fn set_max_connections_per_ip(&mut self, value: i64) {
        let (class, listening) = (self.class(), self.is_listening());
        self.connection_limits
            .set_max_connections_per_ip(class, value, listening);
    }
}

/// `get_stats()`, as a `#[godot_api(secondary)]` block of `$class` (which must have
/// `state: ServerState`). The properties and their accessors are declared in each class's
/// primary block (gdext looks for property accessors there).
macro_rules! limits_api {
    ($class:ident) => {
        #[godot_api(secondary)]
        impl $class {
            /// The server's counters, cheap enough to read every frame (no per-peer work):
            ///
            /// - `connections`: TCP connections counted against the limits now: handshakes in
            ///   progress (TLS included) and connected clients. A client's slot is freed when
            ///   its disconnection is reported. 0 when not listening.
            /// - `connections_total`: connections admitted since `listen()` (not refused by a
            ///   limit), whether or not their handshake succeeded.
            /// - `refused_total`: connections closed at once because `max_connections` or
            ///   `max_connections_per_ip` was reached.
            /// - `handshake_timeouts_total`: connections dropped because their upgrade took
            ///   longer than `handshake_timeout`.
            /// - `messages_in`, `bytes_in`: data messages (text or binary) received from clients
            ///   and their payload bytes (no framing, no ping/pong/close frames).
            /// - `messages_out`, `bytes_out`: data messages completely written to a client's
            ///   socket (a message sent to n clients counts n times) and their payload bytes. In
            ///   multiplayer mode the id announcement each client gets on connecting counts as one
            ///   4-byte message, and SceneMultiplayer's own packets count like any other.
            /// - `queued_out_bytes`: payload bytes accepted by `put_packet()` and not yet written,
            ///   all clients together. 0 when not listening.
            /// - `closed_by_code`: Dictionary close code -> count, one count per reported
            ///   disconnection: the code of the first close frame of that connection, whichever
            ///   side sent it (1005 for a close frame without a code), or 1006 when the connection
            ///   ended without one. Clients dropped by `stop()` or a forced disconnect are not
            ///   counted (no disconnection is reported for them).
            ///
            /// Totals count from the last `listen()` and stay readable after `stop()`.
            #[func]
            pub fn get_stats(&self) -> VarDictionary {
                self.state
                    .connection_limits
                    .stats(self.state.is_listening())
            }
        }
    };
}

pub(crate) use limits_api;
