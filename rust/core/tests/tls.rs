//! wss:// against rustls clients over the loopback interface: echo, certificate chains, protocol
//! versions and ALPN, closing handshakes and close_notify, handshake timeouts that cover TLS and
//! the upgrade, clients that do not speak TLS, many clients at once, start-up errors, and
//! back-pressure both ways (server bursts larger than rustls' send buffer, paused reading with
//! plaintext already decrypted), and certificate renewal while listening.

mod common;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, StreamOwned,
    SupportedProtocolVersion,
};
use tungstenite::protocol::CloseFrame;
use tungstenite::{HandshakeError, Message, WebSocket};
use websocket_server_core::{
    Event, Limits, PeerHandle, PeerId, Server, ServerConfig, StartError, TlsError, TlsIdentity,
    UpdateTlsError,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// A client's TLS stream: rustls over a blocking TCP socket with timeouts.
type TlsStream = StreamOwned<ClientConnection, TcpStream>;
/// A blocking tungstenite client over TLS.
type TlsClient = WebSocket<TlsStream>;

// Certificates.

fn localhost_params() -> CertificateParams {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A self-signed "localhost" certificate: the server's identity and what a client trusts.
struct SelfSigned {
    identity: TlsIdentity,
    cert: CertificateDer<'static>,
}

fn self_signed() -> SelfSigned {
    let key = KeyPair::generate().unwrap();
    let cert = localhost_params().self_signed(&key).unwrap();
    SelfSigned {
        identity: TlsIdentity {
            certificate_chain: cert.pem(),
            private_key: key.serialize_pem(),
            extra_chain: String::new(),
        },
        cert: cert.der().clone(),
    }
}

/// A certificate in both encodings.
struct Pem {
    pem: String,
    der: CertificateDer<'static>,
}

/// A CA and a "localhost" leaf it signed.
struct CaSigned {
    ca: Pem,
    leaf: Pem,
    leaf_key: String,
}

fn ca_signed() -> CaSigned {
    let ca = CertifiedIssuer::self_signed(ca_params("wss test CA"), KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = localhost_params().signed_by(&leaf_key, &*ca).unwrap();
    CaSigned {
        ca: Pem {
            pem: ca.pem(),
            der: ca.der().clone(),
        },
        leaf: Pem {
            pem: leaf.pem(),
            der: leaf.der().clone(),
        },
        leaf_key: leaf_key.serialize_pem(),
    }
}

// Clients.

fn client_config(
    trusted: &[&CertificateDer<'static>],
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots.add((*cert).clone()).expect("trusted certificate");
    }
    let mut config =
        ClientConfig::builder_with_provider(websocket_server_core::tls::crypto_provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client trusting `cert` only, offering TLS 1.3 and 1.2, no ALPN.
fn trusting(cert: &CertificateDer<'static>) -> Arc<ClientConfig> {
    client_config(&[cert], rustls::DEFAULT_VERSIONS, &[])
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// A TCP connection (with timeouts) wrapped in a rustls session that has not started yet.
fn tls_stream(addr: SocketAddr, config: &Arc<ClientConfig>) -> TlsStream {
    let conn = ClientConnection::new(config.clone(), localhost()).unwrap();
    StreamOwned::new(conn, tcp(addr))
}

fn wss_url(addr: SocketAddr) -> String {
    format!("wss://localhost:{}/", addr.port())
}

fn wss_config(identity: &TlsIdentity) -> ServerConfig {
    ServerConfig {
        tls: Some(identity.clone()),
        ..local_config()
    }
}

/// TLS handshake and WebSocket upgrade; the error is the client's view of a failure.
fn try_connect_tls(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
) -> Result<TlsClient, tungstenite::Error> {
    match tungstenite::client(wss_url(addr), tls_stream(addr, config)) {
        Ok((client, response)) => {
            assert_eq!(response.status(), 101);
            Ok(client)
        }
        Err(HandshakeError::Failure(e)) => Err(e),
        Err(HandshakeError::Interrupted(_)) => {
            panic!("wss handshake timed out after {IO_TIMEOUT:?}")
        }
    }
}

fn connect_tls(addr: SocketAddr, config: &Arc<ClientConfig>) -> TlsClient {
    try_connect_tls(addr, config).expect("wss upgrade")
}

/// A barrier client on a server with a short handshake timeout: on a loaded machine its own
/// handshake may overrun that timeout, so a few attempts are allowed (a failed one is never
/// reported to the server's owner).
fn connect_tls_patiently(addr: SocketAddr, config: &Arc<ClientConfig>) -> TlsClient {
    let mut attempt = 1;
    loop {
        match try_connect_tls(addr, config) {
            Ok(client) => return client,
            Err(e) if attempt < 5 => {
                eprintln!("barrier client attempt {attempt} failed: {e}");
                attempt += 1;
            }
            Err(e) => panic!("wss upgrade failed {attempt} times, last: {e}"),
        }
    }
}

/// Runs the TLS handshake only; the Finished message is written too.
fn complete_tls(stream: &mut TlsStream) -> io::Result<()> {
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    while stream.conn.wants_write() {
        stream.conn.write_tls(&mut stream.sock)?;
    }
    Ok(())
}

/// Reads decrypted bytes until the server ends the connection (close_notify, EOF or reset);
/// fails if it is still open after [`IO_TIMEOUT`].
fn read_tls_until_closed(stream: &mut TlsStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!("server did not close the connection within {IO_TIMEOUT:?}")
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return data,
        }
    }
}

/// The client's next read ends a finished closing handshake: the server's close_notify (not
/// merely a TCP EOF, which rustls reports as an error) makes tungstenite see `ConnectionClosed`.
fn expect_closed_with_close_notify(client: &mut TlsClient) {
    match client.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected a finished close ended by close_notify, got {other:?}"),
    }
}

// 1. Echo.

#[test]
fn wss_echo_of_text_and_binary_at_1_byte_64_kib_and_1_mib_through_the_main_thread() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
    let connected = h.wait_connected();
    assert_eq!(
        connected.peer.addr(),
        client.get_ref().sock.local_addr().unwrap()
    );
    assert_eq!(connected.request.target, "/");
    for len in [1, 64 * KIB, Limits::DEFAULT.inbound_bytes] {
        echo_through_main_thread(&mut h, &mut client, &connected.peer, &pattern(len), true);
        echo_through_main_thread(&mut h, &mut client, &connected.peer, &pattern(len), false);
    }
}

#[test]
fn upgrade_request_and_first_frame_in_one_tls_write_are_both_handled() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut stream = tls_stream(h.addr(), &trusting(&identity.cert));
    let mut bytes = format!(
        "GET /early HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    bytes.extend(masked_frame(0x1, b"early bird"));
    stream.write_all(&bytes).unwrap();
    stream.flush().unwrap();
    let connected = h.wait_connected();
    assert_eq!(connected.request.target, "/early");
    assert_eq!(
        h.wait_message(connected.peer.id()),
        (b"early bird".to_vec(), true)
    );
    // The 101 reply came back encrypted.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("101 reply");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{head:?}");
}

// 2. Certificate chains.

/// A client trusting only `ca` connects, sees exactly `expected` (leaf first), and echoes.
fn assert_chain_served(identity: &TlsIdentity, ca: &CertificateDer<'static>, expected: &[&[u8]]) {
    let mut h = Harness::start(wss_config(identity));
    let mut client = connect_tls(h.addr(), &trusting(ca));
    let peer = h.wait_connected().peer;
    let served: Vec<Vec<u8>> = client
        .get_ref()
        .conn
        .peer_certificates()
        .expect("the server sent certificates")
        .iter()
        .map(|c| c.to_vec())
        .collect();
    let expected: Vec<Vec<u8>> = expected.iter().map(|c| c.to_vec()).collect();
    assert_eq!(
        served.len(),
        expected.len(),
        "number of certificates served"
    );
    assert!(served == expected, "the chain is served leaf first");
    echo_through_main_thread(&mut h, &mut client, &peer, b"chained", true);
}

#[test]
fn ca_signed_leaf_with_the_ca_in_extra_chain_is_served_as_leaf_then_ca() {
    let _watchdog = watchdog();
    let pki = ca_signed();
    let identity = TlsIdentity {
        certificate_chain: pki.leaf.pem.clone(),
        private_key: pki.leaf_key.clone(),
        extra_chain: pki.ca.pem.clone(),
    };
    assert_chain_served(&identity, &pki.ca.der, &[&pki.leaf.der, &pki.ca.der]);
}

#[test]
fn ca_signed_leaf_with_the_ca_concatenated_in_certificate_chain_is_served_the_same() {
    let _watchdog = watchdog();
    let pki = ca_signed();
    let identity = TlsIdentity {
        certificate_chain: format!("{}{}", pki.leaf.pem, pki.ca.pem),
        private_key: pki.leaf_key.clone(),
        extra_chain: String::new(),
    };
    assert_chain_served(&identity, &pki.ca.der, &[&pki.leaf.der, &pki.ca.der]);
}

#[test]
fn intermediate_in_extra_chain_lets_a_root_trusting_client_verify_and_is_required() {
    let _watchdog = watchdog();
    let root =
        CertifiedIssuer::self_signed(ca_params("wss test root"), KeyPair::generate().unwrap())
            .unwrap();
    let intermediate = CertifiedIssuer::signed_by(
        ca_params("wss test intermediate"),
        KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = localhost_params()
        .signed_by(&leaf_key, &*intermediate)
        .unwrap();
    let with_intermediate = TlsIdentity {
        certificate_chain: leaf.pem(),
        private_key: leaf_key.serialize_pem(),
        extra_chain: intermediate.pem(),
    };
    assert_chain_served(
        &with_intermediate,
        root.der(),
        &[leaf.der(), intermediate.der()],
    );

    // Without it the client cannot link the leaf to its root, and the server sees no peer.
    let mut h = Harness::start(wss_config(&TlsIdentity {
        extra_chain: String::new(),
        ..with_intermediate
    }));
    let err = match try_connect_tls(h.addr(), &trusting(root.der())) {
        Err(e) => e,
        Ok(_) => panic!("a client trusting only the root verified a leaf without its intermediate"),
    };
    let rustls_error = match &err {
        tungstenite::Error::Io(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    assert_eq!(
        rustls_error,
        Some(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        )),
        "{err:?}"
    );
    // Barrier: a client trusting the intermediate itself connects; nothing came before it.
    let _client = connect_tls(h.addr(), &trusting(intermediate.der()));
    h.wait_connected();
    assert_eq!(h.history.len(), 1, "{:?}", h.history);
}

// 3. Protocol versions and ALPN.

#[test]
fn tls_1_3_is_negotiated_by_default_and_a_tls_1_2_only_client_connects_too() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));

    let mut modern = connect_tls(h.addr(), &trusting(&identity.cert));
    let modern_peer = h.wait_connected().peer;
    assert_eq!(
        modern.get_ref().conn.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    echo_through_main_thread(&mut h, &mut modern, &modern_peer, b"over 1.3", true);

    let tls12_only = client_config(&[&identity.cert], &[&rustls::version::TLS12], &[]);
    let mut old = connect_tls(h.addr(), &tls12_only);
    let old_peer = h.wait_connected().peer;
    assert_eq!(
        old.get_ref().conn.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    echo_through_main_thread(&mut h, &mut old, &old_peer, &pattern(64 * KIB), false);
}

#[test]
fn tls_1_3_negotiates_aes_128_gcm_sha256_even_for_a_client_asking_for_aes_256_first() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut provider = websocket_server_core::tls::crypto_provider()
        .as_ref()
        .clone();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_256_GCM_SHA384);
    let mut roots = RootCertStore::empty();
    roots.add(identity.cert.clone()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut client = connect_tls(h.addr(), &Arc::new(config));
    let peer = h.wait_connected().peer;
    let negotiated = client.get_ref().conn.negotiated_cipher_suite().unwrap();
    assert_eq!(
        negotiated.suite(),
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
    );
    echo_through_main_thread(&mut h, &mut client, &peer, b"over AES-128-GCM", true);
}

#[test]
fn alpn_http11_is_selected_for_a_client_offering_it_and_nothing_for_a_client_offering_none() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));

    let offering = client_config(&[&identity.cert], rustls::DEFAULT_VERSIONS, &[b"http/1.1"]);
    let mut client = connect_tls(h.addr(), &offering);
    let peer = h.wait_connected().peer;
    assert_eq!(
        client.get_ref().conn.alpn_protocol(),
        Some(&b"http/1.1"[..])
    );
    echo_through_main_thread(&mut h, &mut client, &peer, b"alpn", true);

    let silent = connect_tls(h.addr(), &trusting(&identity.cert));
    h.wait_connected();
    assert_eq!(silent.get_ref().conn.alpn_protocol(), None);
}

