//! What clients send (upgrade requests, masked frames) and the seed scripts checked in under
//! `rust/fuzz/seeds/<target>/`: `generate` makes them, a test keeps the checked-in copies equal
//! (`WS_FUZZ_WRITE_SEEDS=1 cargo test -p websocket-server-core fuzzing` rewrites them).

use super::harness::{config_bits, Op};
use super::TlsFixture;

/// A valid upgrade request. `variant` bits 0-1: protocols offered (none, `chat`, `superchat,
/// chat`, `other`); bit 2: a `Forwarded` header; bit 3: `X-Forwarded-For`; bit 4: lower-case
/// names and a `Connection` list; bit 5: a query string.
pub fn upgrade_request(variant: u8) -> Vec<u8> {
    let target = if variant & 32 != 0 {
        "/game?token=abc&x=%20"
    } else {
        "/"
    };
    let lower = variant & 16 != 0;
    let name = |n: &str| {
        if lower {
            n.to_ascii_lowercase()
        } else {
            n.to_string()
        }
    };
    let mut request = format!("GET {target} HTTP/1.1\r\n{}: localhost\r\n", name("Host"));
    request.push_str(&format!("{}: websocket\r\n", name("Upgrade")));
    let connection = if lower {
        "keep-alive, Upgrade"
    } else {
        "Upgrade"
    };
    request.push_str(&format!("{}: {connection}\r\n", name("Connection")));
    request.push_str(&format!(
        "{}: dGhlIHNhbXBsZSBub25jZQ==\r\n{}: 13\r\n",
        name("Sec-WebSocket-Key"),
        name("Sec-WebSocket-Version")
    ));
    match variant & 3 {
        0 => {}
        1 => request.push_str(&format!("{}: chat\r\n", name("Sec-WebSocket-Protocol"))),
        2 => request.push_str(&format!(
            "{}: superchat, chat\r\n",
            name("Sec-WebSocket-Protocol")
        )),
        _ => request.push_str(&format!("{}: other\r\n", name("Sec-WebSocket-Protocol"))),
    }
    if variant & 4 != 0 {
        request
            .push_str("Forwarded: for=198.51.100.17;proto=https, for=\"[2001:db8::1]:4711\"\r\n");
    }
    if variant & 8 != 0 {
        request.push_str("X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Appends one masked client frame.
pub fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    // Eight bytes at a time: this runs instrumented, on every fuzz input.
    let mask8 = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut words = payload.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
        out.extend_from_slice(&(word ^ mask8).to_ne_bytes());
    }
    let done = payload.len() - words.remainder().len();
    out.extend(
        words
            .remainder()
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[(done + i) % 4]),
    );
}

/// Appends one message as `fragments` masked frames (fewer when the payload is shorter).
pub fn encode_message(
    out: &mut Vec<u8>,
    payload: &[u8],
    text: bool,
    fragments: usize,
    mask: [u8; 4],
) {
    let size = payload.len().div_ceil(fragments.max(1)).max(1);
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(size).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i > 0 {
            0x0
        } else if text {
            0x1
        } else {
            0x2
        };
        encode_frame(out, i + 1 == pieces.len(), opcode, piece, mask);
    }
}

/// `Op::Message`: appends the message and returns its payload and kind.
pub(crate) fn append_message(
    out: &mut Vec<u8>,
    flags: u8,
    len: usize,
    fill: u8,
) -> (Vec<u8>, bool) {
    let text = flags & 1 != 0;
    // 256 bytes counting up from `fill`, repeated.
    let block: Vec<u8> = (0..=255u8)
        .map(|i| {
            let b = fill.wrapping_add(i);
            if text {
                b'a' + b % 26
            } else {
                b
            }
        })
        .collect();
    let mut payload = Vec::with_capacity(len);
    while payload.len() < len {
        let n = (len - payload.len()).min(block.len());
        payload.extend_from_slice(&block[..n]);
    }
    let fragments = 1 + ((flags >> 1) & 3) as usize;
    let mask = [flags, flags ^ 0x5a, flags.wrapping_mul(3), 0xa5];
    encode_message(out, &payload, text, fragments, mask);
    (payload, text)
}

