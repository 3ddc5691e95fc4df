//! `WebSocketServer`: Godot 3's class of that name, for Godot 4, on the Godot-free core.
//!
//! This file holds no sockets: `listen()` starts the core's network thread, `poll()` drains its
//! events, makes messages readable and emits the signals, all on the main thread. What it shares
//! with `WebSocketMultiplayerServer` is in `server_state.rs`.

use godot::classes::{CryptoKey, IRefCounted, RefCounted, X509Certificate};
use godot::global::Error;
use godot::prelude::*;
use websocket_server_core::{Bytes, PeerId};

use crate::limits::limits_api;
use crate::server_state::{self, server_common_api, ServerSignals, ServerState};

/// A WebSocket server: the Godot 3 class, for Godot 4.
///
/// Call `listen(port)`, then `poll()` every frame (e.g. in `_process`): signals are emitted and
/// received packets become readable only inside `poll()`. At a game's frame rate all network work
/// (accepting, the HTTP upgrade, framing, timeouts) runs on a separate thread, so `poll()` costs
/// only what happened since the last call; when `poll()` is called flat out (frames less than
/// 4 ms apart, e.g. a headless server without frame pacing) it does that work itself, which saves
/// the hand-over between threads.
///
/// Each client is a [WebSocketServerPeer] from `get_peer(id)`, with the signals
/// `client_connected`, `data_received`, `client_close_request` and `client_disconnected`.
///
/// For Godot's high-level multiplayer (`@rpc`, MultiplayerSpawner, MultiplayerSynchronizer) use
/// [WebSocketMultiplayerServer] instead: Godot 3's `listen(port, protocols, true)` is
/// `WebSocketMultiplayerServer.new()`, `listen(port, protocols)` and
/// `multiplayer.multiplayer_peer = server` in Godot 4.
///
/// Per-peer limits (see `set_buffers()`): by default 1024 KiB and 4096 messages each way; a
/// single message may be as large as the inbound limit. When a client sends faster than the
/// script reads, the server stops reading that socket (TCP back-pressure) rather than drop data.
/// When the outbound queue is full, `put_packet()` returns `ERR_OUT_OF_MEMORY`.
#[derive(GodotClass)]
#[class(tool, base=RefCounted)]
pub struct WebSocketServer {
    base: Base<RefCounted>,

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
    /// considered dead and disconnected, reported with `client_disconnected(id, false)` (0 = never).
    /// Keep it well above `heartbeat_interval`, since a live client's pongs are what it waits
    /// for; the default, 60, tolerates more than two missed pings, and also drops a client whose
    /// game stopped polling its connection that long. Set before `listen()`; refused while
    /// listening.
    #[var(get = get_idle_timeout, set = set_idle_timeout)]
    idle_timeout: PhantomVar<f64>,

    /// While true, new connections are closed as soon as they are accepted (Godot 3's
    /// `NetworkedMultiplayerPeer.refuse_new_connections`). Connected clients stay.
    #[var(get = is_refusing_new_connections, set = set_refuse_new_connections)]
    refuse_new_connections: PhantomVar<bool>,

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
}

#[godot_api]
impl IRefCounted for WebSocketServer {
    fn init(base: Base<RefCounted>) -> Self {
        WebSocketServer {
            base,
            bind_ip: PhantomVar::default(),
            handshake_timeout: PhantomVar::default(),
            private_key: PhantomVar::default(),
            ssl_certificate: PhantomVar::default(),
            ca_chain: PhantomVar::default(),
            heartbeat_interval: PhantomVar::default(),
            idle_timeout: PhantomVar::default(),
            refuse_new_connections: PhantomVar::default(),
            max_connections: PhantomVar::default(),
            max_connections_per_ip: PhantomVar::default(),
            admission_control: PhantomVar::default(),
            trusted_proxies: PhantomVar::default(),
            state: ServerState::new("WebSocketServer", "data_received"),
        }
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

    /// A message from client `id` is ready: read it with `get_peer(id).get_packet()`. Emitted
    /// once per message, in order. `poll()` makes the messages that arrived together readable
    /// before emitting their signals, so a handler that drains its peer
    /// (`while peer.get_available_packet_count() > 0`) may also read the messages whose signals
    /// follow; those handlers then find nothing left.
    #[signal]
    fn data_received(id: i64);

    /// Admission control (`admission_control = true`): client `id` sent a valid upgrade request
    /// and waits for `accept_peer(id)` or `reject_peer(id, http_status, reason)`. `request` has
    /// `path`, `query` (without "?"), `headers` (names lower-cased), `address`, `port` and
    /// `protocols` (the sub-protocols offered). `id` is the id the client keeps once accepted.
    #[signal]
    fn client_handshake(id: i64, request: VarDictionary);

    /// Starts listening on `port` (0 picks a free port: see `get_local_port()`). `protocols`
    /// lists the sub-protocols the server accepts: when not empty, a client must offer one of
    /// them. Returns `ERR_ALREADY_IN_USE` when already listening or the port is taken.
    ///
    /// `gd_mp_api` is Godot 3's switch to multiplayer mode; it must be false: `true` returns
    /// `ERR_INVALID_PARAMETER`. Multiplayer mode is the class [WebSocketMultiplayerServer].
    #[func]
    pub fn listen(
        &mut self,
        port: i64,
        #[opt(default = &PackedStringArray::new())] protocols: PackedStringArray,
        #[opt(default = false)] gd_mp_api: bool,
    ) -> Error {
        if gd_mp_api {
            godot_error!(
                "WebSocketServer.listen(port, protocols, true): multiplayer mode is its own class in Godot 4: write `var server := WebSocketMultiplayerServer.new()`, `server.listen(port, protocols)` and `multiplayer.multiplayer_peer = server` (clients: WebSocketMultiplayerPeer.create_client())."
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        self.state.listen(port, &protocols, false)
    }

    /// Emits the signals and makes the packets received since the last call readable. Call it
    /// every frame.
    #[func]
    pub fn poll(&mut self) {
        server_state::poll(self);
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
        self.state.close_peer(id, code, &reason);
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
    fn is_refusing_new_connections(&self) -> bool {
        self.state.refuses_new_connections()
    }

    #[func]
    fn set_refuse_new_connections(&mut self, enable: bool) {
        self.state.set_refuse_new_connections(enable);
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

server_common_api!(WebSocketServer);
crate::tls_update::tls_update_api!(WebSocketServer);
crate::liveness::liveness_api!(WebSocketServer);
crate::fault_injection::fault_injection_api!(WebSocketServer);
limits_api!(WebSocketServer);

impl ServerSignals for WebSocketServer {
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

    fn connected(&mut self, id: PeerId, protocol: &str) {
        self.signals()
            .client_connected()
            .emit(id as i64, &GString::from(protocol));
    }

    fn queue_message(&mut self, id: PeerId, data: Bytes, text: bool) -> bool {
        let Some(entry) = self.state.peers.get(&id) else {
            return false;
        };
        entry.inbox.push(data, text);
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

    fn disconnected(&mut self, id: PeerId, clean: bool) {
        self.signals().client_disconnected().emit(id as i64, clean);
    }

    fn handshake_requested(&mut self, id: PeerId, request: VarDictionary) {
        self.signals().client_handshake().emit(id as i64, &request);
    }
}
