//! The Godot 4 binding of the WebSocket server: the `WebSocketServer` class and its per-peer
//! `WebSocketServerPeer`. No sockets here: the network lives in `websocket-server-core`.

use godot::prelude::*;

mod errors;
mod packet_buffer;
mod peer;
mod server;
mod tls;

pub use peer::WebSocketServerPeer;
pub use server::WebSocketServer;

struct WebSocketServerExtension;

#[gdextension]
unsafe impl ExtensionLibrary for WebSocketServerExtension {}