// 4. Closing.

#[test]
fn client_close_4000_bye_over_tls_gives_close_request_then_clean_disconnect_and_close_notify() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
    let id = h.wait_connected().peer.id();
    client
        .close(Some(CloseFrame {
            code: 4000.into(),
            reason: "bye".into(),
        }))
        .unwrap();
    assert_eq!(h.wait_close_request(id), (4000, "bye".to_string()));
    assert!(h.wait_disconnected(id), "disconnect should be clean");
    assert_eq!(
        h.history_of(id)[1..],
        [
            Seen::CloseRequest {
                peer: id,
                code: 4000,
                reason: "bye".into()
            },
            Seen::Disconnected {
                peer: id,
                clean: true
            }
        ]
    );
    assert_eq!(
        recv_close(&mut client),
        (4000, "bye".to_string()),
        "the server echoes the close"
    );
    expect_closed_with_close_notify(&mut client);
}

#[test]
fn server_close_4001_over_tls_reaches_the_client_and_ends_clean_without_close_request() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
    let peer = h.wait_connected().peer;
    h.sender().close(&peer, 4001, "kick");
    assert_eq!(recv_close(&mut client), (4001, "kick".to_string()));
    // The client's next read sends its answer; the server then ends TLS and TCP.
    expect_closed_with_close_notify(&mut client);
    assert!(h.wait_disconnected(peer.id()), "disconnect should be clean");
    assert_eq!(
        h.history_of(peer.id())[1..],
        [Seen::Disconnected {
            peer: peer.id(),
            clean: true
        }],
        "no CloseRequest for a close the server started"
    );
    assert!(!peer.is_open());
}

