//! What both server classes are made of: the settings their properties set, the core's `Server`,
//! the table of connected peers, and `poll()`'s drain of the core's events.
//!
//! `WebSocketServer` (raw WebSocket, Godot 3's class) and `WebSocketMultiplayerServer` (a Godot 4
//! `MultiplayerPeer`) each hold one [`ServerState`] and implement [`ServerSignals`], which says
//! what an event becomes in that class (its signals, where a message is queued); [`poll`] does
//! the rest. [`server_common_api!`] registers the script methods the two classes share. gdext
//! cannot derive one Rust class from another, hence this shape.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use godot::classes::{CryptoKey, X509Certificate};
use godot::global::Error;
use godot::prelude::*;
use websocket_server_core::{
    close_code, BindAddress, Bytes, Cidr, Event, Limits, PeerHandle, PeerId, Server, ServerConfig,
    UpdateTlsError,
};

use crate::admission;
use crate::errors;
use crate::limits::ConnectionLimits;
use crate::peer::WebSocketServerPeer;
use crate::tls;

/// A connected client: its script-facing object and its shared counters (reachable without
/// binding the object, so multiplayer sends and lookups stay cheap).
pub struct PeerEntry {
    pub object: Gd<WebSocketServerPeer>,
    /// The object's inbox (raw mode's `poll()` queues messages there).
    pub inbox: crate::peer::Inbox,
    pub handle: PeerHandle,
    /// Multiplayer-mode sends (raw mode: the peer object keeps its own).
    pub full_queue: errors::FullQueueReport,
}

/// The state of one server object, whichever class it is.
pub struct ServerState {
    /// The Godot class name, for error messages.
    class: &'static str,

    // Settings, read by listen().
    bind_ip: GString,
    bind: BindAddress,
    handshake_timeout: f64,
    private_key: Option<Gd<CryptoKey>>,
    ssl_certificate: Option<Gd<X509Certificate>>,
    ca_chain: Option<Gd<X509Certificate>>,
    limits: Limits,
    extra_headers: Vec<(String, String)>,
    refuse_new_connections: bool,
    /// heartbeat_interval and idle_timeout (`liveness.rs`).
    pub liveness: crate::liveness::LivenessSettings,
    /// `max_connections`, `max_connections_per_ip` and the counters (`limits.rs`).
    pub connection_limits: ConnectionLimits,
    admission_control: bool,
    trusted_proxies: PackedStringArray,
    trusted_cidrs: Vec<Cidr>,

    /// Admission control: ids whose `client_handshake` awaits `accept_peer` / `reject_peer`.
    pending_admissions: HashSet<PeerId>,
    /// The running core, while listening.
    server: Option<Server>,
    pub peers: HashMap<PeerId, PeerEntry>,
    /// Reused between polls so a quiet poll allocates nothing; between polls it holds the events
    /// a poll left for the next one (see [`ServerSignals::must_wait`]).
    events: Vec<Event>,
    /// Bumped by stop()/listen(): a poll interrupted by one of them from a signal handler stops
    /// delivering the old server's events. Shared so that a batch of signals emitted while the
    /// object is lent to the engine (see [`emit_for_each`]) can still see it change.
    generation: Rc<Cell<u64>>,
    /// The peers whose per-message signal is due, one entry per message, in order (reused).
    signals_due: Vec<PeerId>,
    /// The class's per-message signal (`data_received`, `peer_packet`), named once: emitting one
    /// costs several microseconds, so it is skipped when nothing is connected (SceneMultiplayer
    /// does not listen to `peer_packet`).
    per_message_signal: StringName,
    /// Whether the per-message signal has a listener, as last asked. Godot 4.3 has no
    /// `has_connections()` (4.4 added it), and `get_signal_connection_list()` builds an Array,
    /// so the answer is kept until it can have changed from "no" to "yes": a script connects
    /// the signal outside `poll()`, or inside the handler of another signal. It is forgotten at
    /// the start of each poll and after every other signal; a stale "yes" costs one emission
    /// that nobody hears.
    per_message_listened: Option<bool>,
    /// "has_connections", for [`has_connections`].
    pub has_connections_method: StringName,
    /// `_inject_fault("poll")`: the next poll panics (`fault_injection.rs`).
    #[cfg(feature = "fault-injection")]
    pub panic_on_next_poll: bool,
}

