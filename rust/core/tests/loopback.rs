//! The server against real clients over the loopback interface: tungstenite's blocking client,
//! and raw TCP sockets where a test needs bytes no well-behaved client would send.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;
use websocket_server_core::{
    BindAddress, Event, Limits, PeerHandle, SendError, Server, ServerConfig, StartError,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

// 1. Connecting.

#[test]
fn connect_reports_peer_at_127_0_0_1_with_id_in_2_to_i32_max_and_request_target() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let (client, response) =
        try_connect(h.addr(), ws_url(h.addr(), "/game?token=abc")).expect("upgrade");
    assert_eq!(response.status(), 101);
    let connected = h.wait_connected();
    let peer = &connected.peer;
    assert_eq!(peer.addr().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(
        peer.addr(),
        client.get_ref().local_addr().unwrap(),
        "the client's own address"
    );
    assert!(
        (2..=i32::MAX).contains(&peer.id()),
        "id {} out of range",
        peer.id()
    );
    assert!(peer.is_open());
    assert_eq!(connected.protocol, "");
    assert_eq!(connected.request.target, "/game?token=abc");
    assert!(connected
        .request
        .headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("sec-websocket-version") && value == "13"));
}

#[test]
fn fifty_connections_get_fifty_distinct_ids_and_their_own_addresses() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let clients: Vec<Client> = (0..50).map(|_| connect(h.addr())).collect();
    let mut ids = HashSet::new();
    let mut addrs = HashSet::new();
    for _ in 0..50 {
        let peer = h.wait_connected().peer;
        assert!(
            (2..=i32::MAX).contains(&peer.id()),
            "id {} out of range",
            peer.id()
        );
        ids.insert(peer.id());
        addrs.insert(peer.addr());
    }
    assert_eq!(ids.len(), 50, "ids: {ids:?}");
    let client_addrs: HashSet<SocketAddr> = clients
        .iter()
        .map(|c| c.get_ref().local_addr().unwrap())
        .collect();
    assert_eq!(addrs, client_addrs);
}

// 2. Echo.

#[test]
fn text_echo_keeps_type_and_bytes_at_1_byte_64_kib_and_the_1_mib_default_limit() {
    let _watchdog = watchdog();
    assert_eq!(Limits::DEFAULT.inbound_bytes, MIB);
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    for len in [1, 64 * KIB, Limits::DEFAULT.inbound_bytes] {
        echo_through_main_thread(&mut h, &mut client, &peer, &pattern(len), true);
    }
}

#[test]
fn binary_echo_keeps_type_and_bytes_at_1_byte_64_kib_and_the_1_mib_default_limit() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    for len in [1, 64 * KIB, Limits::DEFAULT.inbound_bytes] {
        // Bytes that are not UTF-8, so a wrong text flag could not pass by accident.
        let payload: Vec<u8> = pattern(len).into_iter().map(|b| b | 0x80).collect();
        echo_through_main_thread(&mut h, &mut client, &peer, &payload, false);
    }
}

// 3. Order.

#[test]
fn a_thousand_messages_each_way_arrive_in_order_and_none_is_lost() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    for i in 0..1000 {
        client.send(Message::text(format!("c2s {i}"))).unwrap();
    }
    for i in 0..1000 {
        let (data, text) = h.wait_message(peer.id());
        assert!(text);
        assert_eq!(String::from_utf8(data.clone()).unwrap(), format!("c2s {i}"));
        h.sender().consume_inbound(&peer, data.len());
    }
    assert_eq!(peer.inbound_bytes(), 0);
    for i in 0..1000 {
        h.sender()
            .send(&peer, format!("s2c {i}").as_bytes(), false)
            .unwrap();
    }
    for i in 0..1000 {
        match recv(&mut client) {
            Message::Binary(b) => assert_eq!(&b[..], format!("s2c {i}").as_bytes()),
            other => panic!("message {i}: expected binary, got {}", describe(&other)),
        }
    }
    // Nothing extra arrived on either side.
    h.sender().send(&peer, b"last", true).unwrap();
    assert_eq!(recv(&mut client), Message::text("last"));
    client.send(Message::text("last")).unwrap();
    assert_eq!(h.wait_message(peer.id()), (b"last".to_vec(), true));
    assert_eq!(h.count(|s| matches!(s, Seen::Message { .. })), 1001);
}