#[test]
fn client_dropping_tcp_mid_session_over_tls_gives_unclean_disconnect() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
    let peer = h.wait_connected().peer;
    echo_through_main_thread(&mut h, &mut client, &peer, b"still here", true);
    drop(client); // no close frame, no close_notify: just the TCP close
    assert!(
        !h.wait_disconnected(peer.id()),
        "disconnect should be unclean"
    );
    assert_eq!(h.history_of(peer.id()).len(), 3, "{:?}", h.history);
    assert!(!peer.is_open());
}

#[test]
fn client_sending_close_notify_without_a_websocket_close_gives_unclean_disconnect() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
    let peer = h.wait_connected().peer;
    let stream = client.get_mut();
    stream.conn.send_close_notify();
    while stream.conn.wants_write() {
        stream.conn.write_tls(&mut stream.sock).unwrap();
    }
    assert!(
        !h.wait_disconnected(peer.id()),
        "the TLS session ended without the closing handshake"
    );
    assert_eq!(h.history_of(peer.id()).len(), 2, "{:?}", h.history);
}

// 5. Clients that do not speak TLS.

#[test]
fn plain_ws_client_against_wss_fails_without_connected_and_tls_clients_keep_working() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let config = trusting(&identity.cert);
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut before = connect_tls(h.addr(), &config);
    let before_peer = h.wait_connected().peer;

    let start = Instant::now();
    let result = try_connect(h.addr(), ws_url(h.addr(), "/"));
    assert!(result.is_err(), "a plain ws:// upgrade succeeded on wss");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the plain client was only turned away after {:?}",
        start.elapsed()
    );

    echo_through_main_thread(&mut h, &mut before, &before_peer, b"before", true);
    let mut after = connect_tls(h.addr(), &config);
    let after_peer = h.wait_connected().peer;
    echo_through_main_thread(&mut h, &mut after, &after_peer, b"after", false);
    assert_eq!(
        h.count(|s| matches!(s, Seen::Connected { .. })),
        2,
        "{:?}",
        h.history
    );
}

