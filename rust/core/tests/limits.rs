//! Connection limits and the server's counters, against real clients over loopback.

mod common;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;
use websocket_server_core::{SendError, ServerConfig, StatsSnapshot};

const REPLY_503: &str = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n";

fn limited(max_connections: usize, max_connections_per_ip: usize) -> ServerConfig {
    ServerConfig {
        max_connections,
        max_connections_per_ip,
        ..local_config()
    }
}

/// A raw connection that sends nothing: the server must answer without reading a request.
fn expect_bare_503(addr: SocketAddr) {
    let mut stream = tcp(addr);
    let reply = String::from_utf8(read_until_closed(&mut stream)).unwrap();
    assert!(
        reply.starts_with(REPLY_503),
        "expected a bare 503, got {reply:?}"
    );
}

/// The client's view of a refused upgrade: an HTTP 503.
fn expect_refused_upgrade(addr: SocketAddr) {
    match try_connect(addr, ws_url(addr, "/")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        Err(e) => panic!("expected an HTTP 503, got {e}"),
        Ok(_) => panic!("expected an HTTP 503, the upgrade succeeded"),
    }
}

fn stats(h: &Harness) -> StatsSnapshot {
    h.server.stats().snapshot()
}

fn wait_stats(h: &mut Harness, what: &str, cond: impl Fn(&StatsSnapshot) -> bool) {
    let ok = wait_until(EVENT_TIMEOUT, || {
        h.poll();
        cond(&stats(h))
    });
    assert!(ok, "expected {what}; stats: {:?}", stats(h));
}

/// A TCP connection from `source` (any 127/8 address is loopback on Linux).
fn tcp_from(source: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::new(source.into(), 0).into())
        .unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

#[test]
fn connection_over_max_connections_gets_a_bare_503_and_the_others_keep_echoing() {
    let _watchdog = watchdog();
    let mut h = Harness::start(limited(2, 0));
    let mut clients = Vec::new();
    let mut peers = Vec::new();
    for _ in 0..2 {
        clients.push(connect(h.addr()));
        peers.push(h.wait_connected().peer);
    }
    expect_bare_503(h.addr());
    expect_refused_upgrade(h.addr());
    for (client, peer) in clients.iter_mut().zip(&peers) {
        echo_through_main_thread(&mut h, client, peer, b"still here", true);
    }
    let s = stats(&h);
    assert_eq!(
        (s.connections, s.connections_total, s.refused_total),
        (2, 2, 2)
    );
    assert_eq!(h.count(|e| matches!(e, Seen::Connected { .. })), 2);
}

#[test]
fn handshakes_in_progress_count_and_their_slot_is_freed_when_they_leave() {
    let _watchdog = watchdog();
    let mut h = Harness::start(limited(1, 0));
    let silent = tcp(h.addr());
    wait_stats(&mut h, "the silent connection to hold the slot", |s| {
        s.connections == 1
    });
    expect_refused_upgrade(h.addr());
    drop(silent);
    wait_stats(&mut h, "the slot to be freed", |s| s.connections == 0);
    let _client = connect(h.addr());
    h.wait_connected();
    let s = stats(&h);
    assert_eq!(
        (s.connections, s.connections_total, s.refused_total),
        (1, 2, 1)
    );
}

#[test]
fn a_slot_freed_by_a_leaving_peer_is_usable_again() {
    let _watchdog = watchdog();
    let mut h = Harness::start(limited(1, 0));
    let mut first = connect(h.addr());
    let id = h.wait_connected().peer.id();
    expect_refused_upgrade(h.addr());
    first.close(None).unwrap();
    assert!(h.wait_disconnected(id));
    // The slot is free once the Disconnected event is out, without waiting for the socket.
    assert_eq!(stats(&h).connections, 0);
    let mut second = connect(h.addr());
    let peer = h.wait_connected().peer;
    echo_through_main_thread(&mut h, &mut second, &peer, b"in", false);
    assert_eq!(stats(&h).refused_total, 1);
}

#[test]
fn per_ip_limit_refuses_one_address_and_not_another() {
    let _watchdog = watchdog();
    let mut h = Harness::start(limited(0, 1));
    let _first = connect(h.addr()); // from 127.0.0.1
    h.wait_connected();
    let mut again = tcp_from(Ipv4Addr::LOCALHOST, h.addr());
    let mut reply = Vec::new();
    let _ = again.read_to_end(&mut reply);
    assert!(
        String::from_utf8_lossy(&reply).starts_with(REPLY_503),
        "{reply:?}"
    );
    let other = Ipv4Addr::new(127, 0, 0, 2);
    let stream = tcp_from(other, h.addr());
    let (_client, response) = tungstenite::client(ws_url(h.addr(), "/"), stream).expect("upgrade");
    assert_eq!(response.status(), 101);
    let peer = h.wait_connected().peer;
    assert_eq!(peer.addr().ip(), IpAddr::V4(other));
    let s = stats(&h);
    assert_eq!((s.connections, s.refused_total), (2, 1));
}

