//! `WebSocketServer`: Godot 3's class of that name, for Godot 4, on the Godot-free core.
//!
//! This file holds no sockets: `listen()` starts the core's network thread, `poll()` drains its
//! events, makes messages readable and emits the signals, all on the main thread.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{
    CryptoKey, IMultiplayerPeerExtension, MultiplayerPeerExtension, X509Certificate,
};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use websocket_server_core::{
    close_code, BindAddress, Bytes, Event, Limits, PeerHandle, PeerId, SendError, Server,
    ServerConfig,
};

use crate::errors;
use crate::packet_buffer::{self, HandedPacket};
use crate::peer::WebSocketServerPeer;
use crate::tls;

/// A WebSocket server: the Godot 3 class, for Godot 4.
///
/// Call `listen(port)`, then `poll()` every frame (e.g. in `_process`): signals are emitted and
/// received packets become readable only inside `poll()`. At a game's frame rate all network work
/// (accepting, the HTTP upgrade, framing, timeouts) runs on a separate thread, so `poll()` costs
/// only what happened since the last call; when `poll()` is called flat out (frames less than
/// 4 ms apart, e.g. a headless server without frame pacing) it does that work itself, which saves
/// the hand-over between threads.
///
/// Raw mode (the default): each client is a [WebSocketServerPeer] from `get_peer(id)`, with
/// `client_connected`, `data_received`, `client_close_request` and `client_disconnected`.
///
/// Multiplayer mode (`listen(port, [], true)`): the server is a complete `MultiplayerPeer` (id 1)
/// that stock Godot 4 clients join with `WebSocketMultiplayerPeer.create_client()`. Assign it to
/// `multiplayer.multiplayer_peer` after `listen()` and use `@rpc`, MultiplayerSpawner and
/// MultiplayerSynchronizer. `peer_connected`/`peer_disconnected` and `peer_packet` replace the raw
/// mode signals (`client_close_request` is still emitted).
///
/// Per-peer limits (see `set_buffers()`): by default 1024 KiB and 4096 messages each way; a
/// single message may be as large as the inbound limit. When a client sends faster than the
/// script reads, the server stops reading that socket (TCP back-pressure) rather than drop data.
/// When the outbound queue is full, `put_packet()` returns `ERR_OUT_OF_MEMORY`.
#[derive(GodotClass)]
#[class(tool, base=MultiplayerPeerExtension)]
pub struct WebSocketServer {
    base: Base<MultiplayerPeerExtension>,

    /// Interface to listen on: "*" (every interface, IPv4 and IPv6), or one address such as
    /// "127.0.0.1" or "::1". Takes effect at the next `listen()`.
    #[var(get = get_bind_ip, set = set_bind_ip)]
    bind_ip: GString,

    /// Seconds a new connection has to complete the WebSocket upgrade (TCP accept to the
    /// 101 reply) before it is dropped.
    #[var(get = get_handshake_timeout, set = set_handshake_timeout)]
    handshake_timeout: f64,

    /// Private key for wss:// (together with `ssl_certificate`). Set before `listen()`; to
    /// change it, `stop()` first (it is refused while listening).
    #[var(get = get_private_key, set = set_private_key)]
    private_key: Option<Gd<CryptoKey>>,

    /// Certificate for wss:// (together with `private_key`); may hold the whole chain, leaf
    /// first. Set before `listen()`; refused while listening.
    #[var(get = get_ssl_certificate, set = set_ssl_certificate)]
    ssl_certificate: Option<Gd<X509Certificate>>,

    /// More chain certificates sent after `ssl_certificate` (intermediates up to a trusted root).
    /// Set before `listen()`; refused while listening.
    #[var(get = get_ca_chain, set = set_ca_chain)]
    ca_chain: Option<Gd<X509Certificate>>,