#[test]
fn https_request_without_upgrade_gets_426_then_close_notify_and_no_connected_event() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let config = trusting(&identity.cert);
    let mut h = Harness::start(wss_config(&identity.identity));
    let mut stream = tls_stream(h.addr(), &config);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    stream.flush().unwrap();
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) => panic!(
            "the refusal did not end with close_notify ({e}); got {:?}",
            String::from_utf8_lossy(&reply)
        ),
    }
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 426 "), "{reply:?}");
    let _client = connect_tls(h.addr(), &config);
    h.wait_connected();
    assert_eq!(h.history.len(), 1, "{:?}", h.history);
}

// 6–7. The handshake timeout covers TLS and the upgrade.

/// A client that sends `send_first` and stalls is dropped after the handshake timeout, and never
/// reported; returns what the server sent it.
fn assert_tls_stall_dropped_after_handshake_timeout(send_first: &[u8]) -> Vec<u8> {
    let timeout = Duration::from_millis(300);
    let identity = self_signed();
    let mut h = Harness::start(ServerConfig {
        handshake_timeout: timeout,
        ..wss_config(&identity.identity)
    });
    let start = Instant::now();
    let mut raw = tcp(h.addr());
    raw.write_all(send_first).unwrap();
    let received = read_until_closed(&mut raw);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout,
        "closed after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "closed only after {elapsed:?}"
    );
    // Barrier: a good client's Connected comes after anything the stalled one caused.
    let _client = connect_tls_patiently(h.addr(), &trusting(&identity.cert));
    h.wait_connected();
    assert_eq!(h.history.len(), 1, "{:?}", h.history);
    received
}

/// The first flight a rustls client sends: its ClientHello record.
fn client_hello() -> Vec<u8> {
    let identity = self_signed();
    let mut conn = ClientConnection::new(trusting(&identity.cert), localhost()).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    assert_eq!(hello[0], 0x16, "a handshake record");
    assert!(hello.len() > 100, "ClientHello of {} bytes", hello.len());
    hello
}

#[test]
fn silent_tcp_client_on_wss_is_dropped_after_handshake_timeout_without_connected() {
    let _watchdog = watchdog();
    let received = assert_tls_stall_dropped_after_handshake_timeout(b"");
    assert!(received.is_empty(), "server sent {received:?}");
}

#[test]
fn client_stalling_after_half_a_client_hello_is_dropped_after_handshake_timeout() {
    let _watchdog = watchdog();
    let hello = client_hello();
    let received = assert_tls_stall_dropped_after_handshake_timeout(&hello[..20]);
    assert!(received.is_empty(), "server sent {received:?}");
}

#[test]
fn client_stalling_after_a_whole_client_hello_is_dropped_after_handshake_timeout() {
    let _watchdog = watchdog();
    let hello = client_hello();
    let received = assert_tls_stall_dropped_after_handshake_timeout(&hello);
    assert_eq!(
        received.first(),
        Some(&0x16),
        "the server answered the ClientHello with its handshake flight"
    );
}

#[test]
fn client_completing_tls_without_the_http_upgrade_is_dropped_after_handshake_timeout() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(300);
    let identity = self_signed();
    let mut h = Harness::start(ServerConfig {
        handshake_timeout: timeout,
        ..wss_config(&identity.identity)
    });
    let config = trusting(&identity.cert);
    let start = Instant::now();
    let mut stream = tls_stream(h.addr(), &config);
    match complete_tls(&mut stream) {
        Ok(()) => {
            let received = read_tls_until_closed(&mut stream);
            assert!(received.is_empty(), "server sent {received:?}");
        }
        // Only a badly overloaded machine gets here: the deadline passed during the handshake.
        Err(e) => assert!(
            start.elapsed() >= timeout,
            "TLS handshake failed before the timeout: {e}"
        ),
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout,
        "closed after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "closed only after {elapsed:?}"
    );
    let _client = connect_tls_patiently(h.addr(), &config);
    h.wait_connected();
    assert_eq!(h.history.len(), 1, "{:?}", h.history);
}