// 4. Sub-protocols.

#[test]
fn subprotocol_is_the_first_one_offered_that_the_server_lists() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        protocols: vec!["a".into(), "b".into()],
        ..local_config()
    });
    let mut request = ws_url(h.addr(), "/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("x, b"));
    let (_client, response) =
        try_connect(h.addr(), request).expect("upgrade with a common protocol");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap()),
        Some("b")
    );
    assert_eq!(h.wait_connected().protocol, "b");
}

fn with_protocol(
    addr: SocketAddr,
    offered: &'static str,
) -> tungstenite::handshake::client::Request {
    let mut request = ws_url(addr, "/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(offered));
    request
}

fn assert_refused(
    result: Result<(Client, tungstenite::handshake::client::Response), tungstenite::Error>,
) {
    match result {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        Err(other) => panic!("expected an HTTP 400 refusal, got error {other}"),
        Ok(_) => panic!("expected an HTTP 400 refusal, the upgrade succeeded"),
    }
}

#[test]
fn client_offering_no_subprotocol_is_refused_when_the_server_lists_some_and_never_connects() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        protocols: vec!["a".into(), "b".into()],
        ..local_config()
    });
    assert_refused(try_connect(h.addr(), ws_url(h.addr(), "/")));
    // A later good connection is a barrier: every event of the refused one would come before it.
    let (_client, _) = try_connect(h.addr(), with_protocol(h.addr(), "a")).expect("upgrade");
    assert_eq!(h.wait_connected().protocol, "a");
    assert_eq!(
        h.count(|s| matches!(s, Seen::Connected { .. })),
        1,
        "{:?}",
        h.history
    );
}

#[test]
fn client_offering_a_subprotocol_is_refused_when_the_server_lists_none_and_never_connects() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    assert_refused(try_connect(h.addr(), with_protocol(h.addr(), "x")));
    let _client = connect(h.addr());
    assert_eq!(h.wait_connected().protocol, "");
    assert_eq!(
        h.count(|s| matches!(s, Seen::Connected { .. })),
        1,
        "{:?}",
        h.history
    );
}

// 5. Extra headers.

#[test]
fn extra_headers_appear_in_the_101_response() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        extra_headers: vec![
            ("X-Test-Server".into(), "loopback".into()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        ..local_config()
    });
    let (_client, response) = try_connect(h.addr(), ws_url(h.addr(), "/")).expect("upgrade");
    assert_eq!(response.status(), 101);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(header("x-test-server").as_deref(), Some("loopback"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    h.wait_connected();
}

// 6–8. Closing.

#[test]
fn client_close_4000_bye_gives_close_request_then_clean_disconnect_and_is_echoed() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
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
    match client.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected a finished close, got {other:?}"),
    }
}

#[test]
fn server_close_4001_kick_reaches_the_client_and_ends_clean_without_close_request() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    h.sender().close(&peer, 4001, "kick");
    assert_eq!(recv_close(&mut client), (4001, "kick".to_string()));
    // The client's next read sends its answer and sees the server end the TCP connection.
    match client.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected a finished close, got {other:?}"),
    }
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
    assert_eq!(
        h.sender().send(&peer, b"late", true),
        Err(SendError::NotConnected)
    );
}

#[test]
fn client_dropping_tcp_without_close_gives_unclean_disconnect() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let client = connect(h.addr());
    let peer = h.wait_connected().peer;
    drop(client);
    assert!(
        !h.wait_disconnected(peer.id()),
        "disconnect should be unclean"
    );
    assert_eq!(h.history_of(peer.id()).len(), 2, "{:?}", h.history);
    assert!(!peer.is_open());
}

// 9–10. Timeouts.

fn assert_closed_after_handshake_timeout(send_first: &[u8]) {
    let timeout = Duration::from_millis(300);
    let mut h = Harness::start(ServerConfig {
        handshake_timeout: timeout,
        ..local_config()
    });
    let start = Instant::now();
    let mut raw = tcp(h.addr());
    raw.write_all(send_first).unwrap();
    let received = read_until_closed(&mut raw);
    let elapsed = start.elapsed();
    assert!(
        received.is_empty(),
        "server sent {:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(
        elapsed >= timeout,
        "closed after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "closed only after {elapsed:?}"
    );
    // Barrier: a good client's Connected comes after anything the stalled one caused.
    let _client = connect(h.addr());
    h.wait_connected();
    assert_eq!(h.history.len(), 1, "{:?}", h.history);
}

