//! `WebSocketMultiplayerServer`: the server as a Godot 4 `MultiplayerPeer` that stock
//! `WebSocketMultiplayerPeer` clients join (Godot 3's `WebSocketServer.listen(port, [], true)`).
//!
//! No sockets here either; what it shares with `WebSocketServer` is in `server_state.rs`. This
//! file adds the `MultiplayerPeer` side: one packet queue for SceneMultiplayer, addressing by
//! target peer, and the engine's `disconnect_peer(peer, force)`.

use std::collections::VecDeque;

use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{
    CryptoKey, IMultiplayerPeerExtension, MultiplayerPeerExtension, X509Certificate,
};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use websocket_server_core::{close_code, Bytes, Event, PeerHandle, PeerId, SendError};

use crate::errors;
use crate::limits::limits_api;
use crate::packet_buffer::{self, HandedPacket};
use crate::server_state::{self, server_common_api, ServerSignals, ServerState};

/// A WebSocket server for Godot's high-level multiplayer: a complete `MultiplayerPeer` (id 1)
/// that stock Godot 4 clients join with `WebSocketMultiplayerPeer.create_client()`, on desktop or
/// in a browser.
///
/// ```gdscript
/// var peer := WebSocketMultiplayerServer.new()
/// peer.listen(9080)
/// multiplayer.multiplayer_peer = peer   # after a successful listen()
/// ```
///
/// Then `@rpc`, MultiplayerSpawner and MultiplayerSynchronizer work; the MultiplayerAPI polls the
/// server. The server relays client-to-client packets. `multiplayer.disconnect_peer(id)`,
/// `disconnect_peer(id, force)`, `refuse_new_connections` and `close()` behave as
/// `MultiplayerPeer` documents; to close a client with a WebSocket close code and reason, use
/// `get_peer(id).close(code, reason)`.
///
/// This is what Godot 3's `WebSocketServer.listen(port, protocols, true)` was; it speaks Godot 4's
/// protocol, so Godot 3 clients cannot join. For WebSocket messages without the multiplayer
/// protocol, use [WebSocketServer].
///
/// At a game's frame rate all network work runs on a separate thread, so a poll costs only what
/// happened since the last one; a poll called flat out (frames less than 4 ms apart) does that
/// work itself. Per-peer limits are set with `set_buffers()` (by default 1024 KiB and 4096
/// messages each way); a client that sends faster than the game reads is slowed down by TCP
/// back-pressure, and `put_packet()` returns `ERR_OUT_OF_MEMORY` when a client's outbound queue
/// is full.
#[derive(GodotClass)]
#[class(tool, base=MultiplayerPeerExtension)]
pub struct WebSocketMultiplayerServer {
    base: Base<MultiplayerPeerExtension>,

    /// Interface to listen on: "*" (every interface, IPv4 and IPv6), or one address such as
    /// "127.0.0.1" or "::1". Takes effect at the next `listen()`.
    #[var(get = get_bind_ip, set = set_bind_ip)]
    bind_ip: PhantomVar<GString>,

    /// Seconds a new connection has to complete the WebSocket upgrade (TCP accept to the
    /// 101 reply) before it is dropped. With `admission_control`, a request that arrived in time then
    /// waits as long again for the script's answer.
    #[var(get = get_handshake_timeout, set = set_handshake_timeout)]
    handshake_timeout: PhantomVar<f64>,

    /// Private key for wss:// (together with `ssl_certificate`). Set before `listen()`; it is
    /// refused while listening: renew with `update_tls()`, which also updates this property.
    #[var(get = get_private_key, set = set_private_key)]
    private_key: PhantomVar<Option<Gd<CryptoKey>>>,

    /// Certificate for wss:// (together with `private_key`); may hold the whole chain, leaf
    /// first. Set before `listen()`; refused while listening (see `update_tls()`).
    #[var(get = get_ssl_certificate, set = set_ssl_certificate)]
    ssl_certificate: PhantomVar<Option<Gd<X509Certificate>>>,

    /// More chain certificates sent after `ssl_certificate` (intermediates up to a trusted root).
    /// Set before `listen()`; refused while listening (see `update_tls()`).
    #[var(get = get_ca_chain, set = set_ca_chain)]
    ca_chain: PhantomVar<Option<Gd<X509Certificate>>>,

    /// Seconds between the pings the server sends every client (0 = none). Pings keep quiet
    /// connections open through proxies and load balancers that close idle ones (nginx's
    /// `proxy_read_timeout` and many load balancers: 60 s); the default, 25, leaves room for
    /// that. Clients answer them by themselves (a Godot `WebSocketPeer` while it is polled).
    /// Set before `listen()`; refused (with an error) while listening.
    #[var(get = get_heartbeat_interval, set = set_heartbeat_interval)]
    heartbeat_interval: PhantomVar<f64>,