    bind: BindAddress,
    limits: Limits,
    extra_headers: Vec<(String, String)>,
    server: Option<Server>,
    peers: HashMap<PeerId, PeerEntry>,
    /// Multiplayer mode: packets of every peer, in arrival order, for SceneMultiplayer.
    multiplayer: bool,
    mp_inbox: VecDeque<(PeerHandle, Bytes)>,
    handed_packet: HandedPacket,
    refuse_new_connections: bool,
    /// Reused between polls so a quiet poll allocates nothing.
    events: Vec<Event>,
    /// Bumped by stop()/listen(): a poll interrupted by one of them from a signal handler stops
    /// delivering the old server's events.
    generation: u64,
    transfer_mode: TransferMode,
    transfer_channel: i32,
    target_peer: i32,
    /// The per-message signals, named once: emitting one costs several microseconds, so it is
    /// skipped when nothing is connected (SceneMultiplayer does not listen to `peer_packet`).
    data_received_name: StringName,
    peer_packet_name: StringName,
    /// Whether this mode's per-message signal has a listener, as last asked. Godot 4.3 has no
    /// `has_connections()` (4.4 added it), and `get_signal_connection_list()` builds an Array,
    /// so the answer is kept until it can have changed from "no" to "yes": a script connects
    /// the signal outside `poll()`, or inside the handler of another signal. It is forgotten at
    /// the start of each poll and after every other signal; a stale "yes" costs one emission
    /// that nobody hears.
    per_message_listened: Option<bool>,
}

#[godot_api]
impl IMultiplayerPeerExtension for WebSocketServer {
    fn init(base: Base<MultiplayerPeerExtension>) -> Self {
        WebSocketServer {
            base,
            bind_ip: GString::from("*"),
            handshake_timeout: 3.0,
            private_key: None,
            ssl_certificate: None,
            ca_chain: None,
            bind: BindAddress::Any,
            limits: Limits::DEFAULT,
            extra_headers: Vec::new(),
            server: None,
            peers: HashMap::new(),
            multiplayer: false,
            mp_inbox: VecDeque::new(),
            handed_packet: HandedPacket::default(),
            refuse_new_connections: false,
            events: Vec::new(),
            generation: 0,
            transfer_mode: TransferMode::RELIABLE,
            transfer_channel: 0,
            target_peer: 0,
            data_received_name: StringName::from("data_received"),
            peer_packet_name: StringName::from("peer_packet"),
            per_message_listened: None,
        }
    }

    fn poll(&mut self) {
        self.poll_events();
    }

    fn get_available_packet_count(&self) -> i32 {
        if self.mp_inbox.is_empty() {
            // The end of a drain loop: replies queued while reading leave now (flat-out loops).
            if let Some(server) = &self.server {
                server.sender().flush();
            }
        }
        self.mp_inbox.len().min(i32::MAX as usize) as i32
    }

