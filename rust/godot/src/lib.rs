//! The Godot 4 binding of the WebSocket server: the classes `WebSocketServer` (Godot 3's class,
//! raw WebSocket), `WebSocketMultiplayerServer` (a Godot 4 `MultiplayerPeer`) and the per-peer
//! `WebSocketServerPeer`. No sockets here: the network lives in `websocket-server-core`.

// No panic may unwind into the engine (docs/RELIABILITY.md): no call here may panic, and the
// core contains its own.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::indexing_slicing
)]

use godot::prelude::*;

mod admission;
mod errors;
mod fault_injection;
mod limits;
mod liveness;
mod multiplayer_server;
mod packet_buffer;
mod peer;
mod server;
mod server_state;
mod tls;
mod tls_update;

pub use multiplayer_server::WebSocketMultiplayerServer;
pub use peer::WebSocketServerPeer;
pub use server::WebSocketServer;

struct WebSocketServerExtension;

#[gdextension]
unsafe impl ExtensionLibrary for WebSocketServerExtension {}