impl ServerState {
    /// A server that is not listening, with the default settings. `class` names it in error
    /// messages; `per_message_signal` is the signal emitted for each message.
    pub fn new(class: &'static str, per_message_signal: &str) -> Self {
        ServerState {
            class,
            bind_ip: GString::from("*"),
            bind: BindAddress::Any,
            handshake_timeout: 3.0,
            private_key: None,
            ssl_certificate: None,
            ca_chain: None,
            limits: Limits::DEFAULT,
            extra_headers: Vec::new(),
            refuse_new_connections: false,
            liveness: Default::default(),
            connection_limits: ConnectionLimits::default(),
            admission_control: false,
            trusted_proxies: PackedStringArray::new(),
            trusted_cidrs: Vec::new(),
            pending_admissions: HashSet::new(),
            server: None,
            peers: HashMap::new(),
            events: Vec::new(),
            generation: Rc::new(Cell::new(0)),
            signals_due: Vec::new(),
            per_message_signal: StringName::from(per_message_signal),
            per_message_listened: None,
            has_connections_method: StringName::from("has_connections"),
            #[cfg(feature = "fault-injection")]
            panic_on_next_poll: false,
        }
    }

    /// The running core, while listening.
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// The running core and the peer table together, while listening (a send to peers borrows
    /// both).
    pub fn server_and_peers(&mut self) -> Option<(&Server, &mut HashMap<PeerId, PeerEntry>)> {
        let server = self.server.as_ref()?;
        Some((server, &mut self.peers))
    }

    /// listen(): starts the core with the current settings. `announce_peer_id` is multiplayer
    /// mode's 4-byte id message.
    pub fn listen(
        &mut self,
        port: i64,
        protocols: &PackedStringArray,
        announce_peer_id: bool,
    ) -> Error {
        let class = self.class;
        if self.server.is_some() {
            godot_error!("{class}.listen(): already listening; call stop() first.");
            return Error::ERR_ALREADY_IN_USE;
        }
        let Ok(port) = u16::try_from(port) else {
            godot_error!("{class}.listen(): port {port} is out of range 0..65535.");
            return Error::ERR_INVALID_PARAMETER;
        };
        let tls = match tls::identity(
            class,
            self.private_key.as_ref(),
            self.ssl_certificate.as_ref(),
            self.ca_chain.as_ref(),
        ) {
            Ok(tls) => tls,
            Err(e) => return e,
        };
        let mut config = ServerConfig {
            bind: self.bind,
            port,
            protocols: protocols.as_slice().iter().map(|p| p.to_string()).collect(),
            extra_headers: self.extra_headers.clone(),
            handshake_timeout: Duration::from_secs_f64(self.handshake_timeout),
            limits: self.limits,
            announce_peer_id,
            tls,
            heartbeat_interval: self.liveness.heartbeat_interval(),
            idle_timeout: self.liveness.idle_timeout(),
            admission_control: self.admission_control,
            trusted_proxies: self.trusted_cidrs.clone(),
            ..ServerConfig::default()
        };
        self.connection_limits.configure(&mut config);
        match Server::start(config) {
            Ok(server) => {
                self.connection_limits.started(&server);
                server.set_refuse_new_connections(self.refuse_new_connections);
                self.server = Some(server);
                self.generation.set(self.generation.get() + 1);
                Error::OK
            }
            Err(e) => errors::start_failed(class, port, &self.bind_ip.to_string(), &e),
        }
    }

