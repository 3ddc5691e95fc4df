//! Micro-benchmarks of the core's hot paths (divan: `cargo bench -p websocket-server-bench`).
//!
//! - `encode_data_frame`: the one copy every outgoing message pays (64 B and 16 KiB).
//! - `parse_request`: the HTTP upgrade of a typical browser, as the reactor parses it.
//! - `loopback_echo`: a whole round trip of 64-byte messages through `Server` (reactor thread,
//!   event queue, the main-thread loop of `core-server`, command queue) and back to a blocking
//!   tungstenite client, one at a time and 64 pipelined; the counter gives messages/s.
//!
//! The echo loop spins (`--spin` in core-server) so what is timed is the core, not a sleep.

use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use divan::counter::{BytesCount, ItemsCount};
use divan::{black_box, Bencher};
use tungstenite::Message;
use websocket_server_bench::core_loop::{self, LoopOptions, Mode};
use websocket_server_core::{frame, handshake, BindAddress, Bytes, Server, ServerConfig};

fn main() {
    divan::main();
}

#[divan::bench(args = [64, 16 * 1024], sample_size = 1000)]
fn encode_data_frame(bencher: Bencher, size: usize) {
    let payload = vec![b'x'; size];
    // The frame is dropped inside the timed closure, as the reactor frees each frame once
    // written: returning it would keep a whole sample's frames alive and time fresh pages.
    bencher.counter(BytesCount::new(size)).bench(|| {
        black_box(frame::encode_data_frame(black_box(&payload), false));
    });
}

/// What Chromium sends for `new WebSocket("ws://127.0.0.1:9080/game?room=1", ["chat"])`.
const BROWSER_REQUEST: &[u8] = b"GET /game?room=1 HTTP/1.1\r\n\
Host: 127.0.0.1:9080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://127.0.0.1:8000\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";

#[divan::bench(sample_size = 100)]
fn parse_request(bencher: Bencher) {
    let protocols = vec!["chat".to_string()];
    let extra: Vec<(String, String)> = Vec::new();
    // Make sure it is the accepting path that is timed.
    assert!(matches!(
        handshake::parse_request(BROWSER_REQUEST, &protocols, &extra),
        handshake::Parsed::Done {
            verdict: handshake::Verdict::Accept { .. },
            ..
        }
    ));
    bencher
        .counter(BytesCount::new(BROWSER_REQUEST.len()))
        .bench(|| handshake::parse_request(black_box(BROWSER_REQUEST), &protocols, &extra));
}

/// A server, its echo loop on a thread, and one connected client.
struct Loopback {
    client: tungstenite::WebSocket<TcpStream>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Loopback {
    fn new() -> Loopback {
        let server = Server::start(ServerConfig {
            bind: BindAddress::Ip(Ipv4Addr::LOCALHOST.into()),
            port: 0,
            ..ServerConfig::default()
        })
        .expect("server starts");
        let addr = server.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::spawn(move || {
                let options = LoopOptions {
                    mode: Mode::Echo,
                    spin: true,
                    ..LoopOptions::default()
                };
                core_loop::run(&server, &options, &stop);
            })
        };
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (client, _) = tungstenite::client::client(format!("ws://{addr}/"), tcp)
            .unwrap_or_else(|e| panic!("upgrade: {e}"));
        Loopback {
            client,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = self.client.close(None);
        let _ = self.client.flush();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const PAYLOAD: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[divan::bench(args = [1, 64], sample_count = 50, sample_size = 20)]
fn loopback_echo(bencher: Bencher, pipelined: usize) {
    let mut lb = Loopback::new();
    let message = Message::Binary(Bytes::from_static(PAYLOAD));
    bencher.counter(ItemsCount::new(pipelined)).bench_local(|| {
        for _ in 0..pipelined {
            lb.client.write(message.clone()).expect("write");
        }
        lb.client.flush().expect("flush");
        for _ in 0..pipelined {
            match lb.client.read().expect("read") {
                Message::Binary(b) => assert_eq!(b.len(), 64),
                other => panic!("unexpected {other:?}"),
            }
        }
    });
}