    fn get_max_packet_size(&self) -> i32 {
        self.limits.max_message_size().min(i32::MAX as usize) as i32
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let packet = self.mp_inbox.pop_front().map(|(handle, data)| {
            if let Some(server) = &self.server {
                server.sender().consume_inbound(&handle, data.len());
            }
            data
        });
        if packet.is_none() && !self.multiplayer {
            godot_error!("WebSocketServer.get_packet(): in raw mode read packets from get_peer(id).get_packet().");
        }
        // SAFETY: Godot's out-parameters, passed on unchanged.
        unsafe { self.handed_packet.hand_out(packet, r_buffer, r_buffer_size) }
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> Error {
        // SAFETY: Godot's buffer, valid for this call.
        let payload = unsafe { packet_buffer::incoming(p_buffer, p_buffer_size) };
        self.put_multiplayer_packet(payload)
    }

    fn get_packet_channel(&self) -> i32 {
        0
    }

    fn get_packet_mode(&self) -> TransferMode {
        // WebSocket runs over TCP: everything arrives reliably and in order.
        TransferMode::RELIABLE
    }

    fn set_transfer_channel(&mut self, channel: i32) {
        self.transfer_channel = channel;
    }

    fn get_transfer_channel(&self) -> i32 {
        self.transfer_channel
    }

    fn set_transfer_mode(&mut self, mode: TransferMode) {
        self.transfer_mode = mode;
    }

    fn get_transfer_mode(&self) -> TransferMode {
        self.transfer_mode
    }

    fn set_target_peer(&mut self, peer: i32) {
        self.target_peer = peer;
    }

    fn get_packet_peer(&self) -> i32 {
        self.mp_inbox.front().map_or(0, |(handle, _)| handle.id())
    }

    fn is_server(&self) -> bool {
        true
    }

    fn close(&mut self) {
        self.stop();
    }

    fn disconnect_peer(&mut self, peer: i32, force: bool) {
        if force {
            self.drop_peer_now(peer);
        } else {
            self.disconnect_peer(peer as i64, 1000, GString::new());
        }
    }

    fn get_unique_id(&self) -> i32 {
        1
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        if self.server.is_some() {
            ConnectionStatus::CONNECTED
        } else {
            ConnectionStatus::DISCONNECTED
        }
    }

    fn is_server_relay_supported(&self) -> bool {
        true
    }

    fn set_refuse_new_connections(&mut self, enable: bool) {
        self.refuse_new_connections = enable;
        if let Some(server) = &self.server {
            server.set_refuse_new_connections(enable);
        }
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.refuse_new_connections
    }
}

#[godot_api]
impl WebSocketServer {
    /// A client completed the WebSocket upgrade. `protocol` is the negotiated sub-protocol or "".
    #[signal]
    fn client_connected(id: i64, protocol: GString);

    /// A client's connection is over; emitted exactly once for every `client_connected`.
    /// `was_clean_close` is true when the closing handshake completed, whichever side started it.
    /// During the handler `has_peer(id)` is still true and unread packets can still be read.
    #[signal]
    fn client_disconnected(id: i64, was_clean_close: bool);

    /// The client started the closing handshake with `code` and `reason` (the server answers it).
    #[signal]
    fn client_close_request(id: i64, code: i64, reason: GString);

    /// A message from client `id` is ready: read it with `get_peer(id).get_packet()`.
    #[signal]
    fn data_received(id: i64);

    /// Multiplayer mode: a packet from `peer_source` is ready (SceneMultiplayer reads it).
    #[signal]
    fn peer_packet(peer_source: i64);

    /// Starts listening on `port` (0 picks a free port: see `get_local_port()`). `protocols`
    /// lists the sub-protocols the server accepts: when not empty, a client must offer one of
    /// them. `gd_mp_api = true` starts multiplayer mode (see the class description). Returns
    /// `ERR_ALREADY_IN_USE` when already listening or the port is taken.
    #[func]
    pub fn listen(
        &mut self,
        port: i64,
        #[opt(default = &PackedStringArray::new())] protocols: PackedStringArray,
        #[opt(default = false)] gd_mp_api: bool,
    ) -> Error {
        if self.server.is_some() {
            godot_error!("WebSocketServer.listen(): already listening; call stop() first.");
            return Error::ERR_ALREADY_IN_USE;
        }
        let Ok(port) = u16::try_from(port) else {
            godot_error!("WebSocketServer.listen(): port {port} is out of range 0..65535.");
            return Error::ERR_INVALID_PARAMETER;
        };
        let tls = match tls::identity(
            self.private_key.as_ref(),
            self.ssl_certificate.as_ref(),
            self.ca_chain.as_ref(),
        ) {
            Ok(tls) => tls,
            Err(e) => return e,
        };
        let config = ServerConfig {
            bind: self.bind,
            port,
            protocols: protocols.as_slice().iter().map(|p| p.to_string()).collect(),
            extra_headers: self.extra_headers.clone(),
            handshake_timeout: Duration::from_secs_f64(self.handshake_timeout),
            limits: self.limits,
            announce_peer_id: gd_mp_api,
            tls,
            ..ServerConfig::default()
        };
        match Server::start(config) {
            Ok(server) => {
                server.set_refuse_new_connections(self.refuse_new_connections);
                self.server = Some(server);
                self.multiplayer = gd_mp_api;
                self.generation += 1;
                Error::OK
            }
            Err(e) => errors::start_failed(port, &self.bind_ip.to_string(), &e),
        }
    }