    /// stop(): closes every connection (1001, best effort), forgets every peer, no signals.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        for entry in self.peers.values_mut() {
            entry.object.bind_mut().mark_disconnected();
        }
        self.peers.clear();
        self.pending_admissions.clear();
        self.events.clear();
        self.generation.set(self.generation.get() + 1);
    }

    /// shutdown(): closes every peer with `code` and `reason`, waits up to `timeout` for their
    /// answers, then the same as stop(). Returns whether every peer answered in time.
    pub fn shutdown(&mut self, code: u16, reason: &str, timeout: Duration) -> bool {
        let done = self
            .server
            .as_mut()
            .is_none_or(|server| server.shutdown(code, reason, timeout));
        self.stop();
        done
    }

    /// The per-message signal's name and the generation counter, for [`emit_for_each`].
    pub fn per_message_signal(&self) -> (StringName, Rc<Cell<u64>>) {
        (self.per_message_signal.clone(), self.generation.clone())
    }

    /// The Godot class name, for error messages.
    pub fn class(&self) -> &'static str {
        self.class
    }

    pub fn is_listening(&self) -> bool {
        self.server.is_some()
    }

    pub fn local_port(&self) -> i64 {
        self.server
            .as_ref()
            .map_or(0, |s| s.local_addr().port() as i64)
    }

    pub fn find(&self, id: i64) -> Option<&PeerEntry> {
        PeerId::try_from(id).ok().and_then(|id| self.peers.get(&id))
    }

    /// The peer `id`, or `None` after reporting `method`'s "no such peer" error.
    fn find_or_report(&self, method: &str, id: i64) -> Option<&PeerEntry> {
        let entry = self.find(id);
        if entry.is_none() {
            godot_error!("{}.{method}({id}): no such peer.", self.class);
        }
        entry
    }

    pub fn get_peer(&self, id: i64) -> Option<Gd<WebSocketServerPeer>> {
        self.find_or_report("get_peer", id)
            .map(|entry| entry.object.clone())
    }

    pub fn peer_ids(&self) -> PackedInt32Array {
        self.peers.keys().copied().collect()
    }

    pub fn peer_address(&self, id: i64) -> GString {
        self.find_or_report("get_peer_address", id)
            .map_or_else(GString::new, |entry| {
                GString::from(&entry.handle.addr().ip().to_string())
            })
    }

    pub fn peer_port(&self, id: i64) -> i64 {
        self.find_or_report("get_peer_port", id)
            .map_or(0, |entry| entry.handle.addr().port() as i64)
    }

    /// Starts a clean close of peer `id` (Godot 3's `disconnect_peer(id, code, reason)`); the
    /// disconnect event follows from a later poll.
    pub fn close_peer(&self, id: i64, code: i64, reason: &GString) {
        let Some(peer) = self.find_or_report("disconnect_peer", id) else {
            return;
        };
        let code = errors::close_code(code).unwrap_or_else(|| {
            godot_error!(
                "{}.disconnect_peer(): invalid close code {code}; using 1000.",
                self.class
            );
            close_code::NORMAL
        });
        if let Some(server) = &self.server {
            server
                .sender()
                .close(&peer.handle, code, &reason.to_string());
        }
    }

    /// Drops peer `id` at once, without a closing handshake and without a disconnect event
    /// (`MultiplayerPeer.disconnect_peer(id, true)`). Returns false (with an error) when there is
    /// no such peer.
    pub fn drop_peer_now(&mut self, id: PeerId) -> bool {
        let Some(mut entry) = self.peers.remove(&id) else {
            godot_error!("{}.disconnect_peer({id}, true): no such peer.", self.class);
            return false;
        };
        entry.object.bind_mut().mark_disconnected();
        if let Some(server) = &self.server {
            server.sender().drop_peer(&entry.handle);
        }
        true
    }

    pub fn set_extra_headers(&mut self, headers: &PackedStringArray) {
        let class = self.class;
        let mut parsed = Vec::new();
        for line in headers.as_slice() {
            let line = line.to_string();
            let Some((name, value)) = line.split_once(':') else {
                godot_error!("{class}.set_extra_headers(): \"{line}\" is not \"Name: value\"; headers unchanged.");
                return;
            };
            let (name, value) = (name.trim(), value.trim());
            if let Err(why) = websocket_server_core::handshake::validate_extra_header(name, value) {
                godot_error!("{class}.set_extra_headers(): {why}; headers unchanged.");
                return;
            }
            parsed.push((name.to_string(), value.to_string()));
        }
        self.extra_headers = parsed;
    }

    pub fn set_buffers(
        &mut self,
        input_buffer_size_kb: i64,
        input_max_packets: i64,
        output_buffer_size_kb: i64,
        output_max_packets: i64,
    ) -> Error {
        let class = self.class;
        if self.server.is_some() {
            godot_error!("{class}.set_buffers(): buffers can only be set before listen().");
            return Error::FAILED;
        }
        let values = [
            input_buffer_size_kb,
            input_max_packets,
            output_buffer_size_kb,
            output_max_packets,
        ];
        if values.iter().any(|v| *v < 1 || *v > (1 << 30)) {
            godot_error!(
                "{class}.set_buffers(): every value must be between 1 and 2^30, got {values:?}."
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        self.limits = Limits {
            inbound_bytes: input_buffer_size_kb as usize * 1024,
            inbound_messages: input_max_packets as usize,
            outbound_bytes: output_buffer_size_kb as usize * 1024,
            outbound_messages: output_max_packets as usize,
        };
        Error::OK
    }

    /// The largest message a peer may send (the inbound limit).
    pub fn max_packet_size(&self) -> i32 {
        self.limits.max_message_size().min(i32::MAX as usize) as i32
    }

    pub fn bind_ip(&self) -> GString {
        self.bind_ip.clone()
    }

    pub fn set_bind_ip(&mut self, value: GString) {
        match BindAddress::parse(&value.to_string()) {
            Some(bind) => {
                self.bind = bind;
                self.bind_ip = value;
            }
            None => godot_error!(
                "{}.bind_ip: \"{value}\" is not \"*\" or an IP address; keeping \"{}\".",
                self.class,
                self.bind_ip
            ),
        }
    }

    pub fn handshake_timeout(&self) -> f64 {
        self.handshake_timeout
    }

    pub fn set_handshake_timeout(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 {
            self.handshake_timeout = seconds;
        } else {
            godot_error!(
                "{}.handshake_timeout: {seconds} is not a number of seconds > 0; keeping {}.",
                self.class,
                self.handshake_timeout
            );
        }
    }

    pub fn private_key(&self) -> Option<Gd<CryptoKey>> {
        self.private_key.clone()
    }

    pub fn set_private_key(&mut self, value: Option<Gd<CryptoKey>>) {
        if !self.refuse_tls_change("private_key") {
            self.private_key = value;
        }
    }

    pub fn ssl_certificate(&self) -> Option<Gd<X509Certificate>> {
        self.ssl_certificate.clone()
    }

    pub fn set_ssl_certificate(&mut self, value: Option<Gd<X509Certificate>>) {
        if !self.refuse_tls_change("ssl_certificate") {
            self.ssl_certificate = value;
        }
    }

    pub fn ca_chain(&self) -> Option<Gd<X509Certificate>> {
        self.ca_chain.clone()
    }

    pub fn set_ca_chain(&mut self, value: Option<Gd<X509Certificate>>) {
        if !self.refuse_tls_change("ca_chain") {
            self.ca_chain = value;
        }
    }

    /// TLS settings are read once, by listen(): changing them while listening would not take
    /// effect, so it is refused rather than silently ignored.
    fn refuse_tls_change(&self, property: &str) -> bool {
        if self.server.is_some() {
            godot_error!(
                "{}.{property}: cannot change while listening; call update_tls() to renew the certificate, or stop() first, then listen() again.",
                self.class
            );
        }
        self.server.is_some()
    }

    /// update_tls(): new wss:// connections are served `private_key` and `certificate` (renewal
    /// while listening); connected clients are not affected. On success the TLS properties report
    /// the new objects, so a later listen() uses them too; on error nothing changes.
    pub fn update_tls(
        &mut self,
        private_key: Option<Gd<CryptoKey>>,
        certificate: Option<Gd<X509Certificate>>,
        ca_chain: Option<Gd<X509Certificate>>,
    ) -> Error {
        let class = self.class;
        let Some(server) = &self.server else {
            godot_error!("{class}.update_tls(): not listening; set private_key and ssl_certificate, then listen().");
            return Error::ERR_UNCONFIGURED;
        };
        if !server.is_tls() {
            godot_error!("{class}.update_tls(): the server listens on ws://, without a certificate; for wss://, set private_key and ssl_certificate, stop() and listen() again.");
            return Error::ERR_UNCONFIGURED;
        }
        let (Some(key), Some(certificate)) = (private_key, certificate) else {
            godot_error!("{class}.update_tls(): private_key and certificate must both be given; still serving the previous certificate.");
            return Error::ERR_INVALID_PARAMETER;
        };
        let identity = match tls::identity_for(
            "update_tls()",
            class,
            Some(&key),
            Some(&certificate),
            ca_chain.as_ref(),
        ) {
            Ok(Some(identity)) => identity,
            Ok(None) => return Error::ERR_INVALID_PARAMETER,
            Err(e) => return e,
        };
        match server.update_tls(&identity) {
            Ok(()) => {
                self.private_key = Some(key);
                self.ssl_certificate = Some(certificate);
                self.ca_chain = ca_chain;
                Error::OK
            }
            Err(e) => {
                godot_error!("{class}.update_tls(): {e}; still serving the previous certificate.");
                match e {
                    UpdateTlsError::Tls(_) => Error::ERR_INVALID_PARAMETER,
                    UpdateTlsError::NotTls | UpdateTlsError::Stopped => Error::ERR_UNCONFIGURED,
                }
            }
        }
    }

    pub fn admission_control(&self) -> bool {
        self.admission_control
    }

    pub fn set_admission_control(&mut self, enable: bool) {
        self.admission_control = enable;
    }

    pub fn trusted_proxies(&self) -> PackedStringArray {
        self.trusted_proxies.clone()
    }

    pub fn set_trusted_proxies(&mut self, list: PackedStringArray) {
        match admission::parse_trusted_proxies(&list) {
            Ok(cidrs) => {
                self.trusted_cidrs = cidrs;
                self.trusted_proxies = list;
            }
            Err(why) => godot_error!(
                "{}.trusted_proxies: {why}; keeping {}.",
                self.class,
                self.trusted_proxies
            ),
        }
    }

    /// Takes `id` off the waiting list, or reports why it cannot be answered.
    fn take_pending(&mut self, method: &str, id: i64) -> Option<PeerId> {
        let class = self.class;
        let pending = PeerId::try_from(id)
            .ok()
            .filter(|id| self.pending_admissions.remove(id));
        if pending.is_none() {
            godot_error!(
                "{class}.{method}({id}): no handshake is waiting for an answer under this id (already answered, timed out, the client left, or admission_control is off)."
            );
        }
        pending
    }

    /// accept_peer(): the waiting client gets its 101 reply and becomes a peer.
    pub fn accept_peer(&mut self, id: i64) -> Error {
        let Some(id) = self.take_pending("accept_peer", id) else {
            return Error::ERR_DOES_NOT_EXIST;
        };
        if let Some(server) = &self.server {
            server.sender().admit(id);
        }
        Error::OK
    }

    /// reject_peer(): the waiting client gets an HTTP error reply and is closed.
    pub fn reject_peer(&mut self, id: i64, http_status: i64, reason: &GString) -> Error {
        let class = self.class;
        let reason = reason.to_string();
        let status = u16::try_from(http_status).unwrap_or(0);
        if let Err(why) = websocket_server_core::admission::validate_rejection(status, &reason) {
            godot_error!("{class}.reject_peer({id}): {why}; the request is still waiting.");
            return Error::ERR_INVALID_PARAMETER;
        }
        let Some(id) = self.take_pending("reject_peer", id) else {
            return Error::ERR_DOES_NOT_EXIST;
        };
        if let Some(server) = &self.server {
            // Validated above, so this cannot fail.
            let _ = server.sender().reject(id, status, &reason);
        }
        Error::OK
    }

    pub fn refuses_new_connections(&self) -> bool {
        self.refuse_new_connections
    }

    pub fn set_refuse_new_connections(&mut self, enable: bool) {
        self.refuse_new_connections = enable;
        if let Some(server) = &self.server {
            server.set_refuse_new_connections(enable);
        }
    }
}

/// What a server class does with the events [`poll`] hands it: where a message goes and which
/// signals it emits. Every method that emits must do so through `self.signals()` (gdext then
/// lets a handler call back into this object, as SceneMultiplayer does from `peer_connected`).
pub trait ServerSignals {
    fn state(&self) -> &ServerState;
    fn state_mut(&mut self) -> &mut ServerState;

    /// Whether anything is connected to `signal` ([`has_connections`] on this object).
    fn has_listeners(&mut self, signal: &StringName) -> bool;

    /// Whether `event` must stay queued for a later poll, ahead of newer events.
    fn must_wait(&self, _event: &Event) -> bool {
        false
    }

    /// Peer `id` completed the upgrade (it is in the peer table now).
    fn connected(&mut self, id: PeerId, protocol: &str);

    /// Makes a message of peer `id` readable; false when the peer is gone (no signal follows).
    fn queue_message(&mut self, id: PeerId, data: Bytes, text: bool) -> bool;

    /// Emits the per-message signal once for each entry of `ids` (one per message, queued before
    /// the call), e.g. with [`emit_for_each`]. Only called when the signal has a listener.
    fn messages_ready(&mut self, ids: &[PeerId]);

    /// Connected peer `id` started the closing handshake.
    fn close_requested(&mut self, id: PeerId, code: u16, reason: &str);

    /// Connected peer `id` is gone. It stays in the peer table during this call.
    fn disconnected(&mut self, id: PeerId, clean: bool);

    /// Admission control: client `id` asks to connect; `request` as `client_handshake` documents.
    fn handshake_requested(&mut self, id: PeerId, request: VarDictionary);

    /// `stop()` has closed everything and emptied the peer table: forget what the class queued
    /// itself.
    fn stopped(&mut self) {}
}

/// `poll()`: drains the core's events in order, making packets readable and emitting the class's
/// signals. Signal handlers may call back into the object (even stop() or listen()): no borrow
/// is held while a signal is emitted, and events of a server stopped meanwhile are dropped.
///
/// A panic in here (a bug) is contained: it is reported with `push_error` and the poll ends;
/// unwinding into the engine would abort the game.
pub fn poll<C: ServerSignals>(this: &mut C) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_events(this)));
    if let Err(payload) = result {
        let message = payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        godot_error!(
            "{}.poll(): internal error: {message}. The server keeps running. This is a bug in the extension: please report it with this message.",
            this.state().class
        );
    }
}

