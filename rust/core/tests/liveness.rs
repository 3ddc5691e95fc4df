//! Heartbeat pings, dead-peer detection and graceful shutdown, against real clients over the
//! loopback interface. Bounds are generous: they check that things happen, not how fast.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;

use tungstenite::Message;
use websocket_server_core::{Server, ServerConfig};

fn liveness_config(heartbeat: f64, idle: f64) -> ServerConfig {
    ServerConfig {
        heartbeat_interval: Duration::from_secs_f64(heartbeat),
        idle_timeout: Duration::from_secs_f64(idle),
        ..local_config()
    }
}

#[test]
fn default_heartbeat_is_25_s_and_idle_timeout_60_s() {
    let config = ServerConfig::default();
    assert_eq!(config.heartbeat_interval, Duration::from_secs(25));
    assert_eq!(config.idle_timeout, Duration::from_secs(60));
}

#[test]
fn a_silent_client_receives_a_ping_every_heartbeat_interval_and_stays_while_idle_timeout_is_off() {
    let _watchdog = watchdog();
    let mut h = Harness::start(liveness_config(0.2, 0.0));
    let mut raw = raw_upgrade(h.addr());
    let id = h.wait_connected().peer.id();
    let start = Instant::now();
    for _ in 0..3 {
        let (opcode, payload) = read_server_frame(&mut raw);
        assert_eq!(
            opcode, 0x9,
            "expected a ping, got opcode {opcode:#x} {payload:?}"
        );
    }
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "three pings {:?} apart came too fast for a 0.2 s interval",
        start.elapsed()
    );
    h.poll();
    assert_eq!(h.history_of(id).len(), 1, "{:?}", h.history);
}

#[test]
fn no_ping_is_sent_when_the_heartbeat_is_off() {
    let _watchdog = watchdog();
    let h = Harness::start(liveness_config(0.0, 0.0));
    let mut raw = raw_upgrade(h.addr());
    raw.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut byte = [0u8; 1];
    let read = std::io::Read::read(&mut raw, &mut byte);
    assert!(
        read.is_err(),
        "the server sent something: {read:?} {byte:?}"
    );
}

#[test]
fn a_silent_client_is_disconnected_unclean_after_the_idle_timeout_with_1001() {
    let _watchdog = watchdog();
    let idle = Duration::from_millis(600);
    let mut h = Harness::start(liveness_config(0.2, idle.as_secs_f64()));
    let mut raw = raw_upgrade(h.addr());
    let id = h.wait_connected().peer.id();
    let start = Instant::now();
    assert!(!h.wait_disconnected(id), "a dead peer's end is unclean");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= idle,
        "dropped after {elapsed:?}, before the idle timeout"
    );
    // Pings, then the close frame, then the end.
    loop {
        let (opcode, payload) = read_server_frame(&mut raw);
        if opcode == 0x9 {
            continue;
        }
        assert_eq!(opcode, 0x8, "{payload:?}");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
        assert_eq!(&payload[2..], b"idle timeout");
        break;
    }
    assert!(read_until_closed(&mut raw).is_empty());
}

#[test]
fn a_client_that_answers_pings_stays_connected_across_several_idle_timeouts() {
    let _watchdog = watchdog();
    let idle = Duration::from_millis(600);
    let mut h = Harness::start(liveness_config(0.15, idle.as_secs_f64()));
    let addr = h.addr();
    let client = thread::spawn(move || {
        let mut client = connect(addr);
        client
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut pings = 0;
        let end = Instant::now() + idle * 4;
        while Instant::now() < end {
            // tungstenite answers each ping by itself inside read().
            match client.read() {
                Ok(Message::Ping(_)) => pings += 1,
                Ok(other) => panic!("unexpected {}", describe(&other)),
                Err(e) if is_timeout(&e) => {}
                Err(e) => panic!("connection ended: {e}"),
            }
            let _ = client.flush();
        }
        client.close(None).unwrap();
        while client.read().is_ok() {}
        pings
    });
    let id = h.wait_connected().peer.id();
    let pings = client.join().unwrap();
    assert!(pings >= 4, "only {pings} pings in four idle timeouts");
    assert!(h.wait_disconnected(id), "the client's own close is clean");
}

#[test]
fn shutdown_closes_every_client_with_the_code_and_reason_and_returns_once_all_answered() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let addr = h.addr();
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let mut client = connect(addr);
            thread::spawn(move || {
                let close = recv_close(&mut client);
                expect_end(&mut client);
                close
            })
        })
        .collect();
    for _ in 0..3 {
        h.wait_connected();
    }
    let start = Instant::now();
    let timeout = Duration::from_secs(10);
    assert!(h.server.shutdown(4000, "maintenance", timeout));
    assert!(
        start.elapsed() < timeout / 2,
        "shutdown waited {:?} although every client answered",
        start.elapsed()
    );
    assert!(!h.server.is_running());
    for client in clients {
        assert_eq!(client.join().unwrap(), (4000, "maintenance".to_string()));
    }
    let mut after = Vec::new();
    h.server.drain_events(&mut after);
    assert!(after.is_empty(), "events after shutdown: {after:?}");
    let _again = Server::start(ServerConfig {
        port: addr.port(),
        ..local_config()
    })
    .expect("the port is free after shutdown");
}

#[test]
fn shutdown_gives_up_on_a_client_that_never_answers_after_the_timeout_and_frees_the_port() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let addr = h.addr();
    let mut answering = connect(addr);
    let mut silent = raw_upgrade(addr);
    h.wait_connected();
    h.wait_connected();
    let answering = thread::spawn(move || {
        let close = recv_close(&mut answering);
        expect_end(&mut answering);
        close
    });
    let timeout = Duration::from_millis(700);
    let start = Instant::now();
    assert!(!h.server.shutdown(4001, "bye", timeout));
    let elapsed = start.elapsed();
    assert!(elapsed >= timeout, "returned after {elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_secs(3),
        "hung for {elapsed:?}"
    );
    assert_eq!(answering.join().unwrap(), (4001, "bye".to_string()));
    assert_eq!(read_close_code(&mut silent), 4001);
    read_until_closed(&mut silent);
    let _again = Server::start(ServerConfig {
        port: addr.port(),
        ..local_config()
    })
    .expect("the port is free after shutdown");
}

#[test]
fn shutdown_refuses_new_upgrades_while_it_waits() {
    let _watchdog = watchdog();
    let mut h = Harness::start(local_config());
    let addr = h.addr();
    let _silent = raw_upgrade(addr);
    h.wait_connected();
    let late = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        try_connect(addr, ws_url(addr, "/")).map(|_| ())
    });
    assert!(!h.server.shutdown(1001, "", Duration::from_millis(800)));
    assert!(
        late.join().unwrap().is_err(),
        "a client joined a server shutting down"
    );
}