    /// Closes every connection at once (each client gets a 1001 close frame, best effort) and
    /// stops listening. No signals are emitted; the port can be listened on again.
    #[func]
    pub fn stop(&mut self) {
        self.multiplayer = false;
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        for entry in self.peers.values_mut() {
            entry.object.bind_mut().mark_disconnected();
        }
        self.peers.clear();
        self.events.clear();
        self.mp_inbox.clear();
        self.generation += 1;
    }

    /// Whether `listen()` succeeded and `stop()` has not been called.
    #[func]
    pub fn is_listening(&self) -> bool {
        self.server.is_some()
    }

    /// The port actually listened on (useful after `listen(0)`), or 0 when not listening.
    #[func]
    pub fn get_local_port(&self) -> i64 {
        self.server
            .as_ref()
            .map_or(0, |s| s.local_addr().port() as i64)
    }

    /// Whether client `id` is connected.
    #[func]
    pub fn has_peer(&self, id: i64) -> bool {
        self.find(id).is_some()
    }

    /// The connection object of client `id`, or null (with an error) when there is none.
    #[func]
    pub fn get_peer(&self, id: i64) -> Option<Gd<WebSocketServerPeer>> {
        let peer = self.find(id).map(|entry| entry.object.clone());
        if peer.is_none() {
            godot_error!("WebSocketServer.get_peer({id}): no such peer.");
        }
        peer
    }

    /// The ids of the connected clients.
    #[func]
    pub fn get_peer_ids(&self) -> PackedInt32Array {
        self.peers.keys().copied().collect()
    }

    /// The IP address of client `id` ("" with an error when there is none).
    #[func]
    pub fn get_peer_address(&self, id: i64) -> GString {
        match self.find(id) {
            Some(entry) => GString::from(&entry.handle.addr().ip().to_string()),
            None => {
                godot_error!("WebSocketServer.get_peer_address({id}): no such peer.");
                GString::new()
            }
        }
    }

    /// The TCP port of client `id` (0 with an error when there is none).
    #[func]
    pub fn get_peer_port(&self, id: i64) -> i64 {
        match self.find(id) {
            Some(entry) => entry.handle.addr().port() as i64,
            None => {
                godot_error!("WebSocketServer.get_peer_port({id}): no such peer.");
                0
            }
        }
    }

    /// Starts a clean close of client `id` with `code` and `reason`; `client_disconnected`
    /// follows from a later `poll()` (when the client answers, or after 3 s).
    #[func]
    pub fn disconnect_peer(
        &mut self,
        id: i64,
        #[opt(default = 1000)] code: i64,
        #[opt(default = "")] reason: GString,
    ) {
        let Some(peer) = self.find(id) else {
            godot_error!("WebSocketServer.disconnect_peer({id}): no such peer.");
            return;
        };
        let code = errors::close_code(code).unwrap_or_else(|| {
            godot_error!(
                "WebSocketServer.disconnect_peer(): invalid close code {code}; using 1000."
            );
            close_code::NORMAL
        });
        if let Some(server) = &self.server {
            server
                .sender()
                .close(&peer.handle, code, &reason.to_string());
        }
    }

