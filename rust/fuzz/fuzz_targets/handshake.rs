//! See rust/fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    websocket_server_core::fuzzing::handshake(data);
});
