//! A WebSocket server core with no Godot types in it.
//!
//! A [reactor](reactor) owns the listening socket and every connection: HTTP upgrades, framing,
//! the closing handshake, limits and timeouts all happen there. A network thread runs it; when the
//! thread that owns the [`Server`] polls flat out, its [`Server::drain_events`] calls run it
//! instead (see `pace.rs`). That thread takes [`Event`]s with [`Server::drain_events`] and gives
//! commands through a [`Sender`]; both directions move whole batches under a lock and a
//! `mio::Waker`. See ARCHITECTURE.md at the repository root.
#![deny(missing_docs, missing_debug_implementations, unused_must_use)]

pub mod admission;
pub mod config;
mod connection;
pub mod error;
pub mod events;
mod faults;
pub mod forwarded;
pub mod frame;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
mod input;
mod listener;
mod liveness;
mod pace;
pub mod peer;
mod reactor;
mod server;
pub mod stats;
pub mod tls;
mod tls_slot;
mod transport;

pub use bytes::Bytes;
pub use config::{BindAddress, Limits, ServerConfig};
pub use connection::close_code;
pub use error::{SendError, StartError};
pub use events::{Event, UpgradeRequest};
#[cfg(feature = "fault-injection")]
pub use faults::FaultSite;
pub use forwarded::Cidr;
pub use peer::{PeerHandle, PeerId, PeerShared};
pub use server::{FlushHold, Sender, Server};
pub use stats::{Stats, StatsSnapshot};
pub use tls::{TlsError, TlsIdentity};
pub use tls_slot::UpdateTlsError;
