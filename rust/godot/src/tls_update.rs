//! `update_tls()`: certificate renewal while listening, registered on both server classes.

use godot::classes::X509Certificate;
use godot::meta::conv::ByValue;
use godot::meta::error::ConvertError;
use godot::meta::shape::GodotShape;
use godot::meta::{FromGodot, GodotConvert, GodotImmutable, ToGodot};
use godot::prelude::*;

/// An optional X509Certificate parameter that can default to null: gdext accepts a default
/// value (`#[opt]`) only for types it knows to be immutable, and `Option<Gd<T>>` is not one of
/// them. Seen from Godot it is exactly an `X509Certificate` that may be null.
#[derive(Clone, Debug, Default)]
pub struct OptionalCertificate(pub Option<Gd<X509Certificate>>);

impl GodotConvert for OptionalCertificate {
    type Via = Option<Gd<X509Certificate>>;

    fn godot_shape() -> GodotShape {
        <Option<Gd<X509Certificate>> as GodotConvert>::godot_shape()
    }
}

impl ToGodot for OptionalCertificate {
    type Pass = ByValue;

    fn to_godot(&self) -> Self::Via {
        self.0.clone()
    }
}

impl FromGodot for OptionalCertificate {
    fn try_from_godot(via: Self::Via) -> Result<Self, ConvertError> {
        Ok(OptionalCertificate(via))
    }
}

// SAFETY: the only value ever used as a default is `OptionalCertificate(None)`, a null Variant
// shared by nobody; certificates passed by scripts are ordinary arguments, never defaults.
unsafe impl GodotImmutable for OptionalCertificate {}

/// The `update_tls` script method of `$class` (a server class with a field `state: ServerState`),
/// as its own `#[godot_api(secondary)]` block.
macro_rules! tls_update_api {
    ($class:ident) => {
        #[godot_api(secondary)]
        impl $class {
            /// Renews the wss:// certificate while listening, without a restart: connections
            /// made from now on are served `private_key` and `certificate` (and `ca_chain`, the
            /// intermediates sent after it); connected clients carry on undisturbed. Afterwards
            /// `private_key`, `ssl_certificate` and `ca_chain` report the new objects. Returns
            /// `ERR_INVALID_PARAMETER` when the key does not match the certificate or either
            /// cannot be read, `ERR_UNCONFIGURED` when not listening or listening on ws://;
            /// on error (reported with push_error) the previous certificate is still served.
            #[func]
            pub fn update_tls(
                &mut self,
                private_key: Option<Gd<godot::classes::CryptoKey>>,
                certificate: Option<Gd<godot::classes::X509Certificate>>,
                #[opt(default = $crate::tls_update::OptionalCertificate(None))]
                ca_chain: $crate::tls_update::OptionalCertificate,
            ) -> godot::global::Error {
                self.state.update_tls(private_key, certificate, ca_chain.0)
            }
        }
    };
}

pub(crate) use tls_update_api;