#[test]
fn silent_tcp_client_is_closed_after_handshake_timeout_without_connected_event() {
    let _watchdog = watchdog();
    assert_closed_after_handshake_timeout(b"");
}

#[test]
fn client_stalling_mid_request_head_is_closed_after_handshake_timeout_without_connected_event() {
    let _watchdog = watchdog();
    assert_closed_after_handshake_timeout(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
    );
}

#[test]
fn server_close_unanswered_by_client_ends_unclean_after_close_timeout() {
    let _watchdog = watchdog();
    let timeout = Duration::from_millis(300);
    let mut h = Harness::start(ServerConfig {
        close_timeout: timeout,
        ..local_config()
    });
    let mut raw = raw_upgrade(h.addr());
    let peer = h.wait_connected().peer.clone();
    let id = peer.id();
    let start = Instant::now();
    h.sender().close(&peer, 4002, "go");
    assert!(!h.wait_disconnected(id), "an unanswered close is unclean");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout,
        "gave up after {elapsed:?}, before the close timeout"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "gave up only after {elapsed:?}"
    );
    assert_eq!(h.history_of(id).len(), 2, "{:?}", h.history);
    // The close frame was sent, then the socket closed.
    assert_eq!(read_close_code(&mut raw), 4002);
    assert!(read_until_closed(&mut raw).is_empty());
}

// 11–12. Limits and protocol violations.

#[test]
fn message_over_inbound_byte_limit_is_closed_with_1009_and_unclean_disconnect() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            inbound_bytes: 1024,
            ..Limits::DEFAULT
        },
        ..local_config()
    });
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    // Exactly the limit is accepted.
    client.send(Message::binary(vec![1u8; 1024])).unwrap();
    assert_eq!(h.wait_message(peer.id()).0.len(), 1024);
    h.sender().consume_inbound(&peer, 1024);
    // One message over it is not.
    client.send(Message::binary(vec![2u8; 2000])).unwrap();
    assert_eq!(recv_close(&mut client).0, 1009);
    assert!(
        !h.wait_disconnected(peer.id()),
        "a limit violation is unclean"
    );
    assert_eq!(
        h.count(|s| matches!(s, Seen::Message { .. })),
        1,
        "{:?}",
        h.history
    );
}

/// A raw client breaks the protocol with `frame`; it must get a close frame with `code`, the
/// server an unclean disconnect, and another client must still be echoed afterwards.
fn assert_violation_closes_with(frame: &[u8], code: u16) {
    let mut h = Harness::start(local_config());
    let mut good = connect(h.addr());
    let good_peer = h.wait_connected().peer;
    let mut raw = raw_upgrade(h.addr());
    let bad = h.wait_connected().peer;
    raw.write_all(frame).unwrap();
    assert_eq!(read_close_code(&mut raw), code);
    assert!(read_until_closed(&mut raw).is_empty());
    assert!(
        !h.wait_disconnected(bad.id()),
        "a protocol violation is unclean"
    );
    assert_eq!(
        h.history_of(bad.id()).len(),
        2,
        "no message delivered: {:?}",
        h.history
    );
    echo_through_main_thread(&mut h, &mut good, &good_peer, b"still here", true);
}

#[test]
fn invalid_utf8_in_text_frame_is_closed_with_1007_and_other_clients_keep_working() {
    let _watchdog = watchdog();
    assert_violation_closes_with(&masked_frame(0x1, &[b'o', b'k', 0xff, 0xfe]), 1007);
}

#[test]
fn unmasked_client_frame_is_closed_with_1002_and_other_clients_keep_working() {
    let _watchdog = watchdog();
    assert_violation_closes_with(&[0x82, 0x03, 1, 2, 3], 1002);
}

// 13–14. Queue limits.