    /// Seconds after which a client from which nothing arrived (no message, ping or pong) is
    /// considered dead and disconnected, reported with `peer_disconnected` (0 = never).
    /// Keep it well above `heartbeat_interval`, since a live client's pongs are what it waits
    /// for; the default, 60, tolerates more than two missed pings, and also drops a client whose
    /// game stopped polling its connection that long. Set before `listen()`; refused while
    /// listening.
    #[var(get = get_idle_timeout, set = set_idle_timeout)]
    idle_timeout: PhantomVar<f64>,
    /// Most connections at once, counted from TCP accept (handshakes in progress included);
    /// 0 = unlimited (the default). A connection over the limit gets a bare HTTP 503 with
    /// `Connection: close` before its request is read (wss://: its TCP connection is closed,
    /// since nothing can be said before TLS); connected clients are not affected. May be changed
    /// while listening: applies to the next connection. Refusals are counted in `get_stats()`.
    #[var(get = get_max_connections, set = set_max_connections)]
    max_connections: PhantomVar<i64>,

    /// Most connections at once from one IP address (the TCP peer's; an IPv4 client of a
    /// dual-stack socket counts as its IPv4 address), counted and refused like
    /// `max_connections`; 0 = unlimited (the default). May be changed while listening.
    #[var(get = get_max_connections_per_ip, set = set_max_connections_per_ip)]
    max_connections_per_ip: PhantomVar<i64>,
    /// When true, each valid upgrade request waits for the script: `client_handshake(id,
    /// request)` is emitted from `poll()`, and the client connects only after
    /// `accept_peer(id)`; `reject_peer(id, http_status, reason)` refuses it with that HTTP
    /// status. A request left unanswered for `handshake_timeout` seconds (counted from when the
    /// request arrived) is refused with 503. Takes effect at the next `listen()`.
    #[var(get = is_admission_control, set = set_admission_control)]
    admission_control: PhantomVar<bool>,

    /// Reverse proxies (addresses and CIDR networks, IPv4 or IPv6: "127.0.0.1", "10.0.0.0/8",
    /// "fd00::/8") whose `Forwarded` / `X-Forwarded-For` headers tell the client's address. For
    /// a connection from one of them, `get_peer_address()`, the peer's `get_connected_host()`
    /// and the handshake request's `address` report the right-most address in the header that
    /// is not itself a trusted proxy; from anyone else those headers are ignored. An invalid
    /// entry is refused with an error (the old list stays). Takes effect at the next `listen()`.
    #[var(get = get_trusted_proxies, set = set_trusted_proxies)]
    trusted_proxies: PhantomVar<PackedStringArray>,

    state: ServerState,
    /// Packets of every peer, in arrival order, for SceneMultiplayer.
    inbox: VecDeque<(PeerHandle, Bytes)>,
    handed_packet: HandedPacket,
    transfer_mode: TransferMode,
    transfer_channel: i32,
    target_peer: i32,
}

#[godot_api]
impl IMultiplayerPeerExtension for WebSocketMultiplayerServer {
    fn init(base: Base<MultiplayerPeerExtension>) -> Self {
        WebSocketMultiplayerServer {
            base,
            bind_ip: PhantomVar::default(),
            handshake_timeout: PhantomVar::default(),
            private_key: PhantomVar::default(),
            ssl_certificate: PhantomVar::default(),
            ca_chain: PhantomVar::default(),
            heartbeat_interval: PhantomVar::default(),
            idle_timeout: PhantomVar::default(),
            max_connections: PhantomVar::default(),
            max_connections_per_ip: PhantomVar::default(),
            admission_control: PhantomVar::default(),
            trusted_proxies: PhantomVar::default(),
            state: ServerState::new("WebSocketMultiplayerServer", "peer_packet"),
            inbox: VecDeque::new(),
            handed_packet: HandedPacket::default(),
            transfer_mode: TransferMode::RELIABLE,
            transfer_channel: 0,
            target_peer: 0,
        }
    }

    fn poll(&mut self) {
        server_state::poll(self);
    }

    fn get_available_packet_count(&self) -> i32 {
        if self.inbox.is_empty() {
            // The end of a drain loop: replies queued while reading leave now (flat-out loops).
            if let Some(server) = self.state.server() {
                server.sender().flush();
            }
        }
        self.inbox.len().min(i32::MAX as usize) as i32
    }

    fn get_max_packet_size(&self) -> i32 {
        self.state.max_packet_size()
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let packet = self.inbox.pop_front().map(|(handle, data)| {
            if let Some(server) = self.state.server() {
                server.sender().consume_inbound(&handle, data.len());
            }
            data
        });
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
        self.inbox.front().map_or(0, |(handle, _)| handle.id())
    }