fn poll_events<C: ServerSignals>(this: &mut C) {
    #[cfg(feature = "fault-injection")]
    if std::mem::take(&mut this.state_mut().panic_on_next_poll) {
        #[allow(clippy::panic)] // the point of the hook
        {
            panic!("injected fault in poll()");
        }
    }
    let state = this.state_mut();
    let Some(server) = &state.server else { return };
    state.per_message_listened = None;
    let mut events = std::mem::take(&mut state.events);
    server.drain_events(&mut events);
    if events.is_empty() {
        state.events = events; // a quiet poll: nothing to deliver, no flush hold to take
        return;
    }
    let generation = state.generation.get();
    // Replies written by handlers (a drain loop per `data_received`) leave together when the
    // poll ends, not one system call per message.
    let _flush_hold = server.sender().hold_flushes();
    let mut pending = events.drain(..);
    while let Some(event) = pending.next() {
        if let Event::Message { peer, data, text } = event {
            // Made readable now; the signals follow as one batch, before the next other event.
            if this.queue_message(peer, data, text) && per_message_listened(this) {
                this.state_mut().signals_due.push(peer);
            }
            continue;
        }
        emit_signals_due(this);
        if this.state().generation.get() != generation {
            return; // stop() or listen() ran inside a handler: the rest belongs to a dead server
        }
        if this.must_wait(&event) {
            // Left for the next poll, in order, ahead of newer events.
            this.state_mut().events = std::iter::once(event).chain(pending).collect();
            return;
        }
        deliver(this, event);
        this.state_mut().per_message_listened = None; // its handler may have connected the signal
    }
    drop(pending);
    emit_signals_due(this);
    let state = this.state_mut();
    if state.generation.get() == generation {
        state.events = events; // empty; keeps its allocation for the next poll
    }
}