#[test]
fn inbound_message_limit_pauses_delivery_until_consumed_and_loses_nothing() {
    let _watchdog = watchdog();
    const LIMIT: usize = 4;
    const COUNT: u32 = 100;
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            inbound_messages: LIMIT,
            ..Limits::DEFAULT
        },
        ..local_config()
    });
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    let mut marker = connect(h.addr());
    let marker_peer = h.wait_connected().peer;
    for i in 0..COUNT {
        client
            .send(Message::binary(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    let mut received = Vec::new();
    for _ in 0..LIMIT {
        received.push(h.wait_message(peer.id()).0);
    }
    // Barrier: the marker's message was sent after all 100, so had the server kept reading the
    // first socket, more of its messages would be published by the time the marker's is.
    marker.send(Message::text("marker")).unwrap();
    h.wait_message(marker_peer.id());
    let delivered = h.count(|s| matches!(s, Seen::Message { peer: p, .. } if *p == peer.id()));
    assert_eq!(
        delivered, LIMIT,
        "messages delivered before any was consumed"
    );
    assert_eq!(peer.inbound_bytes(), LIMIT * 4);

    // Consume one at a time; everything arrives, in order, never more than LIMIT outstanding.
    let mut consumed = 0;
    let mut next = 0;
    while next < COUNT {
        if consumed == received.len() {
            received.push(h.wait_message(peer.id()).0);
        }
        let data = &received[consumed];
        assert_eq!(data[..], next.to_be_bytes(), "message {next} out of order");
        h.sender().consume_inbound(&peer, data.len());
        consumed += 1;
        next += 1;
        h.poll();
        let delivered = h.count(|s| matches!(s, Seen::Message { peer: p, .. } if *p == peer.id()));
        assert!(
            delivered - consumed <= LIMIT,
            "{} messages outstanding with a limit of {LIMIT}",
            delivered - consumed
        );
    }
    assert_eq!(peer.inbound_bytes(), 0);
    let delivered = h.count(|s| matches!(s, Seen::Message { peer: p, .. } if *p == peer.id()));
    assert_eq!(delivered, COUNT as usize);
}

#[test]
fn outbound_limit_refuses_sends_while_client_does_not_read_and_loses_no_accepted_message() {
    let _watchdog = watchdog();
    const LEN: usize = 256 * KIB;
    let limits = Limits {
        outbound_messages: 8,
        outbound_bytes: MIB,
        ..Limits::DEFAULT
    };
    let mut h = Harness::start(ServerConfig {
        limits,
        ..local_config()
    });
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    let message = |i: u32| {
        let mut m = vec![0u8; LEN];
        m[..4].copy_from_slice(&i.to_be_bytes());
        m
    };
    let fits = |p: &PeerHandle| {
        p.outbound_messages() < limits.outbound_messages && p.outbound_bytes() + LEN <= MIB
    };
    // Send until the queue stays full: the socket buffers take a few MiB first.
    let mut accepted = 0u32;
    let mut refusals = 0;
    loop {
        match h.sender().send(&peer, &message(accepted), false) {
            Ok(()) => accepted += 1,
            Err(SendError::OutboundFull {
                queued_bytes,
                queued_messages,
            }) => {
                refusals += 1;
                assert!(queued_messages > 0 && queued_bytes > 0);
                assert!(
                    queued_messages >= limits.outbound_messages || queued_bytes + LEN > MIB,
                    "refused with room left: {queued_bytes} bytes in {queued_messages} messages"
                );
                // Full for good once the reactor cannot write any more of it.
                if !wait_until(Duration::from_millis(300), || fits(&peer)) {
                    break;
                }
            }
            Err(other) => panic!("unexpected send error {other:?}"),
        }
        assert!(
            (accepted as usize) * LEN < 256 * MIB,
            "the queue never filled up although the client does not read"
        );
    }
    assert!(refusals > 0);
    // The client reads now: every accepted message arrives, in order.
    for i in 0..accepted {
        match recv(&mut client) {
            Message::Binary(b) => {
                assert_eq!(b.len(), LEN);
                assert_eq!(b[..4], i.to_be_bytes(), "message {i} out of order");
            }
            other => panic!("message {i}: expected binary, got {}", describe(&other)),
        }
    }
    // The queue drained, so sending works again.
    assert!(wait_until(EVENT_TIMEOUT, || peer.outbound_messages() == 0
        && peer.outbound_bytes() == 0));
    h.sender().send(&peer, b"after", true).unwrap();
    assert_eq!(recv(&mut client), Message::text("after"));
}

// 15–16. Stopping and binding.

#[test]
fn stop_closes_every_client_with_1001_discards_events_and_frees_the_port() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let addr = h.addr();
    let mut clients: Vec<Client> = (0..3).map(|_| connect(addr)).collect();
    let peers: Vec<PeerHandle> = (0..3).map(|_| h.wait_connected().peer).collect();
    // Leave events behind that the main thread never drains.
    clients[0].send(Message::text("unread")).unwrap();
    h.server.stop();
    assert!(!h.server.is_running());
    let mut after = Vec::new();
    h.server.drain_events(&mut after);
    assert!(after.is_empty(), "events after stop: {after:?}");
    for peer in &peers {
        assert!(!peer.is_open());
        assert_eq!(h.sender().send(peer, b"x", true), Err(SendError::Stopped));
    }
    for client in &mut clients[1..] {
        assert_eq!(recv_close(client).0, 1001);
        expect_end(client);
    }
    // The first client's unread message may turn the close into a reset; it must end either way.
    expect_end(&mut clients[0]);
    h.server.drain_events(&mut after);
    assert!(after.is_empty(), "events after stop: {after:?}");

    let mut again = Harness::start(ServerConfig {
        port: addr.port(),
        ..local_config()
    });
    assert_eq!(again.addr(), addr);
    let _client = connect(addr);
    again.wait_connected();
}

#[test]
fn dropping_the_server_closes_clients_with_1001_and_frees_the_port() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let addr = h.addr();
    let mut client = connect(addr);
    h.wait_connected();
    drop(h);
    assert_eq!(recv_close(&mut client).0, 1001);
    expect_end(&mut client);
    let _again = Harness::start(ServerConfig {
        port: addr.port(),
        ..local_config()
    });
}