    fn is_server(&self) -> bool {
        true
    }

    fn close(&mut self) {
        self.stop();
    }

    /// `force = false`: a clean close (code 1000); `peer_disconnected` follows when it is over.
    /// `force = true`: the connection is dropped now, without a signal.
    fn disconnect_peer(&mut self, peer: i32, force: bool) {
        if !force {
            self.state
                .close_peer(peer as i64, close_code::NORMAL as i64, &GString::new());
        } else if self.state.drop_peer_now(peer) {
            self.inbox.retain(|(handle, _)| handle.id() != peer);
        }
    }

    fn get_unique_id(&self) -> i32 {
        1
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        if self.state.is_listening() {
            ConnectionStatus::CONNECTED
        } else {
            ConnectionStatus::DISCONNECTED
        }
    }

    fn is_server_relay_supported(&self) -> bool {
        true
    }

    fn set_refuse_new_connections(&mut self, enable: bool) {
        self.state.set_refuse_new_connections(enable);
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.state.refuses_new_connections()
    }
}

#[godot_api]
impl WebSocketMultiplayerServer {
    /// The client started the closing handshake with `code` and `reason` (the server answers it;
    /// `peer_disconnected` follows).
    #[signal]
    fn client_close_request(id: i64, code: i64, reason: GString);

    /// A packet from `peer_source` is ready (the MultiplayerAPI reads it; a script that polls
    /// the peer itself reads it with `get_packet()`).
    #[signal]
    fn peer_packet(peer_source: i64);

    /// Admission control (`admission_control = true`): client `id` sent a valid upgrade request
    /// and waits for `accept_peer(id)` or `reject_peer(id, http_status, reason)`. `request` has
    /// `path`, `query` (without "?"), `headers` (names lower-cased), `address`, `port` and
    /// `protocols` (the sub-protocols offered). `id` is the id the client keeps once accepted: its id
    /// announcement and `peer_connected` come only after `accept_peer(id)`.
    #[signal]
    fn client_handshake(id: i64, request: VarDictionary);

    /// Starts listening on `port` (0 picks a free port: see `get_local_port()`). `protocols`
    /// lists the sub-protocols the server accepts: when not empty, a client must offer one of
    /// them (`WebSocketMultiplayerPeer.supported_protocols`). Returns `ERR_ALREADY_IN_USE` when
    /// already listening or the port is taken. Assign the server to
    /// `multiplayer.multiplayer_peer` after a successful `listen()`.
    #[func]
    pub fn listen(
        &mut self,
        port: i64,
        #[opt(default = &PackedStringArray::new())] protocols: PackedStringArray,
    ) -> Error {
        self.state.listen(port, &protocols, true)
    }

    // Property accessors (the settings live in `state`).

    #[func]
    fn get_bind_ip(&self) -> GString {
        self.state.bind_ip()
    }

    #[func]
    fn set_bind_ip(&mut self, value: GString) {
        self.state.set_bind_ip(value);
    }

    #[func]
    fn get_handshake_timeout(&self) -> f64 {
        self.state.handshake_timeout()
    }

    #[func]
    fn set_handshake_timeout(&mut self, seconds: f64) {
        self.state.set_handshake_timeout(seconds);
    }

    #[func]
    fn get_heartbeat_interval(&self) -> f64 {
        self.state.heartbeat_interval()
    }

    #[func]
    fn set_heartbeat_interval(&mut self, seconds: f64) {
        self.state.set_heartbeat_interval(seconds);
    }

    #[func]
    fn get_idle_timeout(&self) -> f64 {
        self.state.idle_timeout()
    }

    #[func]
    fn set_idle_timeout(&mut self, seconds: f64) {
        self.state.set_idle_timeout(seconds);
    }

    #[func]
    fn get_private_key(&self) -> Option<Gd<CryptoKey>> {
        self.state.private_key()
    }

    #[func]
    fn set_private_key(&mut self, value: Option<Gd<CryptoKey>>) {
        self.state.set_private_key(value);
    }

    #[func]
    fn get_ssl_certificate(&self) -> Option<Gd<X509Certificate>> {
        self.state.ssl_certificate()
    }

    #[func]
    fn set_ssl_certificate(&mut self, value: Option<Gd<X509Certificate>>) {
        self.state.set_ssl_certificate(value);
    }

    #[func]
    fn get_ca_chain(&self) -> Option<Gd<X509Certificate>> {
        self.state.ca_chain()
    }

    #[func]
    fn set_ca_chain(&mut self, value: Option<Gd<X509Certificate>>) {
        self.state.set_ca_chain(value);
    }

    #[func]
    fn get_max_connections(&self) -> i64 {
        self.state.connection_limits.max_connections()
    }

