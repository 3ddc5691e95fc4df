//! Turning core errors into Godot `Error` values with a message a user can act on.

use godot::global::Error;
use godot::prelude::*;
use websocket_server_core::{PeerId, SendError, StartError, TlsError};

/// The `Error` of a failed send, without reporting it.
pub fn send_error_code(error: &SendError) -> Error {
    match error {
        SendError::NotConnected | SendError::Stopped => Error::ERR_UNCONFIGURED,
        SendError::OutboundFull { .. } => Error::ERR_OUT_OF_MEMORY,
    }
}

/// Reports a failed send with `push_error` and returns the matching `Error`.
pub fn send_failed(peer: PeerId, error: &SendError) -> Error {
    match error {
        SendError::NotConnected => {
            godot_error!("WebSocketServer: peer {peer} is not connected; packet not sent.");
            Error::ERR_UNCONFIGURED
        }
        SendError::OutboundFull { .. } => {
            godot_error!(
                "WebSocketServer: peer {peer}: {error}; packet not sent. The client is not reading fast enough: retry later, raise the limit with set_buffers(), or disconnect it. (Logged once; later refusals return ERR_OUT_OF_MEMORY silently until a send to this peer succeeds.)"
            );
            Error::ERR_OUT_OF_MEMORY
        }
        SendError::Stopped => {
            godot_error!("WebSocketServer: the server is not listening; packet not sent.");
            Error::ERR_UNCONFIGURED
        }
    }
}

/// Whether a peer's full outbound queue has been reported: a script that keeps sending to a
/// client that does not read gets one error in the log, not one per packet (a flat-out broadcast
/// would print hundreds of thousands). Every refused send still returns `ERR_OUT_OF_MEMORY`.
#[derive(Debug, Default)]
pub struct FullQueueReport {
    reported: bool,
}

impl FullQueueReport {
    /// A send to this peer was accepted: the next full queue is reported again.
    pub fn accepted(&mut self) {
        self.reported = false;
    }

    /// A send to this peer failed: reported like [`send_failed`], except that a full queue is
    /// reported once until a send is accepted again.
    pub fn refused(&mut self, peer: PeerId, error: &SendError) -> Error {
        if self.is_new(error) {
            send_failed(peer, error)
        } else {
            Error::ERR_OUT_OF_MEMORY
        }
    }

    /// Records a refusal; false when it is a full queue that was reported already.
    pub fn is_new(&mut self, error: &SendError) -> bool {
        let full = matches!(error, SendError::OutboundFull { .. });
        let new = !(full && self.reported);
        self.reported = full;
        new
    }
}

/// Reports a failed listen() with `push_error` and returns the matching `Error`.
pub fn start_failed(class: &str, port: u16, bind_ip: &str, error: &StartError) -> Error {
    godot_error!("{class}.listen({port}) on bind_ip \"{bind_ip}\" failed: {error}.");
    match error {
        StartError::AddressInUse(_) => Error::ERR_ALREADY_IN_USE,
        StartError::Bind(_) => Error::ERR_CANT_CREATE,
        StartError::InvalidConfig(_) => Error::ERR_INVALID_PARAMETER,
        StartError::Io(_) => Error::ERR_CANT_CREATE,
        StartError::Tls(
            TlsError::BadCertificate(_) | TlsError::BadChain(_) | TlsError::BadKey(_),
        ) => Error::ERR_PARSE_ERROR,
        StartError::Tls(_) => Error::ERR_INVALID_PARAMETER,
    }
}

/// A close code a server may send: 1000–1003, 1007–1014 or 3000–4999 (RFC 6455 §7.4).
pub fn close_code(code: i64) -> Option<u16> {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => Some(code as u16),
        _ => None,
    }
}