#[test]
fn starting_a_second_server_on_a_busy_port_is_address_in_use() {
    let _watchdog = watchdog();
    let first = Server::start(local_config()).unwrap();
    let second = Server::start(ServerConfig {
        port: first.local_addr().port(),
        ..local_config()
    });
    assert!(
        matches!(second, Err(StartError::AddressInUse(_))),
        "{second:?}"
    );
    assert!(first.is_running());
}

// 17. IPv6.

fn ipv6_loopback_available() -> bool {
    let available = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok();
    if !available {
        println!("note: this machine has no ::1; skipping the IPv6 part");
    }
    available
}

#[test]
fn ipv6_loopback_bind_accepts_a_client_on_ipv6_loopback() {
    let _watchdog = watchdog();
    if !ipv6_loopback_available() {
        return;
    }
    let mut h = Harness::start(ServerConfig {
        bind: BindAddress::Ip(Ipv6Addr::LOCALHOST.into()),
        ..local_config()
    });
    assert_eq!(h.addr().ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    assert_eq!(peer.addr().ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    echo_through_main_thread(&mut h, &mut client, &peer, b"over v6", true);
}

#[test]
fn any_bind_accepts_ipv4_and_ipv6_clients_and_reports_ipv4_without_mapping() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        bind: BindAddress::Any,
        ..local_config()
    });
    let port = h.addr().port();
    let v4 = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    let mut client4 = connect(v4);
    let peer4 = h.wait_connected().peer;
    assert_eq!(
        peer4.addr().ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "reported as {}",
        peer4.addr()
    );
    assert_eq!(peer4.addr(), client4.get_ref().local_addr().unwrap());
    echo_through_main_thread(&mut h, &mut client4, &peer4, b"over v4", false);
    if !ipv6_loopback_available() {
        return;
    }
    let v6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port);
    let mut client6 = connect(v6);
    let peer6 = h.wait_connected().peer;
    assert_eq!(peer6.addr().ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    echo_through_main_thread(&mut h, &mut client6, &peer6, b"over v6", false);
}

// 18–20. Broadcast, ping, drop.

#[test]
fn broadcast_to_ten_peers_delivers_the_message_exactly_once_to_each() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut clients: Vec<Client> = (0..10).map(|_| connect(h.addr())).collect();
    let peers: Vec<PeerHandle> = (0..10).map(|_| h.wait_connected().peer).collect();
    let refused = h
        .sender()
        .broadcast(peers.iter().map(|p| &**p), b"hello all", true)
        .unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    let refused = h
        .sender()
        .broadcast(peers.iter().map(|p| &**p), b"end", false)
        .unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    for client in &mut clients {
        assert_eq!(recv(client), Message::text("hello all"));
        assert_eq!(
            recv(client),
            Message::binary(b"end".to_vec()),
            "the next message, not a duplicate"
        );
    }
}

