//! A test-only hook (`fault-injection` feature, never in a release): makes the server panic on
//! purpose, so the GDScript tests can show that no panic reaches the engine
//! (docs/RELIABILITY.md). `scripts/build.sh` builds the library the tests load with it.

/// `_inject_fault(site, peer_id)` for one server class. Sites: `"connection"` (the reactor panics
/// while handling `peer_id`'s connection), `"reactor"` (the reactor panics in a turn, outside any
/// connection), `"poll"` (the next `poll()` panics on the main thread, in the binding).
macro_rules! fault_injection_api {
    ($class:ident) => {
        #[cfg(feature = "fault-injection")]
        #[godot_api(secondary)]
        impl $class {
            /// Test builds only: makes the server panic on purpose at `site` ("connection",
            /// "reactor" or "poll"), to test that the panic stays contained.
            #[func]
            fn _inject_fault(&mut self, site: GString, peer_id: i64) -> godot::global::Error {
                use websocket_server_core::FaultSite;
                let site = site.to_string();
                if site == "poll" {
                    self.state.panic_on_next_poll = true;
                    return godot::global::Error::OK;
                }
                let Some((server, _)) = self.state.server_and_peers() else {
                    godot_error!("_inject_fault(): the server is not listening.");
                    return godot::global::Error::ERR_UNCONFIGURED;
                };
                match site.as_str() {
                    "connection" => {
                        let Ok(id) = i32::try_from(peer_id) else {
                            return godot::global::Error::ERR_INVALID_PARAMETER;
                        };
                        server.sender().inject_fault(FaultSite::Connection(id));
                    }
                    "reactor" => server.sender().inject_fault(FaultSite::Turn),
                    _ => {
                        godot_error!("_inject_fault(): unknown site \"{site}\".");
                        return godot::global::Error::ERR_INVALID_PARAMETER;
                    }
                }
                godot::global::Error::OK
            }
        }
    };
}

pub(crate) use fault_injection_api;
