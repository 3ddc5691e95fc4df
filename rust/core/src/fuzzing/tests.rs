//! The fuzz corpus on stable: every checked-in seed and regression runs through its target, the
//! seeds match their generator, and the seeds reach what they are there for.

use std::fs;
use std::path::{Path, PathBuf};

use super::harness::{self, Mode, RunSummary};
use super::*;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn fixture() -> TlsFixture {
    let dir = fuzz_dir().join("tls");
    let read = |name: &str| fs::read_to_string(dir.join(name)).expect("test identity");
    TlsFixture::from_pem(&read("cert.pem"), &read("key.pem"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn seeds_and_regressions_replay() {
    let fixture = fixture();
    for target in TARGETS {
        let seeds = files(&fuzz_dir().join("seeds").join(target));
        assert!(!seeds.is_empty(), "no seeds for {target}");
        let regressions = files(&fuzz_dir().join("regressions").join(target));
        for path in seeds.iter().chain(&regressions) {
            let data = fs::read(path).expect("seed");
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_target(target, &data, &fixture)
            }));
            assert!(
                matches!(result, Ok(true)),
                "{target}: {} fails",
                path.display()
            );
        }
    }
    // A directory named after no target is a mistake (a typo would skip its files).
    for kind in ["seeds", "regressions"] {
        for dir in fs::read_dir(fuzz_dir().join(kind)).into_iter().flatten() {
            let name = dir.expect("entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                TARGETS.contains(&name.as_ref()),
                "{kind}/{name} is no target"
            );
        }
    }
}

#[test]
fn seeds_match_their_generator() {
    let write = std::env::var_os("WS_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, bytes) in seeds::generate(&fixture()) {
        let path = fuzz_dir().join("seeds").join(target).join(&name);
        if write {
            fs::create_dir_all(path.parent().expect("parent")).expect("seed directory");
            fs::write(&path, &bytes).expect("seed written");
            continue;
        }
        let stored = fs::read(&path).unwrap_or_else(|_| {
            panic!(
                "{} missing: WS_FUZZ_WRITE_SEEDS=1 cargo test -p websocket-server-core fuzzing",
                path.display()
            )
        });
        // A ClientHello holds random values: only its size is stable.
        if !name.starts_with("clienthello") {
            assert_eq!(
                stored,
                bytes,
                "{} differs from its generator",
                path.display()
            );
        }
    }
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    let all = seeds::generate(&fixture());
    all.into_iter()
        .find(|(t, n, _)| *t == target && n == name)
        .map(|(_, _, bytes)| bytes)
        .unwrap_or_else(|| panic!("no seed {target}/{name}"))
}

fn plain(name: &str) -> RunSummary {
    harness::run(&seed("connection", name), Mode::Plain, false)
}

#[test]
fn seeds_reach_their_states() {
    let s = plain("upgrade");
    assert!(s.connected && s.status == Some(101) && !s.done, "{s:?}");

    let s = plain("every_opcode");
    assert_eq!((s.messages, s.close_requests), (2, 1), "{s:?}");
    assert!(s.close_sent && s.disconnected, "{s:?}");

    let s = plain("fragmented");
    assert_eq!(s.messages, 2, "{s:?}");

    let s = plain("server_close");
    // Two sent messages and the close.
    assert_eq!(s.frames, 3, "{s:?}");
    assert!(s.close_sent && s.disconnected, "{s:?}");

    let s = plain("admission_admit");
    assert!(s.admission && s.connected && s.messages == 1, "{s:?}");
    let s = plain("admission_reject");
    assert!(
        s.admission && !s.connected && s.status == Some(429),
        "{s:?}"
    );
    let s = plain("admission_timeout");
    assert!(s.disconnected && s.status == Some(503), "{s:?}");

    // Three messages fill the inbound limits; reading resumes as they are read; the 100-byte
    // message is over the 64-byte limit.
    let s = plain("small_limits");
    assert_eq!(s.messages, 5, "{s:?}");
    assert!(s.close_sent && s.disconnected, "{s:?}");

    let s = plain("liveness");
    assert!(s.frames >= 2 && s.close_sent && s.disconnected, "{s:?}");

    let s = plain("protocol_forwarded");
    assert!(s.connected, "{s:?}");
    assert_eq!(plain("bad_request").status, Some(400));
    let s = plain("unmasked_frame");
    assert!(s.connected && s.close_sent && s.disconnected, "{s:?}");
    assert_eq!(plain("refuse_new").status, Some(503));
    let s = plain("hang_up");
    assert!(s.disconnected && s.done && s.messages == 0, "{s:?}");
    let s = plain("reset");
    assert!(s.disconnected && s.done, "{s:?}");

    let s = harness::run(&seed("multiplayer", "every_opcode"), Mode::Plain, true);
    // The announcement comes first (checked by the harness), then the close.
    assert!(s.frames >= 2 && s.messages == 2, "{s:?}");

    let fixture = fixture();
    let tunnel = |name: &str| {
        let data = seed("tls_connection", name);
        harness::run(
            &data[1..],
            Mode::TunnelTls(Box::new(fixture.clone())),
            false,
        )
    };
    let s = tunnel("tunnel_upgrade");
    assert!(s.connected && s.messages == 1 && s.frames == 2, "{s:?}");
    let s = tunnel("tunnel_close");
    assert!(s.close_sent && s.disconnected, "{s:?}");
    let s = tunnel("tunnel_corrupt");
    assert!(s.done, "{s:?}");
}

#[test]
fn output_check_rejects_bad_server_output() {
    let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    let with = |tail: &[u8]| [ok.as_slice(), tail].concat();
    assert!(check_output(&with(&[0x82, 0x01, 0x00]), None).is_ok());
    // Masked, reserved bits, no FIN, unknown opcode, long control frame, after the close.
    for bad in [
        &[0x82, 0x81, 0, 0, 0, 0, 0][..],
        &[0xc2, 0x00],
        &[0x02, 0x00],
        &[0x83, 0x00],
        &[0x89, 0x7e, 0x00, 0x7e],
        &[0x88, 0x02, 0x03, 0xe8, 0x82, 0x00],
        &[0x81, 0x01, 0xff],
    ] {
        assert!(check_output(&with(bad), None).is_err(), "{bad:?} accepted");
    }
    // Multiplayer: the id first.
    let id: i32 = 0x0102_0304;
    let announce = [&[0x82, 0x04][..], &id.to_le_bytes()].concat();
    assert!(check_output(&with(&announce), Some(id)).is_ok());
    assert!(check_output(&with(&[0x82, 0x01, 0x00]), Some(id)).is_err());
    assert!(check_output(b"HTTP/1.0 200 OK\r\n\r\n", None).is_err());
    assert!(check_output(b"HTTP/1.1 400 Bad\r\nContent-Length: 1\r\n\r\nab", None).is_err());
}

/// Found by the `connection` target: a peer that breaks a limit after the server started the
/// closing handshake got a second close frame.
#[test]
fn no_second_close_frame_after_the_servers_close() {
    let mut s = seeds::ScriptWriter::new(config_bits::SMALL_LIMITS);
    s.handshake(0)
        .deliver_all(4096)
        .other(Op::Close, &[1, 0])
        // 100 bytes: over the 64-byte inbound limit.
        .message(0, 100, 0)
        .deliver_all(4096)
        .writable(255, 0);
    // The harness fails on anything after the close frame.
    let summary = harness::run(&s.build(), Mode::Plain, false);
    assert!(summary.close_sent && summary.disconnected, "{summary:?}");
}