#[test]
fn client_ping_is_answered_with_pong_by_the_server_itself() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    assert_eq!(
        recv(&mut client),
        Message::Pong(b"are you there".to_vec().into())
    );
    // No event for the ping; the connection still works.
    echo_through_main_thread(&mut h, &mut client, &peer, b"after ping", true);
    assert_eq!(h.history_of(peer.id()).len(), 2, "{:?}", h.history);
}

#[test]
fn drop_peer_ends_the_connection_without_a_disconnected_event() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut dropped = connect(h.addr());
    let peer = h.wait_connected().peer;
    let mut other = connect(h.addr());
    let other_peer = h.wait_connected().peer;
    h.sender().drop_peer(&peer);
    assert!(!peer.is_open());
    assert_eq!(
        h.sender().send(&peer, b"x", true),
        Err(SendError::NotConnected)
    );
    expect_end(&mut dropped);
    // Barrier: sent after the drop took effect, so any event it caused is published before this.
    echo_through_main_thread(&mut h, &mut other, &other_peer, b"barrier", true);
    assert_eq!(
        h.history_of(peer.id()).len(),
        1,
        "only Connected: {:?}",
        h.history
    );
}

// Back-pressure meets the end of a connection.

#[test]
fn client_leaving_while_paused_by_inbound_limits_gets_all_its_messages_delivered_first() {
    let _watchdog = watchdog();
    for by_close_frame in [true, false] {
        let mut h = Harness::start(ServerConfig {
            limits: Limits {
                inbound_messages: 2,
                ..Limits::DEFAULT
            },
            ..local_config()
        });
        let mut client = connect(h.addr());
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

#[test]
fn server_close_of_a_peer_paused_by_inbound_limits_ends_clean_without_waiting_for_the_timeout() {
    let _watchdog = watchdog();
    const CHUNK: usize = 64 * KIB;
    const COUNT: usize = 128;
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            inbound_messages: 2,
            ..Limits::DEFAULT
        },
        close_timeout: Duration::from_secs(3),
        ..local_config()
    });
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    std::thread::scope(|scope| {
        // The client floods (its writes block once the paused server stops reading), then reads.
        let flood = scope.spawn(move || {
            for _ in 0..COUNT {
                client
                    .send(Message::binary(vec![7u8; CHUNK]))
                    .expect("client send");
            }
            let close = recv_close(&mut client);
            match client.read() {
                Err(tungstenite::Error::ConnectionClosed) => {}
                other => panic!("expected a finished close, got {other:?}"),
            }
            close
        });
        h.wait_message(peer.id());
        h.wait_message(peer.id());
        let start = Instant::now();
        h.sender().close(&peer, 4001, "kick");
        assert!(
            h.wait_disconnected(peer.id()),
            "the client answered the close: clean"
        );
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_secs(2),
            "ended only after {elapsed:?}"
        );
        assert_eq!(
            flood.join().expect("client thread"),
            (4001, "kick".to_string())
        );
    });
    // Over the limits and after the close, the rest was not queued for the main thread.
    assert_eq!(h.history_of(peer.id()).len(), 4, "{:?}", h.history);
}

// Edges of the upgrade and of the limits.

#[test]
fn frames_sent_in_the_same_packet_as_the_upgrade_request_are_delivered_after_connected() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut raw = tcp(h.addr());
    let mut bytes = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        h.addr()
    )
    .into_bytes();
    bytes.extend(masked_frame(0x1, b"first"));
    bytes.extend(masked_frame(0x2, b"second"));
    raw.write_all(&bytes).unwrap();
    let id = h.wait_connected().peer.id();
    assert_eq!(h.wait_message(id), (b"first".to_vec(), true));
    assert_eq!(h.wait_message(id), (b"second".to_vec(), false));
}

#[test]
fn plain_http_request_gets_426_and_no_connected_event() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut raw = tcp(h.addr());
    raw.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let reply = String::from_utf8(read_until_closed(&mut raw)).unwrap();
    assert!(reply.starts_with("HTTP/1.1 426 "), "{reply:?}");
    let _client = connect(h.addr());
    h.wait_connected();
    assert_eq!(h.history.len(), 1, "{:?}", h.history);
}

