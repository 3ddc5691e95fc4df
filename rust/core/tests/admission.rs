//! Admission control and trusted proxies against a real client over the loopback interface.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::thread;
use std::time::Duration;

use common::*;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use websocket_server_core::{Cidr, Event, PeerId, ServerConfig, UpgradeRequest};

fn admission_config() -> ServerConfig {
    ServerConfig {
        admission_control: true,
        ..local_config()
    }
}

fn wait_admission(h: &mut Harness) -> (PeerId, UpgradeRequest) {
    h.wait_for("an Admission event", |e| match e {
        Event::Admission { peer, request, .. } => Some((*peer, request.clone())),
        _ => None,
    })
}

type Outcome = Result<u16, (u16, String)>;

/// Connects on a thread (the client blocks until the server answers); joins to the status.
fn connect_in_background(url: String, addr: std::net::SocketAddr) -> thread::JoinHandle<Outcome> {
    thread::spawn(move || match try_connect(addr, url) {
        Ok((_client, response)) => Ok(response.status().as_u16()),
        Err(tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => Err((0, e.to_string())),
    })
}

#[test]
fn admitted_request_becomes_the_peer_with_the_same_id() {
    let _watchdog = watchdog();
    let mut h = Harness::start(admission_config());
    let client = connect_in_background(ws_url(h.addr(), "/play?token=ok"), h.addr());
    let (id, request) = wait_admission(&mut h);
    assert_eq!(request.target, "/play?token=ok");
    assert_eq!(h.count(|s| matches!(s, Seen::Connected { .. })), 0);
    h.sender().admit(id);
    assert_eq!(client.join().unwrap(), Ok(101));
    assert_eq!(h.wait_connected().peer.id(), id);
}

#[test]
fn rejected_request_gets_the_status_and_reason_and_never_connects() {
    let _watchdog = watchdog();
    let mut h = Harness::start(admission_config());
    let client = connect_in_background(ws_url(h.addr(), "/?token=bad"), h.addr());
    let (id, _) = wait_admission(&mut h);
    assert!(h.sender().reject(id, 200, "").is_err());
    assert!(h.sender().reject(id, 403, "a\r\nX: y").is_err());
    h.sender().reject(id, 401, "bad token").unwrap();
    assert_eq!(
        client.join().unwrap(),
        Err((401, "bad token\n".to_string()))
    );
    // A later admitted connection is a barrier: any event of the rejected one comes before it.
    let good = connect_in_background(ws_url(h.addr(), "/"), h.addr());
    let (good_id, _) = wait_admission(&mut h);
    h.sender().admit(good_id);
    assert_eq!(good.join().unwrap(), Ok(101));
    h.wait_connected();
    assert!(
        h.history_of(id)
            .iter()
            .all(|s| matches!(s, Seen::Admission { .. })),
        "{:?}",
        h.history
    );
}

#[test]
fn unanswered_request_is_refused_with_503_after_the_handshake_timeout() {
    let _watchdog = watchdog();
    let mut h = Harness::start(ServerConfig {
        handshake_timeout: Duration::from_millis(300),
        ..admission_config()
    });
    let client = connect_in_background(ws_url(h.addr(), "/"), h.addr());
    let (id, _) = wait_admission(&mut h);
    let outcome = client.join().unwrap();
    assert!(matches!(outcome, Err((503, _))), "{outcome:?}");
    assert!(!h.wait_disconnected(id), "reported unclean");
    // Too late now: nothing happens, and nothing connects.
    h.sender().admit(id);
    admit_one_more(&mut h);
    assert_eq!(
        h.count(|s| matches!(s, Seen::Connected { peer, .. } if *peer == id)),
        0
    );
}

/// A barrier: every event of earlier connections comes before this one's `Connected`.
fn admit_one_more(h: &mut Harness) {
    let addr = h.addr();
    let client = connect_in_background(ws_url(addr, "/"), addr);
    let (id, _) = wait_admission(h);
    h.sender().admit(id);
    assert_eq!(client.join().unwrap(), Ok(101));
    h.wait_connected();
}

fn connect_with_header(h: &mut Harness, name: &'static str, value: &str) -> IpAddr {
    let mut request = ws_url(h.addr(), "/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(name, HeaderValue::from_str(value).unwrap());
    let (_client, _) = try_connect(h.addr(), request).expect("upgrade");
    h.wait_connected().peer.addr().ip()
}

#[test]
fn forwarded_address_is_believed_only_from_a_trusted_proxy() {
    let _watchdog = watchdog();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut trusted = Harness::start(ServerConfig {
        trusted_proxies: vec![Cidr::parse("127.0.0.1").unwrap()],
        ..local_config()
    });
    let forwarded = connect_with_header(&mut trusted, "x-forwarded-for", "1.2.3.4, 127.0.0.1");
    assert_eq!(forwarded, "1.2.3.4".parse::<IpAddr>().unwrap());
    let forwarded = connect_with_header(&mut trusted, "forwarded", "for=\"[2001:db8::7]:99\"");
    assert_eq!(forwarded, "2001:db8::7".parse::<IpAddr>().unwrap());
    assert_eq!(
        connect_with_header(&mut trusted, "x-forwarded-for", "junk"),
        localhost
    );

    let mut untrusted = Harness::start(ServerConfig {
        trusted_proxies: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        ..local_config()
    });
    assert_eq!(
        connect_with_header(&mut untrusted, "x-forwarded-for", "1.2.3.4"),
        localhost
    );
}

fn raw_request(addr: std::net::SocketAddr) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn client_leaving_while_waiting_is_reported_as_disconnected_and_never_connects() {
    let _watchdog = watchdog();
    let mut h = Harness::start(admission_config());
    let mut stream = tcp(h.addr());
    stream.write_all(&raw_request(h.addr())).unwrap();
    let (id, _) = wait_admission(&mut h);
    drop(stream);
    assert!(!h.wait_disconnected(id), "reported unclean");
    h.sender().admit(id);
    admit_one_more(&mut h);
    assert_eq!(
        h.count(|s| matches!(s, Seen::Connected { peer, .. } if *peer == id)),
        0
    );
}

#[test]
fn frames_sent_before_the_answer_are_delivered_after_admission() {
    let _watchdog = watchdog();
    let mut h = Harness::start(admission_config());
    let mut stream = tcp(h.addr());
    let mut bytes = raw_request(h.addr());
    bytes.extend(masked_frame(0x1, b"early"));
    stream.write_all(&bytes).unwrap();
    let (id, _) = wait_admission(&mut h);
    // Let the frame reach the server while the request waits.
    thread::sleep(Duration::from_millis(100));
    h.sender().admit(id);
    assert_eq!(h.wait_message(id), (b"early".to_vec(), true));
    let reply = String::from_utf8_lossy(&read_head(&mut stream)).into_owned();
    assert!(reply.starts_with("HTTP/1.1 101 "), "{reply}");
}

fn read_head(stream: &mut std::net::TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "connection ended: {head:?}"
        );
        head.push(byte[0]);
    }
    head
}