#[test]
fn handshake_timeout_runs_from_tcp_accept_across_a_late_tls_handshake_and_a_slow_request() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(1200);
    let identity = self_signed();
    let mut h = Harness::start(ServerConfig {
        handshake_timeout: timeout,
        ..wss_config(&identity.identity)
    });
    let start = Instant::now();
    let mut stream = tls_stream(h.addr(), &trusting(&identity.cert));
    thread::sleep(Duration::from_millis(700));
    // The server cannot finish TLS (or see request bytes) before this instant, so a deadline
    // restarted by either would fall at `tls_start + timeout` or later.
    let tls_start = Instant::now();
    match complete_tls(&mut stream) {
        Ok(()) => {
            thread::sleep(Duration::from_millis(200));
            // Half a request head; a write error only means the server already gave up.
            let _ = stream
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
                .and_then(|()| stream.flush());
            let received = read_tls_until_closed(&mut stream);
            assert!(received.is_empty(), "server sent {received:?}");
        }
        // Only a badly overloaded machine gets here: the deadline passed during the handshake.
        Err(e) => assert!(
            start.elapsed() >= timeout,
            "TLS handshake failed before the timeout: {e}"
        ),
    }
    let closed = Instant::now();
    assert!(
        closed - start >= timeout,
        "closed after {:?}, before the timeout",
        closed - start
    );
    assert!(
        closed < tls_start + timeout,
        "closed {:?} after the connect, {:?} after TLS began: the handshake timeout was \
         restarted after the accept",
        closed - start,
        closed - tls_start
    );
    h.poll();
    assert!(h.history.is_empty(), "{:?}", h.history);
}

// 8. Many clients.

