//! Heartbeat, dead-peer detection and graceful shutdown, for both server classes.
//!
//! The settings live in [`ServerState`] (read by listen(), like every other setting); the work
//! is the core's (`websocket-server-core`'s `liveness.rs` and `Server::shutdown`).
//! [`liveness_api!`] registers the script methods both classes share.

use std::time::Duration;

use godot::global::Error;
use godot::prelude::*;

use crate::errors;
use crate::server_state::ServerState;

/// The heartbeat settings, in seconds (0 = off).
pub struct LivenessSettings {
    heartbeat_interval: f64,
    idle_timeout: f64,
}

impl Default for LivenessSettings {
    /// The core's defaults: a ping every 25 s, a peer silent for 60 s is dropped.
    fn default() -> Self {
        LivenessSettings {
            heartbeat_interval: websocket_server_core::ServerConfig::default()
                .heartbeat_interval
                .as_secs_f64(),
            idle_timeout: websocket_server_core::ServerConfig::default()
                .idle_timeout
                .as_secs_f64(),
        }
    }
}

impl LivenessSettings {
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_interval)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.idle_timeout)
    }
}

/// Longest accepted period: a day.
const MAX_SECONDS: f64 = 86_400.0;

impl ServerState {
    pub fn heartbeat_interval(&self) -> f64 {
        self.liveness.heartbeat_interval
    }

    pub fn set_heartbeat_interval(&mut self, seconds: f64) {
        if let Some(seconds) = self.checked_period("heartbeat_interval", seconds) {
            self.liveness.heartbeat_interval = seconds;
        }
    }

    pub fn idle_timeout(&self) -> f64 {
        self.liveness.idle_timeout
    }

    pub fn set_idle_timeout(&mut self, seconds: f64) {
        if let Some(seconds) = self.checked_period("idle_timeout", seconds) {
            self.liveness.idle_timeout = seconds;
        }
    }

    /// `seconds` if it may be set now: a number from 0 to a day, and not while listening (the
    /// reactor reads the settings once, at listen(); a change would silently not take effect).
    fn checked_period(&self, property: &str, seconds: f64) -> Option<f64> {
        let class = self.class();
        let current = match property {
            "heartbeat_interval" => self.liveness.heartbeat_interval,
            _ => self.liveness.idle_timeout,
        };
        if self.is_listening() {
            godot_error!(
                "{class}.{property}: cannot change while listening; stop() first, then listen() again."
            );
            return None;
        }
        if !(seconds.is_finite() && (0.0..=MAX_SECONDS).contains(&seconds)) {
            godot_error!(
                "{class}.{property}: {seconds} is not a number of seconds from 0 (off) to {MAX_SECONDS}; keeping {current}."
            );
            return None;
        }
        Some(seconds)
    }

    /// shutdown(): checks the arguments, then closes every peer and waits (see the script doc).
    pub fn shutdown_checked(&mut self, code: i64, reason: &GString, timeout: f64) -> Error {
        let class = self.class();
        let Some(code) = errors::close_code(code) else {
            godot_error!(
                "{class}.shutdown(): invalid close code {code} (1000-1003, 1007-1014 or 3000-4999); the server keeps running."
            );
            return Error::ERR_INVALID_PARAMETER;
        };
        if !(timeout.is_finite() && (0.0..=MAX_SECONDS).contains(&timeout)) {
            godot_error!(
                "{class}.shutdown(): timeout {timeout} is not a number of seconds from 0 to {MAX_SECONDS}; the server keeps running."
            );
            return Error::ERR_INVALID_PARAMETER;
        }
        if self.shutdown(code, &reason.to_string(), Duration::from_secs_f64(timeout)) {
            Error::OK
        } else {
            Error::ERR_TIMEOUT
        }
    }
}

/// `shutdown()`, for one server class. The heartbeat properties and their accessors are in each
/// class's primary `#[godot_api]` block, where gdext requires them.
macro_rules! liveness_api {
    ($class:ident) => {
        #[godot_api(secondary)]
        impl $class {
            /// Graceful stop: sends every client a close frame with `code` and `reason`, then
            /// blocks the calling thread until every client has answered and closed its
            /// connection, or `timeout` seconds have passed, then stops like `stop()` (clients
            /// that did not answer get a 1001 close frame, best effort, and are cut off). New
            /// connections are refused meanwhile.
            ///
            /// Like `stop()`, it emits no signals: every peer is gone when it returns (the script
            /// asked for it), and packets that arrived meanwhile are discarded. Returns `OK` when
            /// every client answered in time, `ERR_TIMEOUT` when some did not (the server is
            /// stopped either way), `ERR_INVALID_PARAMETER` (with an error, the server keeps
            /// running) for an invalid close code or timeout. Not listening: does nothing, `OK`.
            #[func]
            pub fn shutdown(
                &mut self,
                #[opt(default = 1001)] code: i64,
                #[opt(default = "")] reason: GString,
                #[opt(default = 2.0)] timeout: f64,
            ) -> Error {
                let result = self.state.shutdown_checked(code, &reason, timeout);
                if result != Error::ERR_INVALID_PARAMETER {
                    $crate::server_state::ServerSignals::stopped(self);
                }
                result
            }
        }
    };
}

pub(crate) use liveness_api;