    /// Extra HTTP headers for the upgrade reply, each "Name: value". Takes effect at the next
    /// `listen()`.
    #[func]
    pub fn set_extra_headers(&mut self, headers: PackedStringArray) {
        let mut parsed = Vec::new();
        for line in headers.as_slice() {
            let line = line.to_string();
            let Some((name, value)) = line.split_once(':') else {
                godot_error!("WebSocketServer.set_extra_headers(): \"{line}\" is not \"Name: value\"; headers unchanged.");
                return;
            };
            let (name, value) = (name.trim(), value.trim());
            if let Err(why) = websocket_server_core::handshake::validate_extra_header(name, value) {
                godot_error!("WebSocketServer.set_extra_headers(): {why}; headers unchanged.");
                return;
            }
            parsed.push((name.to_string(), value.to_string()));
        }
        self.extra_headers = parsed;
    }

    /// Per-peer limits: inbound KiB and messages waiting to be read by the script (also the
    /// largest message accepted), outbound KiB and messages waiting to be sent. Only before
    /// `listen()`; returns `FAILED` while listening, `ERR_INVALID_PARAMETER` for values < 1.
    #[func]
    pub fn set_buffers(
        &mut self,
        input_buffer_size_kb: i64,
        input_max_packets: i64,
        output_buffer_size_kb: i64,
        output_max_packets: i64,
    ) -> Error {
        if self.server.is_some() {
            godot_error!("WebSocketServer.set_buffers(): buffers can only be set before listen().");
            return Error::FAILED;
        }
        let values = [
            input_buffer_size_kb,
            input_max_packets,
            output_buffer_size_kb,
            output_max_packets,
        ];
        if values.iter().any(|v| *v < 1 || *v > (1 << 30)) {
            godot_error!("WebSocketServer.set_buffers(): every value must be between 1 and 2^30, got {values:?}.");
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

    #[func]
    fn get_bind_ip(&self) -> GString {
        self.bind_ip.clone()
    }

    #[func]
    fn set_bind_ip(&mut self, value: GString) {
        match BindAddress::parse(&value.to_string()) {
            Some(bind) => {
                self.bind = bind;
                self.bind_ip = value;
            }
            None => godot_error!(
                "WebSocketServer.bind_ip: \"{value}\" is not \"*\" or an IP address; keeping \"{}\".",
                self.bind_ip
            ),
        }
    }

    #[func]
    fn get_private_key(&self) -> Option<Gd<CryptoKey>> {
        self.private_key.clone()
    }

    #[func]
    fn set_private_key(&mut self, value: Option<Gd<CryptoKey>>) {
        if self.refuse_tls_change("private_key") {
            return;
        }
        self.private_key = value;
    }

    #[func]
    fn get_ssl_certificate(&self) -> Option<Gd<X509Certificate>> {
        self.ssl_certificate.clone()
    }

    #[func]
    fn set_ssl_certificate(&mut self, value: Option<Gd<X509Certificate>>) {
        if self.refuse_tls_change("ssl_certificate") {
            return;
        }
        self.ssl_certificate = value;
    }

    #[func]
    fn get_ca_chain(&self) -> Option<Gd<X509Certificate>> {
        self.ca_chain.clone()
    }

    #[func]
    fn set_ca_chain(&mut self, value: Option<Gd<X509Certificate>>) {
        if self.refuse_tls_change("ca_chain") {
            return;
        }
        self.ca_chain = value;
    }

    #[func]
    fn get_handshake_timeout(&self) -> f64 {
        self.handshake_timeout
    }

    #[func]
    fn set_handshake_timeout(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 {
            self.handshake_timeout = seconds;
        } else {
            godot_error!("WebSocketServer.handshake_timeout: {seconds} is not a number of seconds > 0; keeping {}.", self.handshake_timeout);
        }
    }
}

/// A connected client: its script-facing object and its shared counters (reachable without
/// binding the object, so multiplayer sends and lookups stay cheap).
struct PeerEntry {
    object: Gd<WebSocketServerPeer>,
    handle: PeerHandle,
    /// Multiplayer-mode sends (raw mode: the peer object keeps its own).
    full_queue: errors::FullQueueReport,
}

impl WebSocketServer {
    /// TLS settings are read once, by listen(): changing them while listening would not take
    /// effect, so it is refused rather than silently ignored.
    fn refuse_tls_change(&self, property: &str) -> bool {
        if self.server.is_some() {
            godot_error!("WebSocketServer.{property}: cannot change while listening; stop() first, then listen() again.");
        }
        self.server.is_some()
    }

    fn find(&self, id: i64) -> Option<&PeerEntry> {
        PeerId::try_from(id).ok().and_then(|id| self.peers.get(&id))
    }

    fn drop_peer_now(&mut self, id: i32) {
        let Some(mut entry) = self.peers.remove(&id) else {
            godot_error!("WebSocketServer.disconnect_peer({id}, true): no such peer.");
            return;
        };
        entry.object.bind_mut().mark_disconnected();
        self.mp_inbox.retain(|(handle, _)| handle.id() != id);
        if let Some(server) = &self.server {
            server.sender().drop_peer(&entry.handle);
        }
    }

    /// Multiplayer put_packet: to the target peer (0 = all, n = peer n, -n = all but n), one
    /// encoded frame shared by every recipient.
    fn put_multiplayer_packet(&mut self, payload: &[u8]) -> Error {
        if !self.multiplayer {
            godot_error!(
                "WebSocketServer.put_packet(): in raw mode send with get_peer(id).put_packet()."
            );
            return Error::ERR_UNCONFIGURED;
        }
        let Some(server) = &self.server else {
            godot_error!("WebSocketServer.put_packet(): the server is not listening.");
            return Error::ERR_UNCONFIGURED;
        };
        let target = self.target_peer;
        if target > 0 {
            let Some(entry) = self.peers.get_mut(&target) else {
                godot_error!(
                    "WebSocketServer.put_packet(): target peer {target} is not connected."
                );
                return Error::ERR_INVALID_PARAMETER;
            };
            return match server.sender().send(&entry.handle, payload, false) {
                Ok(()) => {
                    entry.full_queue.accepted();
                    Error::OK
                }
                // Left already; its peer_disconnected comes from this poll or the next.
                Err(SendError::NotConnected) if !entry.handle.is_open() => Error::OK,
                Err(e) => entry.full_queue.refused(target, &e),
            };
        }
        let excluded = -target;
        let recipients = self
            .peers
            .iter()
            .filter(|(id, _)| **id != excluded)
            .map(|(_, entry)| &*entry.handle);
        let mut refused = match server.sender().broadcast(recipients, payload, false) {
            Ok(refused) => refused,
            Err(e) => return errors::send_failed(0, &e),
        };
        // A peer that has left but whose peer_disconnected is still to come is not an error:
        // SceneMultiplayer tells the others about one departure while another departing peer is
        // already gone.
        refused.retain(|(_, e)| *e != SendError::NotConnected);
        refused.sort_unstable_by_key(|(id, _)| *id);
        let mut to_report = Vec::new();
        for (id, entry) in self.peers.iter_mut() {
            if *id == excluded {
                continue;
            }
            match refused.binary_search_by_key(id, |(r, _)| *r) {
                Err(_) => entry.full_queue.accepted(),
                Ok(i) => {
                    if entry.full_queue.is_new(&refused[i].1) {
                        to_report.push(i);
                    }
                }
            }
        }
        match to_report.as_slice() {
            [] => {}
            [i] => {
                errors::send_failed(refused[*i].0, &refused[*i].1);
            }
            many => {
                let (id, e) = &refused[many[0]];
                godot_error!(
                    "WebSocketServer.put_packet(): {} peers did not get the packet (peer {id}: {e}). Peers whose outbound queue stays full are not reported again until a send to them succeeds.",
                    many.len()
                );
            }
        }
        refused
            .first()
            .map_or(Error::OK, |(_, e)| errors::send_error_code(e))
    }

    /// Drains the core's events in order, making packets readable and emitting signals. Signal
    /// handlers may call back into this object (even stop()): no borrow is held while emitting.
    fn poll_events(&mut self) {
        let Some(server) = &self.server else { return };
        self.per_message_listened = None;
        let mut events = std::mem::take(&mut self.events);
        server.drain_events(&mut events);
        let generation = self.generation;
        let mut pending = events.drain(..);
        while let Some(event) = pending.next() {
            if self.generation != generation {
                return; // stop() or listen() ran inside a handler: the rest belongs to a dead server
            }
            if self.must_wait(&event) {
                // Left for the next poll, in order, ahead of newer events.
                self.events = std::iter::once(event).chain(pending).collect();
                return;
            }
            let per_message = matches!(event, Event::Message { .. });
            self.handle_event(event);
            if !per_message {
                self.per_message_listened = None; // its handler may have connected the signal
            }
        }
        drop(pending);
        if self.generation == generation {
            self.events = events; // empty; keeps its allocation for the next poll
        }
    }

    /// Multiplayer mode: SceneMultiplayer forgets a peer on `peer_disconnected` and would drop
    /// its packets still queued here; the disconnect waits until they have been read.
    fn must_wait(&self, event: &Event) -> bool {
        match event {
            Event::Disconnected { peer, .. } if self.multiplayer => {
                self.mp_inbox.iter().any(|(handle, _)| handle.id() == *peer)
            }
            _ => false,
        }
    }

    fn per_message_signal_listened(&mut self) -> bool {
        if let Some(known) = self.per_message_listened {
            return known;
        }
        let name = if self.multiplayer {
            &self.peer_packet_name
        } else {
            &self.data_received_name
        };
        let known = !self.base().get_signal_connection_list(name).is_empty();
        self.per_message_listened = Some(known);
        known
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connected {
                peer,
                protocol,
                request,
            } => {
                let Some(server) = &self.server else { return };
                let id = peer.id();
                let object = WebSocketServerPeer::create(
                    peer.clone(),
                    server.sender().clone(),
                    &protocol,
                    request,
                );
                self.peers.insert(
                    id,
                    PeerEntry {
                        object,
                        handle: peer,
                        full_queue: errors::FullQueueReport::default(),
                    },
                );
                if self.multiplayer {
                    self.signals().peer_connected().emit(id as i64);
                } else {
                    self.signals()
                        .client_connected()
                        .emit(id as i64, &GString::from(&protocol));
                }
            }
            Event::Message { peer, data, text } => {
                let Some(entry) = self.peers.get_mut(&peer) else {
                    return;
                };
                if self.multiplayer {
                    self.mp_inbox.push_back((entry.handle.clone(), data));
                    if self.per_message_signal_listened() {
                        self.signals().peer_packet().emit(peer as i64);
                    }
                } else {
                    entry.object.bind_mut().push_message(data, text);
                    if self.per_message_signal_listened() {
                        self.signals().data_received().emit(peer as i64);
                    }
                }
            }
            Event::CloseRequest { peer, code, reason } => {
                if self.peers.contains_key(&peer) {
                    self.signals().client_close_request().emit(
                        peer as i64,
                        code as i64,
                        &GString::from(&reason),
                    );
                }
            }
            Event::Disconnected { peer, clean } => {
                if !self.peers.contains_key(&peer) {
                    return; // dropped with disconnect_peer(id, true): no signal, as documented
                }
                if self.multiplayer {
                    self.signals().peer_disconnected().emit(peer as i64);
                } else {
                    self.signals()
                        .client_disconnected()
                        .emit(peer as i64, clean);
                }
                if let Some(mut entry) = self.peers.remove(&peer) {
                    entry.object.bind_mut().mark_disconnected();
                }
            }
        }
    }
}
