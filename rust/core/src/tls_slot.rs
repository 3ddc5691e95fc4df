//! wss:// certificate renewal while listening: the rustls configuration new connections start with
//! sits in a slot the main thread can replace while the reactor runs.
//!
//! The reactor reads the slot once per accepted socket; a connection keeps the configuration it
//! started with (rustls holds its own `Arc`), so connections already connected, or still in their
//! TLS handshake, finish with the old certificate and only later ones see the new one.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::tls::TlsError;

/// The rustls configuration new wss:// connections use; replaceable while listening.
pub(crate) struct TlsSlot(Mutex<Arc<rustls::ServerConfig>>);

impl TlsSlot {
    pub fn new(config: Arc<rustls::ServerConfig>) -> TlsSlot {
        TlsSlot(Mutex::new(config))
    }

    /// The configuration for a connection accepted now. The lock is held only to clone an `Arc`,
    /// so neither thread ever waits for long.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.0.lock().clone()
    }

    pub fn replace(&self, config: Arc<rustls::ServerConfig>) {
        *self.0.lock() = config;
    }
}

/// Why [`crate::Server::update_tls`] changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateTlsError {
    /// The server was started for ws:// (no TLS identity): there is no certificate to replace.
    NotTls,
    /// The server has stopped.
    Stopped,
    /// The new key or certificates cannot be used; the old ones are still served.
    Tls(TlsError),
}

impl fmt::Display for UpdateTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateTlsError::NotTls => write!(
                f,
                "the server serves ws:// (it was started without a certificate)"
            ),
            UpdateTlsError::Stopped => write!(f, "the server has stopped"),
            UpdateTlsError::Tls(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for UpdateTlsError {}
