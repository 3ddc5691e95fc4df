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
    identity_for("listen()", class, key, certificate, ca_chain)
}

/// [`identity`] for the script method `call` ("listen()", "update_tls()"), which messages name.
pub fn identity_for(
    call: &str,
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
            godot_error!("{class}.{call}: private_key is set but ssl_certificate is not; set both for wss://, or neither for ws://.");
            return Err(Error::ERR_INVALID_PARAMETER);
        }
        (None, Some(_)) => {
            godot_error!("{class}.{call}: ssl_certificate is set but private_key is not; set both for wss://, or neither for ws://.");
            return Err(Error::ERR_INVALID_PARAMETER);
        }
        (Some(key), Some(certificate)) => (key, certificate),
    };
    let private_key = without_engine_errors(|| {
        key.clone()
            .save_to_string_ex()
            .public_only(false)
            .done()
            .to_string()
    });
    if private_key.trim().is_empty() {
        godot_error!("{class}.{call}: private_key holds no key (generate one with Crypto.generate_rsa() or load one).");
        return Err(Error::ERR_INVALID_PARAMETER);
    }
    let certificate_chain = certificate_pem(class, "ssl_certificate", certificate);
    if certificate_chain.trim().is_empty() {
        godot_error!("{class}.{call}: ssl_certificate holds no certificate (generate one with Crypto.generate_self_signed_certificate() or load one).");
        return Err(Error::ERR_INVALID_PARAMETER);
    }
    let extra_chain = ca_chain
        .map(|c| certificate_pem(class, "ca_chain", c))
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

/// The PEM text of `certificate`, one block per distinct certificate.
///
/// Two engine bugs are worked around here: the stray NUL (see `without_engine_errors`), and an
/// X509Certificate loaded from a file with several certificates (a `fullchain.pem`) writes its
/// first certificate once per certificate it holds: the intermediates are lost inside the engine.
/// The copies are dropped and a warning says how to serve the chain anyway.
fn certificate_pem(class: &str, property: &str, certificate: &Gd<X509Certificate>) -> String {
    let text = without_engine_errors(|| certificate.clone().save_to_string().to_string());

    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks: Vec<&str> = Vec::new();
    let mut copies = 0;
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + len + END.len()];
        if blocks.contains(&block) {
            copies += 1;
        } else {
            blocks.push(block);
        }
        rest = &rest[start + len + END.len()..];
    }
    if blocks.is_empty() {
        // Not PEM certificates: let the core's parser report what is wrong with the text.
        return text.trim_end_matches(['\0', '\u{FFFD}']).to_string();
    }
    if copies > 0 {
        godot_warn!(
            "{class}: {property} holds {} certificates, but this Godot version hands over only the first \
             (X509Certificate repeats its first certificate when saved), so only that one is served. \
             Load the server's own certificate into ssl_certificate (Let's Encrypt: cert.pem) and its \
             intermediate into ca_chain (chain.pem).",
            blocks.len() + copies
        );
    }
    let mut pem = blocks.join("\n");
    pem.push('\n');
    pem
}

/// Runs `f` with the engine's error printing off. Since Godot 4.5.1 the text of
/// `X509Certificate.save_to_string()` (and of an empty CryptoKey's) ends with a stray NUL, which
/// the engine reports as "Unicode parsing error" on every call (godotengine/godot#123013): users
/// would see it at every wss:// listen(). Whatever is really wrong is reported by our own checks.
fn without_engine_errors<T>(f: impl FnOnce() -> T) -> T {
    let mut engine = Engine::singleton();
    let was_printing = engine.is_printing_error_messages();
    engine.set_print_error_messages(false);
    let result = f();
    engine.set_print_error_messages(was_printing);
    result
}