    #[func]
    fn set_max_connections(&mut self, value: i64) {
        self.state.set_max_connections(value);
    }

    #[func]
    fn get_max_connections_per_ip(&self) -> i64 {
        self.state.connection_limits.max_connections_per_ip()
    }

    #[func]
    fn set_max_connections_per_ip(&mut self, value: i64) {
        self.state.set_max_connections_per_ip(value);
    }

    #[func]
    fn is_admission_control(&self) -> bool {
        self.state.admission_control()
    }

    #[func]
    fn set_admission_control(&mut self, enable: bool) {
        self.state.set_admission_control(enable);
    }

    #[func]
    fn get_trusted_proxies(&self) -> PackedStringArray {
        self.state.trusted_proxies()
    }

    #[func]
    fn set_trusted_proxies(&mut self, list: PackedStringArray) {
        self.state.set_trusted_proxies(list);
    }
}

server_common_api!(WebSocketMultiplayerServer);
crate::tls_update::tls_update_api!(WebSocketMultiplayerServer);
crate::liveness::liveness_api!(WebSocketMultiplayerServer);
crate::fault_injection::fault_injection_api!(WebSocketMultiplayerServer);
limits_api!(WebSocketMultiplayerServer);

impl WebSocketMultiplayerServer {
    /// put_packet: to the target peer (0 = all, n = peer n, -n = all but n), one encoded frame
    /// shared by every recipient.
    fn put_multiplayer_packet(&mut self, payload: &[u8]) -> Error {
        let target = self.target_peer;
        let Some((server, peers)) = self.state.server_and_peers() else {
            godot_error!("WebSocketMultiplayerServer.put_packet(): the server is not listening.");
            return Error::ERR_UNCONFIGURED;
        };
        if target > 0 {
            let Some(entry) = peers.get_mut(&target) else {
                godot_error!(
                    "WebSocketMultiplayerServer.put_packet(): target peer {target} is not connected."
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
        let recipients = peers
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
        for (id, entry) in peers.iter_mut() {
            if *id == excluded {
                continue;
            }
            match refused.binary_search_by_key(id, |(r, _)| *r) {
                Err(_) => entry.full_queue.accepted(),
                Ok(i) => {
                    if let Some(found) = refused.get(i) {
                        if entry.full_queue.is_new(&found.1) {
                            to_report.push(found);
                        }
                    }
                }
            }
        }
        match to_report.as_slice() {
            [] => {}
            [(id, e)] => {
                errors::send_failed(*id, e);
            }
            [(id, e), ..] => {
                godot_error!(
                    "WebSocketMultiplayerServer.put_packet(): {} peers did not get the packet (peer {id}: {e}). Peers whose outbound queue stays full are not reported again until a send to them succeeds.",
                    to_report.len()
                );
            }
        }
        refused
            .first()
            .map_or(Error::OK, |(_, e)| errors::send_error_code(e))
    }
}

impl ServerSignals for WebSocketMultiplayerServer {
    fn state(&self) -> &ServerState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut ServerState {
        &mut self.state
    }

    fn has_listeners(&mut self, signal: &StringName) -> bool {
        let method = self.state.has_connections_method.clone();
        server_state::has_connections(self.base_mut().upcast_mut(), signal, &method)
    }

    /// SceneMultiplayer forgets a peer on `peer_disconnected` and would drop its packets still
    /// queued here; the disconnect waits until they have been read.
    fn must_wait(&self, event: &Event) -> bool {
        match event {
            Event::Disconnected { peer, .. } => {
                self.inbox.iter().any(|(handle, _)| handle.id() == *peer)
            }
            _ => false,
        }
    }

    fn connected(&mut self, id: PeerId, _protocol: &str) {
        self.signals().peer_connected().emit(id as i64);
    }

    fn queue_message(&mut self, id: PeerId, data: Bytes, _text: bool) -> bool {
        let Some(entry) = self.state.peers.get(&id) else {
            return false;
        };
        self.inbox.push_back((entry.handle.clone(), data));
        true
    }

    fn messages_ready(&mut self, ids: &[PeerId]) {
        let (signal, generation) = self.state.per_message_signal();
        let mut base = self.base_mut();
        server_state::emit_for_each(base.upcast_mut(), &signal, ids, &generation);
    }

    fn close_requested(&mut self, id: PeerId, code: u16, reason: &str) {
        self.signals()
            .client_close_request()
            .emit(id as i64, code as i64, &GString::from(reason));
    }

    fn disconnected(&mut self, id: PeerId, _clean: bool) {
        self.signals().peer_disconnected().emit(id as i64);
    }

    fn handshake_requested(&mut self, id: PeerId, request: VarDictionary) {
        self.signals().client_handshake().emit(id as i64, &request);
    }

    fn stopped(&mut self) {
        self.inbox.clear();
    }
}