#[test]
fn fifty_concurrent_tls_clients_each_echo_ten_messages() {
    let _watchdog = watchdog();
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 10;
    let identity = self_signed();
    let config = trusting(&identity.cert);
    let h = Harness::start(wss_config(&identity.identity));
    let addr = h.addr();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let config = config.clone();
            thread::spawn(move || {
                let mut client = connect_tls(addr, &config);
                for m in 0..MESSAGES {
                    let text = format!("client {c} message {m} {}", "x".repeat(c * 97 + m));
                    client.send(Message::text(text.clone())).unwrap();
                    match recv(&mut client) {
                        Message::Text(got) => {
                            assert_eq!(got.as_str(), text, "client {c} message {m}")
                        }
                        other => panic!("client {c}: expected text, got {}", describe(&other)),
                    }
                }
                client.close(None).unwrap();
                loop {
                    match client.read() {
                        Ok(_) => continue,
                        Err(tungstenite::Error::ConnectionClosed) => break,
                        Err(e) => panic!("client {c}: closing failed: {e}"),
                    }
                }
            })
        })
        .collect();

    // The main thread echoes until every client has left.
    let mut peers: HashMap<PeerId, PeerHandle> = HashMap::new();
    let mut echoed = 0;
    let mut clean = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut batch = Vec::new();
    while clean < CLIENTS {
        assert!(
            Instant::now() < deadline,
            "{clean} of {CLIENTS} clients left cleanly, {echoed} messages echoed"
        );
        h.server.drain_events(&mut batch);
        for event in batch.drain(..) {
            match event {
                Event::Connected { peer, .. } => {
                    peers.insert(peer.id(), peer);
                }
                Event::Message { peer, data, text } => {
                    let handle = &peers[&peer];
                    h.sender().send(handle, &data, text).unwrap();
                    h.sender().consume_inbound(handle, data.len());
                    echoed += 1;
                }
                Event::CloseRequest { .. } => {}
                Event::Admission { .. } => unreachable!("admission control is off"),
                Event::Fault { message, .. } => panic!("a fault in the reactor: {message}"),
                Event::Disconnected { peer, clean: ok } => {
                    assert!(ok, "peer {peer} left uncleanly");
                    clean += 1;
                }
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    for t in threads {
        t.join().expect("client thread");
    }
    assert_eq!(peers.len(), CLIENTS);
    assert_eq!(echoed, CLIENTS * MESSAGES);
}

// 9. Start-up errors.

fn start_error(identity: TlsIdentity) -> TlsError {
    match Server::start(wss_config(&identity)) {
        Err(StartError::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("the server started with a broken identity"),
    }
}

const MALFORMED_PEM: &str =
    "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n";

#[test]
fn start_with_the_key_of_another_certificate_is_a_key_mismatch() {
    let _watchdog = watchdog();
    let identity = self_signed().identity;
    let other = self_signed().identity;
    assert_eq!(
        start_error(TlsIdentity {
            private_key: other.private_key,
            ..identity
        }),
        TlsError::KeyMismatch
    );
}

#[test]
fn start_with_a_garbage_or_missing_key_is_bad_key() {
    let _watchdog = watchdog();
    let identity = self_signed().identity;
    for key in [
        "hello",
        "",
        MALFORMED_PEM,
        identity.certificate_chain.as_str(),
    ] {
        let error = start_error(TlsIdentity {
            private_key: key.to_string(),
            ..identity.clone()
        });
        assert!(
            matches!(error, TlsError::BadKey(_)),
            "key {key:?}: {error:?}"
        );
    }
}

#[test]
fn start_with_an_empty_or_garbage_certificate_is_no_certificate_or_bad_certificate() {
    let _watchdog = watchdog();
    let identity = self_signed().identity;
    let with_cert = |cert: &str| TlsIdentity {
        certificate_chain: cert.to_string(),
        ..identity.clone()
    };
    assert_eq!(start_error(with_cert("")), TlsError::NoCertificate);
    assert_eq!(start_error(with_cert("   \n")), TlsError::NoCertificate);
    assert_eq!(start_error(with_cert("hello")), TlsError::NoCertificate);
    // The key pasted where the certificate belongs.
    assert_eq!(
        start_error(with_cert(&identity.private_key)),
        TlsError::NoCertificate
    );
    let error = start_error(with_cert(MALFORMED_PEM));
    assert!(matches!(error, TlsError::BadCertificate(_)), "{error:?}");
    // Well-formed PEM around bytes that are no certificate.
    let error = start_error(with_cert(
        "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    ));
    assert!(matches!(error, TlsError::BadCertificate(_)), "{error:?}");
}

#[test]
fn start_with_a_garbage_extra_chain_is_bad_chain() {
    let _watchdog = watchdog();
    let identity = self_signed().identity;
    let error = start_error(TlsIdentity {
        extra_chain: MALFORMED_PEM.to_string(),
        ..identity.clone()
    });
    assert!(matches!(error, TlsError::BadChain(_)), "{error:?}");
    let error = start_error(TlsIdentity {
        extra_chain: "-----BEGIN CERTIFICATE-----\nAAAA\n".to_string(),
        ..identity
    });
    assert!(matches!(error, TlsError::BadChain(_)), "{error:?}");
}

// 10. Bursts larger than rustls' buffer.

#[test]
fn burst_of_200_messages_of_64_kib_from_the_server_arrives_intact_and_in_order_over_tls() {
    let _watchdog = watchdog();
    const COUNT: usize = 200;
    const LEN: usize = 64 * KIB;
    let identity = self_signed();
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            outbound_bytes: 16 * MIB,
            outbound_messages: 1000,
            ..Limits::DEFAULT
        },
        ..wss_config(&identity.identity)
    });
    let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
    let peer = h.wait_connected().peer;
    let message = |i: usize| -> Vec<u8> {
        let mut m: Vec<u8> = (0..LEN).map(|j| (i * 31 + j * 7) as u8).collect();
        m[..4].copy_from_slice(&(i as u32).to_be_bytes());
        m
    };
    for i in 0..COUNT {
        h.sender().send(&peer, &message(i), false).unwrap();
    }
    // The client reads only once the socket and rustls' buffer are full.
    thread::sleep(Duration::from_millis(100));
    assert!(
        peer.outbound_messages() > 0,
        "12.5 MiB should not fit into the socket buffers at once"
    );
    for i in 0..COUNT {
        match recv(&mut client) {
            Message::Binary(b) => {
                assert_eq!(b.len(), LEN, "length of message {i}");
                assert_eq!(b[..4], (i as u32).to_be_bytes(), "message {i} out of order");
                assert!(b[..] == message(i)[..], "message {i} corrupted");
            }
            other => panic!("message {i}: expected binary, got {}", describe(&other)),
        }
    }
    assert!(wait_until(EVENT_TIMEOUT, || peer.outbound_messages() == 0
        && peer.outbound_bytes() == 0));
    echo_through_main_thread(&mut h, &mut client, &peer, b"after the burst", true);
}

// Back-pressure: paused reading must resume from what rustls already decrypted.

#[test]
fn inbound_message_limit_pauses_a_tls_peer_and_resumes_without_losing_buffered_plaintext() {
    let _watchdog = watchdog();
    const LIMIT: usize = 4;
    const COUNT: u32 = 100;
    let identity = self_signed();
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            inbound_messages: LIMIT,
            ..Limits::DEFAULT
        },
        ..wss_config(&identity.identity)
    });
    let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
    let peer = h.wait_connected().peer;
    // 100 KiB in one flush: full 16 KiB records, so while the peer is paused part of a record
    // sits decrypted in rustls (beyond the 4 KiB the connection reads at a time).
    let message = |i: u32| {
        let mut m = pattern(KIB);
        m[..4].copy_from_slice(&i.to_be_bytes());
        m
    };
    for i in 0..COUNT {
        client.write(Message::binary(message(i))).unwrap();
    }
    client.flush().unwrap();
    for i in 0..COUNT {
        let (data, _) = h.wait_message(peer.id());
        assert!(data == message(i), "message {i} out of order or corrupted");
        let delivered = h.count(|s| matches!(s, Seen::Message { peer: p, .. } if *p == peer.id()));
        assert!(
            delivered <= i as usize + LIMIT,
            "{delivered} messages delivered with {i} consumed and a limit of {LIMIT}"
        );
        h.sender().consume_inbound(&peer, data.len());
    }
    assert_eq!(peer.inbound_bytes(), 0);
    echo_through_main_thread(&mut h, &mut client, &peer, b"resumed", true);
}

