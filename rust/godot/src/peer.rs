//! `WebSocketServerPeer`: one connected client as a `PacketPeer` (Godot 3's per-peer
//! `WebSocketPeer`, renamed because Godot 4 has an engine class of that name).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use godot::classes::web_socket_peer::WriteMode;
use godot::classes::{IPacketPeerExtension, PacketPeerExtension};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use websocket_server_core::{close_code, Bytes, PeerHandle, Sender, UpgradeRequest};

use crate::errors;
use crate::packet_buffer::{self, HandedPacket};

/// One client connection of a [WebSocketServer] or a [WebSocketMultiplayerServer], returned by
/// the server's `get_peer(id)`.
///
/// With a [WebSocketServer], packets arrive here when the server's `poll()` runs (a
/// [WebSocketMultiplayerServer] queues them for the MultiplayerAPI instead). `get_packet()` and
/// `get_var()` read them in order; `put_packet()`/`put_var()` send, as text or binary frames
/// according to the write mode. After the peer has disconnected the object stays valid: it reports
/// `is_connected_to_host() == false` and refuses to send.
#[derive(GodotClass)]
#[class(tool, no_init, base=PacketPeerExtension)]
pub struct WebSocketServerPeer {
    base: Base<PacketPeerExtension>,
    handle: PeerHandle,
    sender: Sender,
    /// Messages made visible by the server's poll() and not yet read.
    inbox: Inbox,
    handed_packet: HandedPacket,
    last_was_string: bool,
    write_mode: WriteMode,
    connected: bool,
    protocol: GString,
    request: UpgradeRequest,
    full_queue: errors::FullQueueReport,
}

impl WebSocketServerPeer {
    pub(crate) fn create(
        handle: PeerHandle,
        sender: Sender,
        protocol: &str,
        request: UpgradeRequest,
    ) -> Gd<Self> {
        Gd::from_init_fn(|base| WebSocketServerPeer {
            base,
            handle,
            sender,
            inbox: Inbox::default(),
            handed_packet: HandedPacket::default(),
            last_was_string: false,
            write_mode: WriteMode::BINARY,
            connected: true,
            protocol: GString::from(protocol),
            request,
            full_queue: errors::FullQueueReport::default(),
        })
    }

    /// The inbox, shared with the server's peer table: the server's poll() fills it without
    /// binding this object (a bind costs about as much as the rest of queueing a message).
    pub(crate) fn inbox(&self) -> Inbox {
        self.inbox.clone()
    }

    pub(crate) fn mark_disconnected(&mut self) {
        self.connected = false;
    }

    /// put_packet(): framed according to the write mode.
    fn put(&mut self, payload: &[u8]) -> Error {
        self.send_frame(payload, self.write_mode == WriteMode::TEXT)
    }

    fn send_frame(&mut self, payload: &[u8], text: bool) -> Error {
        if !self.connected {
            godot_error!(
                "WebSocketServerPeer {}: cannot send, the peer has disconnected.",
                self.handle.id()
            );
            return Error::ERR_UNCONFIGURED;
        }
        if text && std::str::from_utf8(payload).is_err() {
            godot_error!(
                "WebSocketServerPeer {}: a text message must be valid UTF-8; send binary data with WRITE_MODE_BINARY.",
                self.handle.id()
            );
            return Error::ERR_INVALID_DATA;
        }
        match self.sender.send(&self.handle, payload, text) {
            Ok(()) => {
                self.full_queue.accepted();
                Error::OK
            }
            Err(e) => self.full_queue.refused(self.handle.id(), &e),
        }
    }
}

#[godot_api]
impl IPacketPeerExtension for WebSocketServerPeer {
    fn get_available_packet_count(&self) -> i32 {
        let len = self.inbox.len();
        if len == 0 {
            // The end of a drain loop: replies queued while reading leave now (flat-out loops).
            self.sender.flush();
        }
        len.min(i32::MAX as usize) as i32
    }

