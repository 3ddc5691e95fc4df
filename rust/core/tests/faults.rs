//! Panic containment (`src/faults.rs`), shown with the test-only `Sender::inject_fault`: a panic
//! while handling one connection drops that connection only and is reported; a panic in a turn
//! outside any connection costs nothing else; the network thread keeps serving after both.

mod common;

use std::thread;
use std::time::Duration;

use common::*;

use tungstenite::Message;
use websocket_server_core::{Event, FaultSite, PeerId};

fn wait_fault(h: &mut Harness) -> (Option<PeerId>, String) {
    h.wait_for("a Fault event", |e| match e {
        Event::Fault { peer, message } => Some((*peer, message.clone())),
        _ => None,
    })
}

/// The network thread alone (the test thread does not poll meanwhile) answers a new client's
/// upgrade: it is alive. The client stays connected.
fn network_thread_answers_an_upgrade(h: &mut Harness) -> std::net::TcpStream {
    let raw = raw_upgrade(h.addr());
    h.wait_connected();
    raw
}

#[test]
fn a_panic_handling_one_connection_drops_that_connection_only_and_is_reported() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut clients = Vec::new();
    for _ in 0..3 {
        let client = connect(h.addr());
        let peer = h.wait_connected().peer;
        clients.push((client, peer));
    }
    let victim = clients[1].1.id();

    h.sender().inject_fault(FaultSite::Connection(victim));
    let (peer, message) = wait_fault(&mut h);
    assert_eq!(peer, Some(victim), "the fault names the connection");
    assert!(
        message.contains("injected fault while handling peer"),
        "the panic's message is reported: {message:?}"
    );
    assert!(
        !h.wait_disconnected(victim),
        "the dropped peer is reported as an unclean disconnect"
    );
    expect_end(&mut clients[1].0);

    // The thread that hit the panic keeps serving: nobody polls while it answers an upgrade.
    thread::sleep(Duration::from_millis(100));
    let _raw = network_thread_answers_an_upgrade(&mut h);

    // The other peers, and a newcomer, are served as before.
    for (i, (client, peer)) in clients.iter_mut().enumerate() {
        if i != 1 {
            echo_through_main_thread(&mut h, client, peer, b"still here", true);
        }
    }
    let mut newcomer = connect(h.addr());
    let newcomer_peer = h.wait_for("the newcomer's Connected event", |e| match e {
        Event::Connected { peer, .. } => Some(peer.clone()),
        _ => None,
    });
    echo_through_main_thread(
        &mut h,
        &mut newcomer,
        &newcomer_peer,
        &pattern(70_000),
        false,
    );
    h.poll();
    assert_eq!(
        h.count(|s| matches!(s, Seen::Disconnected { .. })),
        1,
        "only the victim left: {:?}",
        h.history
    );
}

#[test]
fn a_panic_in_a_turn_outside_any_connection_loses_no_other_command() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let mut client = connect(h.addr());
    let peer = h.wait_connected().peer;

    // A send, the fault, another send: both sends arrive, in order. Polling flat out first parks
    // the network thread (`pace.rs`), so the three commands usually make one batch, run by the
    // next poll; a panic must not cost the commands after it in a batch.
    for round in 0..20 {
        for _ in 0..50 {
            h.poll();
        }
        let before = format!("before {round}");
        let after = format!("after {round}");
        h.sender().send(&peer, before.as_bytes(), true).unwrap();
        h.sender().inject_fault(FaultSite::Turn);
        h.sender().send(&peer, after.as_bytes(), true).unwrap();
        h.poll();
        for expected in [&before, &after] {
            match recv(&mut client) {
                Message::Text(text) => assert_eq!(text.as_str(), expected),
                other => panic!("expected {expected:?}, got {}", describe(&other)),
            }
        }
    }
    for _ in 0..20 {
        let (fault_peer, message) = wait_fault(&mut h);
        assert_eq!(fault_peer, None, "the fault names no connection");
        assert!(
            message.contains("injected fault in a reactor turn"),
            "{message:?}"
        );
    }

    thread::sleep(Duration::from_millis(100));
    let _raw = network_thread_answers_an_upgrade(&mut h);
    echo_through_main_thread(&mut h, &mut client, &peer, b"after the fault", false);
    h.poll();
    assert_eq!(
        h.count(|s| matches!(s, Seen::Disconnected { .. })),
        0,
        "nobody left: {:?}",
        h.history
    );
}