#[test]
fn close_frame_without_status_is_reported_as_1005_and_ends_clean() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut raw = raw_upgrade(h.addr());
    let id = h.wait_connected().peer.id();
    raw.write_all(&masked_frame(0x8, &[])).unwrap();
    assert_eq!(h.wait_close_request(id), (1005, String::new()));
    assert!(h.wait_disconnected(id));
    assert_eq!(
        read_server_frame(&mut raw),
        (0x8, Vec::new()),
        "the answer has no status either"
    );
    assert!(read_until_closed(&mut raw).is_empty());
}

#[test]
fn message_larger_than_the_outbound_byte_budget_is_accepted_when_the_queue_is_empty() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            outbound_bytes: 1024,
            ..Limits::DEFAULT
        },
        ..local_config()
    });
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;
    let big = pattern(4 * KIB);
    h.sender()
        .send(&peer, &big, false)
        .expect("an empty queue takes any message");
    match recv(&mut client) {
        Message::Binary(b) => assert!(b[..] == big[..]),
        other => panic!("expected the big message, got {}", describe(&other)),
    }
}

#[test]
fn server_close_with_an_overlong_reason_sends_it_cut_to_123_bytes_and_ends_clean() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer.clone();
    let reason = "é".repeat(100); // 200 bytes: over the 123 a close frame can hold
    h.sender().close(&peer, 4003, &reason);
    let (code, got) = recv_close(&mut client);
    assert_eq!(code, 4003);
    assert_eq!(
        got,
        "é".repeat(61),
        "cut on a character boundary to 122 bytes"
    );
    let _ = client.flush();
    assert!(
        h.wait_disconnected(peer.id()),
        "the closing handshake completed"
    );
}

#[test]
fn oversized_message_close_frame_reaches_a_client_that_is_still_sending() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        limits: Limits {
            inbound_bytes: 1024,
            ..Limits::DEFAULT
        },
        ..local_config()
    });
    let mut raw = raw_upgrade(h.addr());
    let id = h.wait_connected().peer.id();
    // Announce a 16 MiB frame and keep sending its payload after the server has refused it (more
    // than the kernel buffers hold): the server must keep reading, not reset the connection, so
    // the client's writes succeed and it can then read the 1009 close frame.
    let payload = vec![7u8; 16 << 20];
    let frame = masked_frame(0x2, &payload);
    for (i, chunk) in frame.chunks(64 * 1024).enumerate() {
        if let Err(e) = raw.write_all(chunk) {
            panic!("write {i} failed after the server refused the message: {e} (the server reset the connection)");
        }
    }
    assert_eq!(read_close_code(&mut raw), 1009);
    assert!(
        !h.wait_disconnected(id),
        "a refused message ends the connection unclean"
    );
}

/// Calls `drain_events` back to back (a flat-out main loop) until `done` says so or 10 s pass;
/// every event is handed to `on_event`.
fn poll_flat_out(h: &mut Harness, mut on_event: impl FnMut(&Harness, Event) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut batch = Vec::new();
    loop {
        h.server.drain_events(&mut batch);
        for event in batch.drain(..) {
            if on_event(h, event) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "flat-out polling timed out");
    }
}