    fn get_max_packet_size(&self) -> i32 {
        self.handle
            .limits()
            .max_message_size()
            .min(i32::MAX as usize) as i32
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let packet = self.inbox.pop().map(|(data, text)| {
            self.sender.consume_inbound(&self.handle, data.len());
            self.last_was_string = text;
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
        self.put(payload)
    }
}

#[godot_api]
impl WebSocketServerPeer {
    /// Sends `message` as one binary (default) or text frame, like Godot 4's `WebSocketPeer.send()`.
    /// Unlike `put_packet()`, an empty message is sent too (Godot's `PacketPeer.put_packet()`
    /// skips 0-byte packets). Returns `ERR_OUT_OF_MEMORY` when the outbound queue is full.
    #[func]
    fn send(
        &mut self,
        message: PackedByteArray,
        // An int (`WebSocketPeer.WRITE_MODE_*`): gdext cannot give an engine enum a default.
        #[opt(default = 1)] write_mode: i64,
    ) -> Error {
        let text = write_mode == WriteMode::TEXT.ord() as i64;
        self.send_frame(message.as_slice(), text)
    }

    /// Sends `message` as one text frame, like Godot 4's `WebSocketPeer.send_text()`.
    #[func]
    fn send_text(&mut self, message: GString) -> Error {
        self.send_frame(message.to_string().as_bytes(), true)
    }

    /// Starts a clean close with `code` and `reason`; the server's `client_disconnected` follows.
    #[func]
    fn close(&mut self, #[opt(default = 1000)] code: i64, #[opt(default = "")] reason: GString) {
        if !self.connected {
            return;
        }
        match errors::close_code(code) {
            Some(code) => self.sender.close(&self.handle, code, &reason.to_string()),
            None => {
                godot_error!("WebSocketServerPeer.close(): invalid close code {code}; using 1000.");
                self.sender
                    .close(&self.handle, close_code::NORMAL, &reason.to_string())
            }
        }
    }

    /// The client's IP address ("127.0.0.1", "::1"; IPv4 clients of a dual-stack server as IPv4).
    /// Behind a proxy listed in the server's `trusted_proxies`: the client it forwarded for.
    #[func]
    fn get_connected_host(&self) -> GString {
        GString::from(&self.handle.addr().ip().to_string())
    }

    /// The client's TCP port (behind a trusted proxy: the forwarded one when the proxy's header
    /// has a port, otherwise the proxy connection's).
    #[func]
    fn get_connected_port(&self) -> i64 {
        self.handle.addr().port() as i64
    }

    /// Payload bytes accepted by `put_packet()` and not yet written to the socket.
    #[func]
    fn get_current_outbound_buffered_amount(&self) -> i64 {
        self.handle.outbound_bytes() as i64
    }

    /// How `put_packet()` frames data: `WebSocketPeer.WRITE_MODE_BINARY` (default) or `WRITE_MODE_TEXT`.
    #[func]
    fn get_write_mode(&self) -> WriteMode {
        self.write_mode
    }

    /// Sets how `put_packet()` frames data. Text frames must hold valid UTF-8.
    #[func]
    fn set_write_mode(&mut self, mode: WriteMode) {
        self.write_mode = mode;
    }

    /// Whether the peer is still connected.
    #[func]
    fn is_connected_to_host(&self) -> bool {
        self.connected && self.handle.is_open()
    }

    /// Turns Nagle's algorithm off (`true`, the default: lowest latency) or on (fewer packets).
    #[func]
    fn set_no_delay(&mut self, enabled: bool) {
        if self.connected {
            self.sender.set_no_delay(self.handle.id(), enabled);
        }
    }

    /// Whether the packet last read was sent as a text message.
    #[func]
    fn was_string_packet(&self) -> bool {
        self.last_was_string
    }

    /// The peer's id on its server.
    #[func]
    fn get_id(&self) -> i64 {
        self.handle.id() as i64
    }

    /// The sub-protocol negotiated at the upgrade, or "".
    #[func]
    fn get_selected_protocol(&self) -> GString {
        self.protocol.clone()
    }

    /// The path and query of the upgrade request, e.g. "/game?room=2".
    #[func]
    fn get_requested_url(&self) -> GString {
        GString::from(&self.request.target)
    }

    /// The headers of the upgrade request, names lower-cased (a repeated header's values are
    /// joined with ", ").
    #[func]
    fn get_request_headers(&self) -> Dictionary<GString, GString> {
        crate::admission::headers_dictionary(&self.request)
    }
}

/// A peer's received messages, in order: (payload, was text). Main thread only.
#[derive(Clone, Default)]
pub(crate) struct Inbox(Rc<RefCell<VecDeque<(Bytes, bool)>>>);

impl Inbox {
    pub fn push(&self, data: Bytes, text: bool) {
        self.0.borrow_mut().push_back((data, text));
    }

    fn pop(&self) -> Option<(Bytes, bool)> {
        self.0.borrow_mut().pop_front()
    }

    fn len(&self) -> usize {
        self.0.borrow().len()
    }
}