/// `Op::Control`: appends a ping, a pong, a close with a code or a close without one.
pub(crate) fn append_control(out: &mut Vec<u8>, kind: u8, code: u8) {
    let mask = [kind, code, 0x11, 0x22];
    let (opcode, payload): (u8, Vec<u8>) = match kind % 4 {
        0 => (0x9, vec![code; (code % 8) as usize]),
        1 => (0xA, vec![code; (code % 8) as usize]),
        2 => {
            let code =
                super::harness::CLOSE_CODES[code as usize % super::harness::CLOSE_CODES.len()];
            let mut p = code.to_be_bytes().to_vec();
            p.extend_from_slice(b"bye");
            (0x8, p)
        }
        _ => (0x8, Vec::new()),
    };
    encode_frame(out, true, opcode, &payload, mask);
}

/// Builds a script (see `harness.rs` for the format).
#[derive(Debug, Clone)]
pub struct ScriptWriter {
    bytes: Vec<u8>,
    /// Client bytes the script added and has not delivered yet.
    pending: usize,
}

impl ScriptWriter {
    /// A script with this configuration byte (`config_bits`).
    pub fn new(flags: u8) -> ScriptWriter {
        ScriptWriter {
            bytes: vec![flags],
            pending: 0,
        }
    }

    fn op(&mut self, op: Op, args: &[u8]) -> &mut Self {
        self.bytes.push(op as u8);
        self.bytes.extend_from_slice(args);
        self
    }

    /// `Deliver` ops in chunks of `chunk` bytes (1..=4096) for what the script added so far.
    pub fn deliver_all(&mut self, chunk: usize) -> &mut Self {
        self.deliver(self.pending, chunk)
    }

    /// `Deliver` ops in chunks of `chunk` bytes (1..=4096) until `total` bytes are delivered.
    pub fn deliver(&mut self, total: usize, chunk: usize) -> &mut Self {
        let chunk = chunk.clamp(1, 4096);
        self.pending = self.pending.saturating_sub(total);
        let mut left = total.max(1);
        while left > 0 {
            let n = left.min(chunk) - 1;
            self.op(Op::Deliver, &[(n % 256) as u8, (n / 256) as u8]);
            left -= n + 1;
        }
        self
    }

    /// Raw bytes, in pieces of at most 255.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.pending += bytes.len();
        for piece in bytes.chunks(255) {
            self.op(Op::Raw, &[piece.len() as u8]);
            self.bytes.extend_from_slice(piece);
        }
        self
    }

    /// A valid upgrade request (see [`upgrade_request`]).
    pub fn handshake(&mut self, variant: u8) -> &mut Self {
        self.pending += upgrade_request(variant).len();
        self.op(Op::Handshake, &[variant])
    }

    /// A masked message of `len` bytes (`flags`: see [`Op::Message`]).
    pub fn message(&mut self, flags: u8, len: usize, fill: u8) -> &mut Self {
        let mut frames = Vec::new();
        append_message(&mut frames, flags, len, fill);
        self.pending += frames.len();
        self.op(
            Op::Message,
            &[flags, (len % 256) as u8, (len / 256) as u8, fill],
        )
    }

    /// A masked control frame (`kind`: 0 ping, 1 pong, 2 close with a code, 3 close without).
    pub fn control(&mut self, kind: u8, code: u8) -> &mut Self {
        let mut frame = Vec::new();
        append_control(&mut frame, kind, code);
        self.pending += frame.len();
        self.op(Op::Control, &[kind, code])
    }

    /// Reads return at most `limit` bytes.
    pub fn read_limit(&mut self, limit: u8) -> &mut Self {
        self.op(Op::ReadLimit, &[limit])
    }

    /// The socket takes `bytes16 * 16` bytes, `per_write` per call.
    pub fn writable(&mut self, bytes16: u8, per_write: u8) -> &mut Self {
        self.op(Op::Writable, &[bytes16, per_write])
    }

    /// Any other operation with its argument bytes.
    pub fn other(&mut self, op: Op, args: &[u8]) -> &mut Self {
        self.op(op, args)
    }

    /// The script.
    pub fn build(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

/// Every seed: (target, file name, bytes). The TLS seeds that hold a ClientHello differ on every
/// run (its random values): their names start with `clienthello`.
pub fn generate(fixture: &TlsFixture) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (target, base) in [("connection", 0u8), ("multiplayer", 0u8)] {
        for (name, script) in connection_scripts(base) {
            seeds.push((target, name.to_string(), script));
        }
    }
    for (name, script) in tls_scripts(fixture) {
        seeds.push(("tls_connection", name, script));
    }
    for (name, bytes) in handshake_inputs() {
        seeds.push(("handshake", name.to_string(), bytes));
    }
    seeds
}

