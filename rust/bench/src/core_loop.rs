//! The main-thread side of a server built on the core, with no Godot: what a Godot script's
//! `_process` does with the binding (`poll()`, read each packet, answer it), as plain Rust.
//!
//! This is the ceiling of the design: the Godot binding adds the engine's per-frame work and the
//! script's cost on top of exactly these calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use websocket_server_core::{Event, PeerHandle, PeerId, Server};

use crate::sys::unix_time_us;

/// Longest sleep between polls that found nothing to do.
pub const IDLE_SLEEP: Duration = Duration::from_micros(50);

/// What the main thread does with the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Send every message back to its sender.
    Echo,
    /// Wait for the text "start", then send a timestamped binary message to every peer at
    /// `rate_hz` until the text "stop".
    Broadcast,
}

/// How the loop runs.
#[derive(Debug, Clone, Copy)]
pub struct LoopOptions {
    /// Echo or broadcast.
    pub mode: Mode,
    /// Multiplayer mode: echoes are always binary (Godot 4's multiplayer peer sends binary).
    pub mp: bool,
    /// Broadcast rate in messages per second; 0 = one broadcast per loop turn (flat out).
    pub rate_hz: f64,
    /// Size of each broadcast message (at least 8: the timestamp).
    pub broadcast_size: usize,
    /// Spin (`std::hint::spin_loop`) instead of sleeping when there is nothing to do.
    pub spin: bool,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            mode: Mode::Echo,
            mp: false,
            rate_hz: 60.0,
            broadcast_size: 64,
            spin: false,
        }
    }
}

/// Runs the loop until `stop` is set.
pub fn run(server: &Server, options: &LoopOptions, stop: &AtomicBool) {
    let sender = server.sender();
    let mut events: Vec<Event> = Vec::with_capacity(1024);
    // Echo looks peers up by id; broadcast walks them all (`list`, with `index` for removal).
    let mut peers: HashMap<PeerId, PeerHandle> = HashMap::new();
    let mut list: Vec<PeerHandle> = Vec::new();
    let mut index: HashMap<PeerId, usize> = HashMap::new();
    let mut broadcasting = false;
    let interval = if options.rate_hz > 0.0 {
        Some(Duration::from_secs_f64(1.0 / options.rate_hz))
    } else {
        None
    };
    let mut next_tick = Instant::now();
    let mut payload = vec![0u8; options.broadcast_size.max(8)];
    for (i, b) in payload.iter_mut().enumerate().skip(8) {
        *b = b'a' + (i % 23) as u8;
    }

    while !stop.load(Ordering::Relaxed) {
        server.drain_events(&mut events);
        let mut busy = !events.is_empty();
        for event in events.drain(..) {
            match event {
                Event::Connected { peer, .. } => {
                    if options.mode == Mode::Broadcast {
                        index.insert(peer.id(), list.len());
                        list.push(peer.clone());
                    }
                    peers.insert(peer.id(), peer);
                }
                Event::Message { peer, data, text } => {
                    let Some(handle) = peers.get(&peer) else {
                        continue;
                    };
                    match options.mode {
                        Mode::Echo => {
                            // A refused send (queue full) is dropped, as a script ignoring the
                            // error would; the load generator then sees a missing echo.
                            let _ = sender.send(handle, &data, text && !options.mp);
                        }
                        Mode::Broadcast if text => match &data[..] {
                            b"start" => {
                                broadcasting = true;
                                next_tick = Instant::now();
                            }
                            b"stop" => broadcasting = false,
                            _ => {}
                        },
                        Mode::Broadcast => {}
                    }
                    sender.consume_inbound(handle, data.len());
                }
                Event::CloseRequest { .. } => {}
                // Admission control is off here.
                Event::Admission { .. } => {}
                Event::Fault { message, .. } => {
                    eprintln!("core-server: fault in the reactor: {message}")
                }
                Event::Disconnected { peer, .. } => {
                    peers.remove(&peer);
                    if let Some(i) = index.remove(&peer) {
                        list.swap_remove(i);
                        if let Some(moved) = list.get(i) {
                            index.insert(moved.id(), i);
                        }
                    }
                }
            }
        }

        let mut wait = IDLE_SLEEP;
        if broadcasting {
            let now = Instant::now();
            let due = match interval {
                None => true,
                Some(interval) if now >= next_tick => {
                    next_tick += interval;
                    if next_tick < now {
                        // Fell more than a tick behind: do not burst to catch up.
                        next_tick = now + interval;
                    }
                    true
                }
                Some(_) => {
                    wait = wait.min(next_tick - now);
                    false
                }
            };
            if due && !list.is_empty() {
                payload[..8].copy_from_slice(&unix_time_us().to_le_bytes());
                // Peers whose queue is full are skipped (returned in the Ok list).
                let _ = sender.broadcast(list.iter().map(|p| &**p), &payload, false);
                busy = true;
            }
        }

        if !busy {
            if options.spin {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(wait);
            }
        }
    }
}