#[test]
fn tls_client_leaving_while_paused_by_inbound_limits_gets_all_its_messages_delivered_first() {
    let _watchdog = watchdog();
    let identity = self_signed();
    for by_close_frame in [true, false] {
        let mut h = Harness::start(ServerConfig {
            limits: Limits {
                inbound_messages: 2,
                ..Limits::DEFAULT
            },
            ..wss_config(&identity.identity)
        });
        let mut client = connect_tls(h.addr(), &trusting(&identity.cert));
        let peer = h.wait_connected().peer;
        for i in 0..5u8 {
            client.send(Message::binary(vec![i])).unwrap();
        }
        if by_close_frame {
            client.close(None).unwrap();
        } else {
            drop(client);
        }
        for i in 0..5u8 {
            assert_eq!(h.wait_message(peer.id()).0, [i]);
            h.sender().consume_inbound(&peer, 1);
        }
        if by_close_frame {
            assert_eq!(h.wait_close_request(peer.id()), (1005, String::new()));
        }
        assert_eq!(h.wait_disconnected(peer.id()), by_close_frame);
        assert_eq!(
            h.history_of(peer.id()).len(),
            7 + by_close_frame as usize,
            "{:?}",
            h.history
        );
    }
}

/// A client socket that takes little at a time: a tiny receive buffer and small segments (the
/// server sizes its send buffer from the MSS), and every read waits a millisecond first. The
/// server's socket is then nearly always full, so its writes stop short (WouldBlock), the last
/// one of a burst included: only flushing what rustls still holds delivers that tail.
struct SlowTcp(TcpStream);

impl SlowTcp {
    fn connect(addr: SocketAddr) -> SlowTcp {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        socket.set_recv_buffer_size(4 * KIB).unwrap();
        #[cfg(unix)]
        socket.set_tcp_mss(536).unwrap();
        socket.connect(&addr.into()).unwrap();
        let stream = TcpStream::from(socket);
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        SlowTcp(stream)
    }
}

impl Read for SlowTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        thread::sleep(Duration::from_millis(1));
        self.0.read(buf)
    }
}

impl Write for SlowTcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[test]
fn bursts_to_a_slowly_reading_client_arrive_whole_including_the_tail_rustls_still_held() {
    let _watchdog = watchdog();
    const ROUNDS: usize = 8;
    let identity = self_signed();
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            outbound_bytes: 16 * MIB,
            ..Limits::DEFAULT
        },
        ..wss_config(&identity.identity)
    });
    let conn = ClientConnection::new(trusting(&identity.cert), localhost()).unwrap();
    let stream = StreamOwned::new(conn, SlowTcp::connect(h.addr()));
    let mut client = match tungstenite::client(wss_url(h.addr()), stream) {
        Ok((client, _)) => client,
        Err(e) => panic!("wss upgrade: {e}"),
    };
    let peer = h.wait_connected().peer;
    // Sizes that do not line up with records or the 64 KiB rustls buffer.
    let message = |round: usize, i: usize| -> Vec<u8> {
        let len = 20 * KIB + (round * 7919 + i * 104_729) % (64 * KIB);
        (0..len)
            .map(|j| (round * 37 + i * 131 + j * 7) as u8)
            .collect()
    };
    for round in 0..ROUNDS {
        let count = 3 + round % 4;
        for i in 0..count {
            h.sender().send(&peer, &message(round, i), false).unwrap();
        }
        // A round's last bytes are not followed by anything that would push them out.
        for i in 0..count {
            match recv(&mut client) {
                Message::Binary(b) => assert!(
                    b[..] == message(round, i)[..],
                    "round {round}: message {i} corrupted"
                ),
                other => panic!(
                    "round {round}: message {i}: expected binary, got {}",
                    describe(&other)
                ),
            }
        }
    }
    assert!(wait_until(EVENT_TIMEOUT, || peer.outbound_bytes() == 0));
}

// 11. Certificate renewal while listening.

/// The certificate the server presented to `client`.
fn served_certificate(client: &TlsClient) -> CertificateDer<'static> {
    client
        .get_ref()
        .conn
        .peer_certificates()
        .expect("a server certificate")[0]
        .clone()
}

#[test]
fn update_tls_serves_the_new_certificate_to_new_clients_while_old_connections_go_on() {
    let _watchdog = watchdog();
    let (a, b) = (self_signed(), self_signed());
    let mut h = Harness::start(wss_config(&a.identity));

    let mut first = connect_tls(h.addr(), &trusting(&a.cert));
    assert_eq!(served_certificate(&first), a.cert);
    let first_peer = h.wait_connected().peer;
    assert!(
        try_connect_tls(h.addr(), &trusting(&b.cert)).is_err(),
        "a client trusting only B connected before the update"
    );

    h.server.update_tls(&b.identity).expect("update to B");

    assert!(
        try_connect_tls(h.addr(), &trusting(&a.cert)).is_err(),
        "a client trusting only A connected after the update"
    );
    let mut second = connect_tls(h.addr(), &trusting(&b.cert));
    assert_eq!(served_certificate(&second), b.cert);
    let second_peer = h.wait_connected().peer;
    echo_through_main_thread(&mut h, &mut first, &first_peer, b"still here", true);
    echo_through_main_thread(&mut h, &mut second, &second_peer, b"new one", false);
    assert_eq!(h.count(|s| matches!(s, Seen::Disconnected { .. })), 0);

    // And back again: the slot can be replaced any number of times.
    h.server.update_tls(&a.identity).expect("update back to A");
    let third = connect_tls(h.addr(), &trusting(&a.cert));
    assert_eq!(served_certificate(&third), a.cert);
    echo_through_main_thread(&mut h, &mut first, &first_peer, b"after two", true);
}