/// Emits the per-message signals of the messages queued since the last call.
fn emit_signals_due<C: ServerSignals>(this: &mut C) {
    if this.state().signals_due.is_empty() {
        return;
    }
    let ids = std::mem::take(&mut this.state_mut().signals_due);
    this.messages_ready(&ids);
    let mut ids = ids;
    ids.clear();
    let state = this.state_mut();
    if state.signals_due.is_empty() {
        state.signals_due = ids; // keeps its allocation
    }
}

/// Whether anything is connected to `object`'s `signal`. Godot 4.4+ answers with
/// `Object.has_connections()` (tens of nanoseconds); 4.3 has only `get_signal_connection_list()`,
/// which builds an Array of Dictionaries (about a microsecond with one connection).
/// `method` is `has_connections` as a StringName ([`ServerState::has_connections_method`]), made
/// once per server: making one from text takes a lock and a lookup in the engine. (Not a
/// thread-local: a StringName must not outlive the engine, and thread-locals are dropped at exit.)
pub fn has_connections(
    object: &mut godot::classes::Object,
    signal: &StringName,
    method: &StringName,
) -> bool {
    static HAS_CONNECTIONS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let available = *HAS_CONNECTIONS.get_or_init(|| {
        godot::classes::ClassDb::singleton().class_has_method("Object", "has_connections")
    });
    if available {
        object
            .call(method, &[signal.to_variant()])
            .try_to::<bool>()
            .unwrap_or(true)
    } else {
        !object.get_signal_connection_list(signal).is_empty()
    }
}

