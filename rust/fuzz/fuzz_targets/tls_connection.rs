//! See rust/fuzz/README.md.
#![no_main]

use std::sync::OnceLock;

use websocket_server_core::fuzzing::{tls_connection, TlsFixture};

static FIXTURE: OnceLock<TlsFixture> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fixture = FIXTURE.get_or_init(|| {
        TlsFixture::from_pem(
            include_str!("../tls/cert.pem"),
            include_str!("../tls/key.pem"),
        )
    });
    tls_connection(data, fixture);
});