#[test]
fn a_connection_halfway_through_its_tls_handshake_at_the_update_finishes_with_the_old_certificate()
{
    let _watchdog = watchdog();
    let (a, b) = (self_signed(), self_signed());
    let mut h = Harness::start(wss_config(&a.identity));
    let mut stream = tls_stream(h.addr(), &trusting(&a.cert));
    // ClientHello out, the server's first reply in: the server has accepted this connection.
    stream
        .conn
        .write_tls(&mut stream.sock)
        .expect("ClientHello sent");
    let n = stream
        .conn
        .read_tls(&mut stream.sock)
        .expect("the server answers");
    assert!(
        n > 0,
        "the server closed instead of answering the ClientHello"
    );
    stream
        .conn
        .process_new_packets()
        .expect("the server's reply is valid");

    h.server.update_tls(&b.identity).expect("update to B");

    complete_tls(&mut stream).expect("the handshake finishes");
    let (mut client, response) =
        tungstenite::client(wss_url(h.addr()), stream).expect("wss upgrade");
    assert_eq!(response.status(), 101);
    assert_eq!(served_certificate(&client), a.cert);
    let peer = h.wait_connected().peer;
    echo_through_main_thread(&mut h, &mut client, &peer, b"finished with A", true);
    let later = connect_tls(h.addr(), &trusting(&b.cert));
    assert_eq!(served_certificate(&later), b.cert);
}

#[test]
fn update_tls_with_a_mismatched_or_unreadable_pair_fails_and_the_old_certificate_stays() {
    let _watchdog = watchdog();
    let (a, b) = (self_signed(), self_signed());
    let mut h = Harness::start(wss_config(&a.identity));
    let mismatched = TlsIdentity {
        private_key: a.identity.private_key.clone(),
        ..b.identity.clone()
    };
    assert_eq!(
        h.server.update_tls(&mismatched),
        Err(UpdateTlsError::Tls(TlsError::KeyMismatch))
    );
    let garbage = TlsIdentity {
        certificate_chain: MALFORMED_PEM.into(),
        ..b.identity.clone()
    };
    assert!(matches!(
        h.server.update_tls(&garbage),
        Err(UpdateTlsError::Tls(
            TlsError::BadCertificate(_) | TlsError::NoCertificate
        ))
    ));
    let no_key = TlsIdentity {
        private_key: "hello".into(),
        ..b.identity.clone()
    };
    assert!(matches!(
        h.server.update_tls(&no_key),
        Err(UpdateTlsError::Tls(TlsError::BadKey(_)))
    ));

    let client = connect_tls(h.addr(), &trusting(&a.cert));
    assert_eq!(served_certificate(&client), a.cert);
    h.wait_connected();

    h.server.stop();
    assert_eq!(
        h.server.update_tls(&b.identity),
        Err(UpdateTlsError::Stopped)
    );
}

#[test]
fn update_tls_on_a_ws_server_is_not_tls() {
    let _watchdog = watchdog();
    let server = Server::start(local_config()).expect("ws:// server");
    assert_eq!(
        server.update_tls(&self_signed().identity),
        Err(UpdateTlsError::NotTls)
    );
}

#[test]
fn wss_connection_over_max_connections_is_closed_without_a_byte_and_the_peer_keeps_echoing() {
    let _watchdog = watchdog();
    let identity = self_signed();
    let mut h = Harness::start(ServerConfig {
        max_connections: 1,
        ..wss_config(&identity.identity)
    });
    let config = trusting(&identity.cert);
    let mut client = connect_tls(h.addr(), &config);
    let peer = h.wait_connected().peer;
    // No HTTP can be spoken before TLS, and no TLS work is done for a refused connection.
    let mut refused = tcp(h.addr());
    assert_eq!(read_until_closed(&mut refused), b"");
    assert!(try_connect_tls(h.addr(), &config).is_err());
    echo_through_main_thread(&mut h, &mut client, &peer, b"still here", true);
    let stats = h.server.stats().snapshot();
    assert_eq!((stats.connections, stats.refused_total), (1, 2));
}

#[test]
fn with_a_zero_turn_budget_a_burst_of_tls_handshakes_all_complete_and_echo() {
    let _watchdog = watchdog();
    let identity = self_signed();
    // Zero: each turn handles one ready socket (one handshake step) and leaves the rest.
    let mut h = Harness::start(ServerConfig {
        turn_budget: Duration::ZERO,
        ..wss_config(&identity.identity)
    });
    const CLIENTS: usize = 16;
    let addr = h.addr();
    let config = trusting(&identity.cert);
    // All clients handshake at once, from their own threads.
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let config = config.clone();
            thread::spawn(move || {
                let mut client = connect_tls(addr, &config);
                client.send(Message::text(format!("hello {c}"))).unwrap();
                match recv(&mut client) {
                    Message::Text(t) => assert_eq!(t.as_str(), format!("hello {c}")),
                    other => panic!("client {c}: expected its echo, got {}", describe(&other)),
                }
            })
        })
        .collect();
    let peers: Vec<_> = (0..CLIENTS).map(|_| h.wait_connected().peer).collect();
    for peer in &peers {
        let (data, text) = h.wait_message(peer.id());
        assert!(text);
        h.sender().send(peer, &data, true).unwrap();
    }
    for t in threads {
        t.join().expect("client thread");
    }
}
