//! Shared pieces of the benchmark binaries (`wsload`, `core-server`) and the micro-benchmarks:
//! a log-linear latency histogram, a tiny JSON writer, a few libc helpers, and the main-thread
//! loop that drives a [`websocket_server_core::Server`] the way a Godot script would.

pub mod core_loop;
pub mod hist;
pub mod json;
pub mod sys;
