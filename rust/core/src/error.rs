//! Errors the core reports to its caller.

use std::fmt;
use std::io;

use crate::tls::TlsError;

/// Why [`crate::Server::start`] failed.
#[derive(Debug)]
pub enum StartError {
    /// The address/port is taken by another socket.
    AddressInUse(io::Error),
    /// The address is not one of this machine's, or binding failed for another reason.
    Bind(io::Error),
    /// A configuration value is unusable (the message says which).
    InvalidConfig(String),
    /// The event loop could not be created (out of file descriptors, for instance).
    Io(io::Error),
    /// The TLS key or certificates cannot be used.
    Tls(TlsError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AddressInUse(e) => write!(f, "address already in use ({e})"),
            StartError::Bind(e) => write!(f, "cannot bind ({e})"),
            StartError::InvalidConfig(what) => write!(f, "invalid configuration: {what}"),
            StartError::Io(e) => write!(f, "cannot start the network thread ({e})"),
            StartError::Tls(e) => write!(f, "wss:// set-up: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Why a message was not accepted for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The peer has disconnected (or is closing): nothing more can be sent to it.
    NotConnected,
    /// The peer's outbound queue is full; the message was not queued. The caller decides whether
    /// to retry later or to drop the peer.
    OutboundFull {
        /// Payload bytes already queued.
        queued_bytes: usize,
        /// Messages already queued.
        queued_messages: usize,
    },
    /// The server has stopped.
    Stopped,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected => write!(f, "peer is not connected (or is closing)"),
            SendError::OutboundFull {
                queued_bytes,
                queued_messages,
            } => write!(
                f,
                "outbound queue full ({queued_bytes} bytes in {queued_messages} messages not yet sent)"
            ),
            SendError::Stopped => write!(f, "server is stopped"),
        }
    }
}

impl std::error::Error for SendError {}
