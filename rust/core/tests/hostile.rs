//! Hostile clients that the end-to-end suite (scripts/run-hostile-tests.sh) found a problem with,
//! reproduced against the core alone.

mod common;

use std::io::{BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// Reads one unmasked server frame from a buffered reader: opcode and payload.
fn read_frame(reader: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).expect("frame header");
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            reader.read_exact(&mut ext).unwrap();
            u16::from_be_bytes(ext) as usize
        }
        127 => {
            let mut ext = [0u8; 8];
            reader.read_exact(&mut ext).unwrap();
            u64::from_be_bytes(ext) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).expect("frame payload");
    (head[0] & 0x0f, payload)
}

/// A client that floods pings and never reads used to make the server queue every pong: its
/// memory grew with what the client sent. Now the server stops reading that client while the
/// pongs it owes are not written, so the client's writes stall (TCP back-pressure); once the
/// client reads, every ping is answered in order and the connection goes on.
#[test]
fn a_ping_flood_that_never_reads_stalls_instead_of_queueing_pongs() {
    let _w = watchdog();
    let mut h = Harness::start(local_config());
    let stream = raw_upgrade(h.addr());
    let peer = h.wait_connected().peer;

    // 32 MiB of pings: more than the kernel buffers both ways can hold, so writing it all
    // means the server queued pongs for most of it.
    const PINGS: usize = 250_000;
    let batch: Vec<u8> = (0..1000)
        .flat_map(|i| masked_frame(0x9, format!("{i:0125}").as_bytes()))
        .collect();
    let written = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let mut writer_stream = stream.try_clone().unwrap();
    writer_stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let writer = {
        let (written, finished) = (written.clone(), finished.clone());
        thread::spawn(move || {
            for _ in 0..PINGS / 1000 {
                writer_stream.write_all(&batch).expect("writing pings");
                written.fetch_add(1000, Ordering::Relaxed);
            }
            writer_stream
                .write_all(&masked_frame(0x2, b"after the pings"))
                .unwrap();
            finished.store(true, Ordering::Relaxed);
        })
    };

    // Nothing is read until the writer makes no progress for a second (or finishes).
    let mut last = (usize::MAX, Instant::now());
    while !finished.load(Ordering::Relaxed) && last.1.elapsed() < Duration::from_secs(1) {
        let now = written.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        thread::sleep(Duration::from_millis(10));
    }
    let stalled_at = written.load(Ordering::Relaxed);
    assert!(
        !finished.load(Ordering::Relaxed),
        "all {PINGS} pings were taken while their pongs could not be written"
    );

    let mut reader = BufReader::with_capacity(1 << 16, stream);
    for i in 0..PINGS {
        let (opcode, payload) = read_frame(&mut reader);
        assert_eq!(opcode, 0xA, "frame {i} is not a pong");
        assert_eq!(payload, format!("{:0125}", i % 1000).as_bytes(), "pong {i}");
    }
    writer.join().unwrap();
    let (data, _) = h.wait_message(peer.id());
    assert_eq!(data, b"after the pings");
    eprintln!("the writer stalled after {stalled_at} of {PINGS} pings until the pongs were read");
}