/// Emits `signal(id)` on `object` for each of `ids`, stopping if `generation` changes (a handler
/// called stop() or listen()). The caller holds one `base_mut()` guard for the whole batch:
/// taking it costs about as much as an emission, and handlers may call back into the server
/// (`get_peer(id)`) through it.
pub fn emit_for_each(
    object: &mut godot::classes::Object,
    signal: &StringName,
    ids: &[PeerId],
    generation: &Cell<u64>,
) {
    let live = generation.get();
    for &id in ids {
        if generation.get() != live {
            return;
        }
        object.emit_signal(signal, &[Variant::from(id as i64)]);
    }
}

fn per_message_listened<C: ServerSignals>(this: &mut C) -> bool {
    if let Some(known) = this.state().per_message_listened {
        return known;
    }
    let signal = this.state().per_message_signal.clone();
    let known = this.has_listeners(&signal);
    this.state_mut().per_message_listened = Some(known);
    known
}

/// One event: the peer table's side of it, then the class's side.
fn deliver<C: ServerSignals>(this: &mut C, event: Event) {
    match event {
        Event::Connected {
            peer,
            protocol,
            request,
        } => {
            let state = this.state_mut();
            let Some(server) = &state.server else { return };
            let id = peer.id();
            let object = WebSocketServerPeer::create(
                peer.clone(),
                server.sender().clone(),
                &protocol,
                request,
            );
            let inbox = object.bind().inbox();
            state.peers.insert(
                id,
                PeerEntry {
                    object,
                    inbox,
                    handle: peer,
                    full_queue: errors::FullQueueReport::default(),
                },
            );
            this.connected(id, &protocol);
        }
        Event::Message { peer, data, text } => {
            this.queue_message(peer, data, text); // poll_events handles messages itself
        }
        Event::CloseRequest { peer, code, reason } => {
            if this.state().peers.contains_key(&peer) {
                this.close_requested(peer, code, &reason);
            }
        }
        Event::Admission {
            peer,
            addr,
            request,
        } => {
            this.state_mut().pending_admissions.insert(peer);
            this.handshake_requested(peer, admission::request_dictionary(addr, &request));
        }
        Event::Fault { peer, message } => {
            let class = std::any::type_name::<C>()
                .rsplit("::")
                .next()
                .unwrap_or("server");
            let place = peer.map_or_else(
                || "in the network loop".to_owned(),
                |id| format!("while handling peer {id}, whose connection was closed"),
            );
            godot_error!(
                "{class}: internal error {place}: {message}. The server keeps running. This is a bug in the extension: please report it with this message."
            );
        }
        Event::Disconnected { peer, clean } => {
            // An unanswered request that ended (timeout, client gone): forgotten, no signal.
            this.state_mut().pending_admissions.remove(&peer);
            if !this.state().peers.contains_key(&peer) {
                return; // dropped with disconnect_peer(id, true): no signal, as documented
            }
            this.disconnected(peer, clean);
            if let Some(mut entry) = this.state_mut().peers.remove(&peer) {
                entry.object.bind_mut().mark_disconnected();
            }
        }
    }
}

