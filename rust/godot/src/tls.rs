//! wss:// settings: Godot's CryptoKey / X509Certificate objects to the core's PEM identity.

use std::time::SystemTime;

use godot::classes::{CryptoKey, Engine, X509Certificate};
use godot::global::Error;
use godot::prelude::*;
use websocket_server_core::tls::identity_warnings;
use websocket_server_core::TlsIdentity;

/// The identity to serve wss:// with, `None` for ws://, or the error listen() returns (already
/// reported with push_error). `class` names the server class in messages.
pub fn identity(
    class: &str,
    key: Option<&Gd<CryptoKey>>,
    certificate: Option<&Gd<X509Certificate>>,
    ca_chain: Option<&Gd<X509Certificate>>,
) -> Result<Option<TlsIdentity>, Error> {
    let (key, certificate) = match (key, certificate) {
        (None, None) => {
            if ca_chain.is_some() {
                godot_warn!("{class}: ca_chain is set without private_key and ssl_certificate; serving ws:// (no TLS).");
            }
            return Ok(None);
        }
        (Some(_), None) => {
            godot_error!("{class}.listen(): private_key is set but ssl_certificate is not; set both for wss://, or neither for ws://.");
            return Err(Error::ERR_INVALID_PARAMETER);
        }
        (None, Some(_)) => {
            godot_error!("{class}.listen(): ssl_certificate is set but private_key is not; set both for wss://, or neither for ws://.");
            return Err(Error::ERR_INVALID_PARAMETER);
        }
        (Some(key), Some(certificate)) => (key, certificate),
    };
    let private_key = key
        .clone()
        .save_to_string_ex()
        .public_only(false)
        .done()
        .to_string();
    if private_key.trim().is_empty() {
        godot_error!("{class}.listen(): private_key holds no key (generate one with Crypto.generate_rsa() or load one).");
        return Err(Error::ERR_INVALID_PARAMETER);
    }
    let certificate_chain = certificate_pem(certificate);
    if certificate_chain.trim().is_empty() {
        godot_error!("{class}.listen(): ssl_certificate holds no certificate (generate one with Crypto.generate_self_signed_certificate() or load one).");
        return Err(Error::ERR_INVALID_PARAMETER);
    }
    let extra_chain = ca_chain
        .map(certificate_pem)
        .unwrap_or_default();
    let identity = TlsIdentity {
        certificate_chain,
        private_key,
        extra_chain,
    };
    for warning in identity_warnings(&identity, SystemTime::now()) {
        godot_warn!("{class}: {warning}.");
    }
    Ok(Some(identity))
}

/// The PEM text of `certificate`. Godot 4.5.1 and later end the text of
/// `X509Certificate.save_to_string()` with a stray NUL, which the engine reports as "Unicode
/// parsing error" on every call (godotengine/godot#123013). The text is right apart from that
/// last character, so the engine's error printing is off for the call and the character is cut.
fn certificate_pem(certificate: &Gd<X509Certificate>) -> String {
    let mut engine = Engine::singleton();
    let was_printing = engine.is_printing_error_messages();
    engine.set_print_error_messages(false);
    let text = certificate.clone().save_to_string().to_string();
    engine.set_print_error_messages(was_printing);
    text.trim_end_matches(['\0', '\u{FFFD}']).to_string()
}