#[test]
fn limits_change_while_listening_and_apply_to_new_connections() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut clients: Vec<_> = (0..2).map(|_| connect(h.addr())).collect();
    let peers: Vec<_> = (0..2).map(|_| h.wait_connected().peer).collect();
    h.server.stats().set_max_connections(1);
    assert_eq!(h.server.stats().max_connections(), 1);
    expect_refused_upgrade(h.addr());
    for (client, peer) in clients.iter_mut().zip(&peers) {
        echo_through_main_thread(&mut h, client, peer, b"kept", true);
    }
    h.server.stats().set_max_connections(0);
    let _third = connect(h.addr());
    h.wait_connected();
    assert_eq!(stats(&h).connections, 3);
}

#[test]
fn every_counter_has_its_exact_value() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        handshake_timeout: Duration::from_millis(300),
        ..limited(3, 0)
    });
    let mut a = connect(h.addr());
    let pa = h.wait_connected().peer;
    let mut b = connect(h.addr());
    let pb = h.wait_connected().peer;
    // In: 3 + 5 bytes from a; out: 3 + 5 + 7 bytes (two echoes and one extra to b).
    echo_through_main_thread(&mut h, &mut a, &pa, b"abc", true);
    echo_through_main_thread(&mut h, &mut a, &pa, b"12345", false);
    h.sender().send(&pb, b"1234567", false).unwrap();
    assert!(matches!(recv(&mut b), Message::Binary(_)));
    let s = stats(&h);
    assert_eq!((s.messages_in, s.bytes_in), (2, 8));
    assert_eq!((s.messages_out, s.bytes_out), (3, 15));
    assert_eq!(s.queued_out_bytes, 0);
    // A silent connection times out its handshake; the fourth is refused meanwhile.
    let _silent = tcp(h.addr());
    wait_stats(&mut h, "3 connections", |s| s.connections == 3);
    expect_bare_503(h.addr());
    wait_stats(&mut h, "a handshake timeout", |s| {
        s.handshake_timeouts_total == 1
    });
    // Closes: a with 4000 (its code), b kicked with 4001 (the server's), c dropped (1006).
    a.close(Some(CloseFrame {
        code: 4000.into(),
        reason: "".into(),
    }))
    .unwrap();
    h.wait_disconnected(pa.id());
    h.sender().close(&pb, 4001, "kick");
    let _ = b.read();
    h.wait_disconnected(pb.id());
    let c = connect(h.addr());
    let pc = h.wait_connected().peer;
    drop(c);
    h.wait_disconnected(pc.id());
    let s = stats(&h);
    assert_eq!(
        s,
        StatsSnapshot {
            connections: 0,
            connections_total: 4,
            refused_total: 1,
            handshake_timeouts_total: 1,
            messages_in: 2,
            messages_out: 3,
            bytes_in: 8,
            bytes_out: 15,
            queued_out_bytes: 0,
            closed_by_code: vec![(1006, 1), (4000, 1), (4001, 1)],
        }
    );
}

#[test]
fn queued_out_bytes_counts_what_a_client_does_not_read_and_returns_to_0() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let client = connect(h.addr());
    let peer = h.wait_connected().peer;
    // Far more than the socket buffers hold, so some stays queued while the client sleeps.
    let chunk = vec![7u8; 64 * 1024];
    let mut accepted = 0;
    // Until the queue is full: by then the socket buffers are too, and the rest waits.
    loop {
        match h.sender().send(&peer, &chunk, false) {
            Ok(()) => accepted += chunk.len(),
            Err(SendError::OutboundFull { .. }) => break,
            Err(e) => panic!("send: {e:?}"),
        }
        h.poll();
    }
    wait_stats(&mut h, "queued bytes while the client does not read", |s| {
        s.queued_out_bytes > 0 && s.queued_out_bytes + s.bytes_out as usize == accepted
    });
    drop(client);
    h.wait_disconnected(peer.id());
    wait_stats(&mut h, "nothing queued once the peer is gone", |s| {
        s.queued_out_bytes == 0
    });
}

#[test]
fn the_id_announcement_counts_as_one_4_byte_message_out() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        announce_peer_id: true,
        ..local_config()
    });
    let mut client = connect(h.addr());
    h.wait_connected();
    assert!(matches!(recv(&mut client), Message::Binary(b) if b.len() == 4));
    let s = stats(&h);
    assert_eq!((s.messages_out, s.bytes_out), (1, 4));
}

#[test]
fn reading_the_stats_is_cheap() {
    let mut h = Harness::start(local_config());
    let _clients: Vec<_> = (0..20).map(|_| connect(h.addr())).collect();
    for _ in 0..20 {
        h.wait_connected();
    }
    let start = Instant::now();
    for _ in 0..10_000 {
        std::hint::black_box(stats(&h));
    }
    // Printed, not asserted: machine speed varies.
    println!("10,000 snapshots with 20 peers: {:?}", start.elapsed());
}