/// The script methods both server classes have, as a `#[godot_api(secondary)]` block of `$class`
/// (which must have a field `state: ServerState` and implement [`ServerSignals`]). Properties
/// and signals cannot live in a secondary block: each class declares its own.
macro_rules! server_common_api {
    ($class:ident) => {
        #[godot_api(secondary)]
        impl $class {
            /// Closes every connection at once (each client gets a 1001 close frame, best effort)
            /// and stops listening. No signals are emitted; the port can be listened on again.
            #[func]
            pub fn stop(&mut self) {
                self.state.stop();
                $crate::server_state::ServerSignals::stopped(self);
            }

            /// Whether `listen()` succeeded and `stop()` has not been called.
            #[func]
            pub fn is_listening(&self) -> bool {
                self.state.is_listening()
            }

            /// The port actually listened on (useful after `listen(0)`), or 0 when not listening.
            #[func]
            pub fn get_local_port(&self) -> i64 {
                self.state.local_port()
            }

            /// Whether client `id` is connected.
            #[func]
            pub fn has_peer(&self, id: i64) -> bool {
                self.state.find(id).is_some()
            }

            /// The connection object of client `id` (a [WebSocketServerPeer]: its address, its
            /// upgrade request, `close(code, reason)`), or null (with an error) when there is none.
            #[func]
            pub fn get_peer(&self, id: i64) -> Option<Gd<$crate::peer::WebSocketServerPeer>> {
                self.state.get_peer(id)
            }

            /// The ids of the connected clients.
            #[func]
            pub fn get_peer_ids(&self) -> PackedInt32Array {
                self.state.peer_ids()
            }

            /// The IP address of client `id` ("" with an error when there is none).
            #[func]
            pub fn get_peer_address(&self, id: i64) -> GString {
                self.state.peer_address(id)
            }

            /// The TCP port of client `id` (0 with an error when there is none).
            #[func]
            pub fn get_peer_port(&self, id: i64) -> i64 {
                self.state.peer_port(id)
            }

            /// Extra HTTP headers for the upgrade reply, each "Name: value". Takes effect at the
            /// next `listen()`. A malformed list is refused as a whole (with an error).
            #[func]
            pub fn set_extra_headers(&mut self, headers: PackedStringArray) {
                self.state.set_extra_headers(&headers);
            }

            /// Admission control: lets the client whose `client_handshake` carried `id` connect
            /// (it gets its 101 reply; the usual connected signal follows from a later `poll()`).
            /// Returns `ERR_DOES_NOT_EXIST` (with an error) when no request waits under `id`:
            /// already answered, timed out, or the client left.
            #[func]
            pub fn accept_peer(&mut self, id: i64) -> Error {
                self.state.accept_peer(id)
            }

            /// Admission control: refuses the client whose `client_handshake` carried `id`. It
            /// receives the HTTP `http_status` (400 to 599) with `reason` as the body (at most 256
            /// characters, no line breaks), then the connection closes; no signal mentions it
            /// again. Returns `ERR_INVALID_PARAMETER` for a bad status or reason (the request
            /// keeps waiting) and `ERR_DOES_NOT_EXIST` when no request waits under `id`.
            #[func]
            pub fn reject_peer(
                &mut self,
                id: i64,
                #[opt(default = 403)] http_status: i64,
                #[opt(default = "")] reason: GString,
            ) -> Error {
                self.state.reject_peer(id, http_status, &reason)
            }

            /// Per-peer limits: inbound KiB and messages waiting to be read by the script (also
            /// the largest message accepted), outbound KiB and messages waiting to be sent. Only
            /// before `listen()`; returns `FAILED` while listening, `ERR_INVALID_PARAMETER` for
            /// values < 1.
            #[func]
            pub fn set_buffers(
                &mut self,
                input_buffer_size_kb: i64,
                input_max_packets: i64,
                output_buffer_size_kb: i64,
                output_max_packets: i64,
            ) -> Error {
                self.state.set_buffers(
                    input_buffer_size_kb,
                    input_max_packets,
                    output_buffer_size_kb,
                    output_max_packets,
                )
            }
        }
    };
}

pub(crate) use server_common_api;