fn connection_scripts(base: u8) -> Vec<(&'static str, Vec<u8>)> {
    let mut scripts = Vec::new();

    let mut s = ScriptWriter::new(base);
    s.handshake(0).deliver_all(4096).writable(64, 0);
    scripts.push(("upgrade", s.build()));

    // Every opcode, in 7-byte pieces, with the server answering in 5-byte writes.
    let mut s = ScriptWriter::new(base);
    s.handshake(0)
        .message(1, 5, 1)
        .message(0, 300, 2)
        .control(0, 3)
        .control(1, 4)
        .control(2, 0);
    s.deliver_all(7)
        .writable(8, 5)
        .writable(8, 5)
        .writable(64, 0);
    scripts.push(("every_opcode", s.build()));

    // Fragmented messages read 3 bytes at a time, a ping between fragments' messages.
    let mut s = ScriptWriter::new(base);
    s.read_limit(3)
        .handshake(0)
        .message(6, 40, 9)
        .control(0, 2)
        .message(7, 1000, 10);
    s.deliver_all(100).writable(255, 0);
    scripts.push(("fragmented", s.build()));

    // The server sends, then closes; the client answers the close.
    let mut s = ScriptWriter::new(base);
    s.handshake(0).deliver_all(4096).writable(64, 0);
    s.other(Op::Send, &[10, 1, 0])
        .other(Op::Send, &[3, 2, 1])
        .writable(2, 1)
        .writable(64, 0)
        .other(Op::Close, &[0, 2])
        .writable(64, 0)
        .control(2, 0)
        .deliver_all(4096)
        .writable(64, 0);
    scripts.push(("server_close", s.build()));

    // Admission control: early frames, then admit; reject; timeout.
    let mut s = ScriptWriter::new(base | config_bits::ADMISSION);
    s.handshake(0).message(1, 4, 0);
    s.deliver_all(4096)
        .other(Op::Admit, &[])
        .writable(64, 0)
        .other(Op::Consume, &[1]);
    scripts.push(("admission_admit", s.build()));
    let mut s = ScriptWriter::new(base | config_bits::ADMISSION);
    s.handshake(0)
        .deliver_all(4096)
        .other(Op::Reject, &[2])
        .writable(64, 0);
    scripts.push(("admission_reject", s.build()));
    let mut s = ScriptWriter::new(base | config_bits::ADMISSION);
    s.handshake(0)
        .deliver_all(4096)
        .other(Op::Time, &[100])
        .writable(64, 0);
    scripts.push(("admission_timeout", s.build()));

    // Small inbound limits: reading pauses, the main thread catches up, a message is too big.
    let mut s = ScriptWriter::new(base | config_bits::SMALL_LIMITS);
    s.handshake(0);
    for i in 0..5 {
        s.message(0, 20, i);
    }
    s.message(0, 100, 7);
    s.deliver_all(4096)
        .other(Op::Consume, &[3])
        .other(Op::Consume, &[3])
        .writable(64, 0);
    scripts.push(("small_limits", s.build()));

    // Heartbeat pings, a pong, then silence until the idle timeout.
    let mut s = ScriptWriter::new(base | config_bits::LIVENESS);
    s.handshake(0)
        .deliver_all(4096)
        .writable(64, 0)
        .other(Op::Time, &[25])
        .writable(64, 0)
        .control(1, 0)
        .deliver_all(4096)
        .other(Op::Time, &[80])
        .writable(64, 0);
    scripts.push(("liveness", s.build()));

    // Protocol negotiation and forwarding headers behind a trusted proxy.
    let flags = base | (2 << config_bits::PROTOCOL_SHIFT) | config_bits::TRUST_PROXIES;
    let mut s = ScriptWriter::new(flags | config_bits::EXTRA_HEADERS);
    s.handshake(2 | 4 | 16 | 32)
        .deliver_all(4096)
        .writable(64, 0);
    scripts.push(("protocol_forwarded", s.build()));

    // Refusals: HTTP/1.0, an unmasked frame, refuse_new_connections.
    let mut s = ScriptWriter::new(base);
    s.raw(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .deliver_all(4096)
        .writable(64, 0);
    scripts.push(("bad_request", s.build()));
    let mut s = ScriptWriter::new(base);
    s.handshake(0)
        .raw(&[0x82, 0x02, 0xaa, 0xbb])
        .deliver_all(4096)
        .writable(64, 0);
    scripts.push(("unmasked_frame", s.build()));
    let mut s = ScriptWriter::new(base | config_bits::REFUSE_NEW);
    s.handshake(0).deliver_all(4096).writable(64, 0);
    scripts.push(("refuse_new", s.build()));

    // The client vanishes mid-message; then a reset during a close.
    let mut s = ScriptWriter::new(base);
    s.handshake(0).message(0, 500, 3);
    s.deliver(upgrade_request(0).len() + 200, 4096)
        .other(Op::HangUp, &[])
        .writable(64, 0);
    scripts.push(("hang_up", s.build()));
    let mut s = ScriptWriter::new(base);
    s.handshake(0)
        .deliver_all(4096)
        .other(Op::Close, &[1, 0])
        .other(Op::Reset, &[]);
    scripts.push(("reset", s.build()));
    scripts
}

fn tls_scripts(fixture: &TlsFixture) -> Vec<(String, Vec<u8>)> {
    let mut scripts = Vec::new();
    // Tunnel: byte 0 odd. Handshake round trips, then a request and messages.
    let tunnel = |build: &dyn Fn(&mut ScriptWriter)| {
        let mut s = ScriptWriter::new(0);
        for _ in 0..4 {
            s.deliver(4096, 4096).writable(255, 0);
        }
        build(&mut s);
        let mut bytes = vec![1];
        bytes.extend(s.build());
        bytes
    };
    scripts.push((
        "tunnel_upgrade".to_string(),
        tunnel(&|s| {
            s.handshake(0)
                .message(1, 10, 0)
                .control(0, 1)
                .deliver(4096, 4096)
                .writable(255, 0)
                .other(Op::Send, &[8, 1, 0])
                .writable(1, 3)
                .writable(255, 0);
        }),
    ));
    scripts.push((
        "tunnel_close".to_string(),
        tunnel(&|s| {
            s.handshake(0)
                .deliver(4096, 4096)
                .writable(255, 0)
                .other(Op::Close, &[0, 1])
                .writable(255, 0)
                .control(2, 0)
                .deliver(4096, 4096)
                .writable(255, 0);
        }),
    ));
    scripts.push((
        "tunnel_corrupt".to_string(),
        tunnel(&|s| {
            s.handshake(0)
                .raw(&[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5])
                .deliver(4096, 4096)
                .writable(255, 0);
        }),
    ));
    // Raw: byte 0 even; the fuzzer's bytes are the TLS stream. A real ClientHello.
    let mut hello = Vec::new();
    let mut client = super::tls_client::TlsClient::new(&fixture.client);
    client.write_records(&mut hello);
    let mut s = ScriptWriter::new(0);
    s.raw(&hello)
        .deliver(hello.len(), 4096)
        .writable(255, 0)
        .other(Op::HangUp, &[]);
    let mut bytes = vec![0];
    bytes.extend(s.build());
    scripts.push(("clienthello".to_string(), bytes));
    scripts
}

fn handshake_inputs() -> Vec<(&'static str, Vec<u8>)> {
    // Byte 0: protocols and extra headers (as the connection's configuration byte); byte 1: the
    // TCP peer is a trusted proxy when odd.
    let with = |flags: u8, trusted: u8, request: &[u8]| {
        let mut bytes = vec![flags, trusted];
        bytes.extend_from_slice(request);
        bytes
    };
    let chat = 2 << config_bits::PROTOCOL_SHIFT;
    vec![
        ("plain", with(0, 0, &upgrade_request(0))),
        ("protocols", with(chat, 0, &upgrade_request(2 | 16))),
        ("protocol_mismatch", with(chat, 0, &upgrade_request(3))),
        (
            "forwarded",
            with(config_bits::EXTRA_HEADERS, 1, &upgrade_request(4 | 8 | 32)),
        ),
        ("x_forwarded_for", with(0, 1, &upgrade_request(8))),
        ("http10", with(0, 0, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")),
        ("post", with(0, 0, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")),
        (
            "bad_key",
            with(
                0,
                0,
                b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
            ),
        ),
        ("partial", with(0, 0, b"GET / HTTP/1.1\r\nHost: x\r\n")),
    ]
}