#[test]
fn flat_out_main_loop_does_the_network_work_and_hands_it_back_when_it_stops_polling() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        handshake_timeout: Duration::from_millis(300),
        ..local_config()
    });
    let addr = h.addr();
    const COUNT: usize = 500;
    // The client sends every message first, then reads the echoes: in order, none lost.
    let client = std::thread::spawn(move || {
        let mut client = connect(addr);
        for i in 0..COUNT {
            client
                .send(Message::binary(i.to_le_bytes().to_vec()))
                .unwrap();
        }
        for i in 0..=COUNT {
            match recv(&mut client) {
                Message::Binary(data) => assert_eq!(&data[..], &i.to_le_bytes()[..], "echo {i}"),
                other => panic!("echo {i}: {other:?}"),
            }
        }
        client
    });
    let mut peer = None;
    let mut echoed = 0;
    poll_flat_out(&mut h, |h, event| {
        match event {
            Event::Connected { peer: p, .. } => peer = Some(p),
            Event::Message { data, .. } => {
                let p = peer.as_ref().expect("connected first");
                h.sender().send(p, &data, false).unwrap();
                h.sender().consume_inbound(p, data.len());
                echoed += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
        echoed == COUNT
    });
    // Queued while the loop was flat out (so nothing woke the network thread), then the loop
    // stops: the network thread must take over and send it.
    let peer = peer.unwrap();
    h.sender().send(&peer, &COUNT.to_le_bytes(), false).unwrap();
    let mut client = client.join().expect("client got every echo in order");

    // Still not polling: a connection that never upgrades is closed by the network thread at
    // its handshake deadline, and a clean close completes.
    let start = Instant::now();
    let mut raw = tcp(addr);
    assert!(read_until_closed(&mut raw).is_empty());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    client.close(None).unwrap();
    expect_end(&mut client);
    assert!(h.wait_disconnected(peer.id()));
}

// 22. The id table stays bounded: a departed peer's id is reserved for `id_quarantine`, then
// forgotten, however many clients came and went.

#[test]
fn departed_peer_ids_are_forgotten_after_the_quarantine() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        id_quarantine: Duration::from_millis(200),
        ..local_config()
    });
    let mut stay = connect(h.addr());
    let staying = h.wait_connected().peer;
    const DEPARTED: usize = 30;
    for _ in 0..DEPARTED {
        let mut client = connect(h.addr());
        let peer = h.wait_connected().peer;
        client.close(None).unwrap();
        expect_end(&mut client);
        assert!(h.wait_disconnected(peer.id()));
    }
    // Right after they left, their ids are still reserved (no new client may get one yet).
    let reserved = h.server.reserved_peer_ids();
    assert!(
        reserved > 1,
        "departed ids were forgotten at once ({reserved} reserved)"
    );
    assert!(reserved <= DEPARTED + 1, "{reserved} reserved");
    // After the quarantine, only the client that stayed keeps its id; the table is back to the
    // live connections (a turn of the reactor forgets them: a message makes one happen).
    std::thread::sleep(Duration::from_millis(400));
    stay.send(Message::text("wake up")).unwrap();
    assert_eq!(h.wait_message(staying.id()), (b"wake up".to_vec(), true));
    h.sender().send(&staying, b"still here", true).unwrap();
    assert_eq!(recv(&mut stay), Message::text("still here"));
    assert_eq!(h.server.reserved_peer_ids(), 1);
}

// Turn budget: sockets a turn had no time for are handled by the next turns.

#[test]
fn with_a_zero_turn_budget_every_client_is_still_served_and_in_order() {
    let _watchdog = watchdog();
    // Zero: each turn handles one ready socket and leaves the rest for the next turns.
    let mut h = Harness::start(ServerConfig {
        turn_budget: Duration::ZERO,
        ..local_config()
    });
    const CLIENTS: usize = 24;
    const MESSAGES: usize = 20;
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| connect(h.addr())).collect();
    let peers: Vec<_> = (0..CLIENTS).map(|_| h.wait_connected().peer).collect();
    // Every client writes all its messages before the server has read any, so many sockets are
    // ready at once and most turns leave some over.
    for (c, client) in clients.iter_mut().enumerate() {
        for m in 0..MESSAGES {
            client
                .write(Message::binary(format!("{c}:{m}").into_bytes()))
                .unwrap();
        }
        client.flush().unwrap();
    }
    let mut seen_clients = HashSet::new();
    for peer in &peers {
        let mut sender_of_peer = None;
        for m in 0..MESSAGES {
            let (data, text) = h.wait_message(peer.id());
            assert!(!text);
            let text = String::from_utf8(data).unwrap();
            let (c, got_m) = text.split_once(':').unwrap();
            let c: usize = c.parse().unwrap();
            assert_eq!(*sender_of_peer.get_or_insert(c), c, "one client per peer");
            assert_eq!(got_m.parse::<usize>().unwrap(), m, "client {c}: order kept");
        }
        let c = sender_of_peer.unwrap();
        assert!(seen_clients.insert(c), "client {c} seen on two peers");
        h.sender()
            .send(peer, format!("done {c}").as_bytes(), true)
            .unwrap();
    }
    assert_eq!(seen_clients.len(), CLIENTS);
    for (c, client) in clients.iter_mut().enumerate() {
        assert_eq!(recv(client), Message::text(format!("done {c}")));
    }
}
