//! `soak`: many clients exchanging checked messages with an echo server for a long time, some of
//! them disconnecting and reconnecting all along, while the server's memory and descriptors are
//! watched from /proc. It exits non-zero on any loss, reordering, corruption or broken
//! connection, or when the server's descriptors do not come back to their count before the load.
//! `scripts/soak.sh` starts the server in Godot and runs this against it; see README.md.

// The wsload modules this reuses (URL and TLS set-up, the upgrade, frame encoding and options);
// not every item of them is used here.
#[path = "../wsload/args.rs"]
#[allow(dead_code)]
mod args;
#[path = "../wsload/client.rs"]
#[allow(dead_code)]
mod client;
#[path = "../wsload/target.rs"]
#[allow(dead_code)]
mod target;

mod conn;
mod monitor;
mod payload;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use websocket_server_bench::hist::Histogram;
use websocket_server_bench::json::JsonObject;
use websocket_server_bench::sys;

use args::Args;
use conn::{Conn, Msg};
use monitor::Sample;
use payload::{Rng, Stamp};
use target::{Target, Trust};

const USAGE: &str = "\
usage: soak --url ws://HOST:PORT [--mp] [--duration SECS=60] [--clients N=60] [--stayers K=N/4]
            [--rate MSGS_PER_SEC=2000] [--window W=8] [--max-body BYTES=32768] [--churn PER_SEC=1]
            [--seed S=1] [--server-pid PID] [--sample SECS=5] [--settle SECS=20] [--json FILE]
            [--ca FILE | --insecure]";

/// A handshake (TCP, TLS, upgrade, multiplayer id) must be done within this.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Before a clean close, how long the echoes still in flight may take to come back.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may take to answer a close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The run's settings, shared by every client thread.
struct Ctx {
    target: Target,
    mp: bool,
    clients: u32,
    rate: f64,
    window: u64,
    max_body: usize,
    /// Mean connection lifetime of a churning client, in seconds (infinite without churn).
    churn_life_s: f64,
    seed: u64,
    base: Instant,
    end: Instant,
    /// Set when the server died: clients give up.
    abort: AtomicBool,
    /// Progress counters (the exact figures are each client's `Tally`).
    sent: AtomicU64,
    received: AtomicU64,
    reconnects: AtomicU64,
    errors_logged: AtomicU64,
}

impl Ctx {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// The first few problems are printed; all are counted.
    fn log(&self, what: String) {
        let n = self.errors_logged.fetch_add(1, Ordering::Relaxed);
        if n < 20 {
            eprintln!("soak: {what}");
        } else if n == 20 {
            eprintln!("soak: (further problems are counted, not printed)");
        }
    }
}

/// What the clients counted; summed over all of them at the end.
#[derive(Default)]
struct Tally {
    sent: u64,
    received: u64,
    /// Echoes that should have come back and did not: gaps in the sequence, and what was still
    /// missing at a clean close or when a connection broke.
    lost: u64,
    /// Echoes older than one already received (out of order or duplicated).
    reordered: u64,
    /// Checksum or length mismatch, another connection's message, a sequence number never sent.
    corrupted: u64,
    /// Sent on connections the client dropped abruptly (FIN or RST) and not back by then:
    /// legitimately never echoed, so not loss.
    in_flight_at_drop: u64,
    connections: u64,
    reconnects: u64,
    connect_failures: u64,
    /// Connections that ended without the client asking (server close, reset, protocol error).
    broken: u64,
    /// Broken connections of stayers.
    stayer_broken: u64,
    clean_closes: u64,
    /// Clean closes the server did not answer with a close frame in time.
    close_unanswered: u64,
    fin_drops: u64,
    rst_drops: u64,
    /// Multiplayer: first messages that were not a 4-byte id >= 2.
    bad_ids: u64,
    rtt: Histogram,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.sent += o.sent;
        self.received += o.received;
        self.lost += o.lost;
        self.reordered += o.reordered;
        self.corrupted += o.corrupted;
        self.in_flight_at_drop += o.in_flight_at_drop;
        self.connections += o.connections;
        self.reconnects += o.reconnects;
        self.connect_failures += o.connect_failures;
        self.broken += o.broken;
        self.stayer_broken += o.stayer_broken;
        self.clean_closes += o.clean_closes;
        self.close_unanswered += o.close_unanswered;
        self.fin_drops += o.fin_drops;
        self.rst_drops += o.rst_drops;
        self.bad_ids += o.bad_ids;
        self.rtt.merge(&o.rtt);
    }
}

/// One connection's sequence numbers.
struct Seq {
    client: u32,
    conn: u32,
    /// Next to send.
    next_send: u64,
    /// Next expected back.
    next_recv: u64,
}

impl Seq {
    fn in_flight(&self) -> u64 {
        self.next_send - self.next_recv
    }

    /// Replaces `msg` with the next message of this connection: stamped now, a random body.
    fn encode_next(&self, msg: &mut Vec<u8>, ctx: &Ctx, rng: &mut Rng) {
        msg.clear();
        let stamp = Stamp {
            client: self.client,
            conn: self.conn,
            seq: self.next_send,
            sent_ns: ctx.now_ns(),
        };
        let body = rng.body_len(ctx.max_body);
        payload::encode(msg, stamp, body, rng);
    }

    /// What an echo is, against what this connection sent (pure: `check` acts on it).
    fn classify(&self, data: &[u8]) -> Verdict {
        let stamp = match payload::verify(data) {
            Ok(s) => s,
            Err(why) => return Verdict::Corrupted(format!("{why:?}, {} bytes", data.len())),
        };
        if stamp.client != self.client || stamp.conn != self.conn || stamp.seq >= self.next_send {
            return Verdict::Corrupted(format!("not an echo of this connection: {stamp:?}"));
        }
        if stamp.seq < self.next_recv {
            return Verdict::Reordered(stamp.seq);
        }
        Verdict::InOrder {
            missing: stamp.seq - self.next_recv,
            stamp,
        }
    }

    /// Checks one echo and counts it.
    fn check(&mut self, data: &[u8], ctx: &Ctx, t: &mut Tally) {
        let (client, conn) = (self.client, self.conn);
        match self.classify(data) {
            Verdict::Corrupted(why) => {
                t.corrupted += 1;
                ctx.log(format!(
                    "client {client} conn {conn}: corrupted echo ({why})"
                ));
            }
            Verdict::Reordered(seq) => {
                t.reordered += 1;
                ctx.log(format!(
                    "client {client} conn {conn}: seq {seq} after {}",
                    self.next_recv - 1
                ));
            }
            Verdict::InOrder { missing, stamp } => {
                if missing > 0 {
                    t.lost += missing;
                    ctx.log(format!(
                        "client {client} conn {conn}: seq {} came back, {missing} missing before it",
                        stamp.seq
                    ));
                }
                self.next_recv = stamp.seq + 1;
                t.received += 1;
                ctx.received.fetch_add(1, Ordering::Relaxed);
                t.rtt.record(ctx.now_ns().saturating_sub(stamp.sent_ns));
            }
        }
    }
}

/// An echo, classified.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Intact and not older than the last one; `missing` echoes were skipped before it (lost:
    /// a corrupted echo also shows up here, as the gap it leaves).
    InOrder { missing: u64, stamp: Stamp },
    /// Intact but older than one already received.
    Reordered(u64),
    /// Fails its checksum or length, or is not an echo of what this connection sent.
    Corrupted(String),
}

/// How a churning connection ends.
#[derive(Clone, Copy)]
enum Leave {
    /// Close frame, after the echoes in flight came back.
    Clean,
    /// Socket closed without a close frame.
    Fin,
    /// TCP reset.
    Rst,
}

fn client(ctx: Arc<Ctx>, index: u32, stayer: bool) -> Tally {
    let mut t = Tally::default();
    let mut rng = Rng::new(ctx.seed, index as u64 + 1);
    let mut key_state = rng.next_u64() | 1;
    let interval = ctx.clients as f64 / ctx.rate;
    let mut msg = Vec::new();
    let mut conn_no = 0u32;
    // Spread the first connects over a second (Godot's listen backlog is small).
    thread::sleep(Duration::from_secs_f64(rng.unit()));
    while Instant::now() < ctx.end && !ctx.abort.load(Ordering::Relaxed) {
        let mut conn = match open(&ctx, &mut key_state) {
            Ok(c) => c,
            Err((why, bad_id)) => {
                t.connect_failures += 1;
                t.bad_ids += u64::from(bad_id);
                ctx.log(format!("client {index}: connect failed: {why}"));
                thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        conn_no += 1;
        t.connections += 1;
        if t.connections > 1 {
            t.reconnects += 1;
            ctx.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let now = Instant::now();
        let life_end = if stayer || ctx.churn_life_s.is_infinite() {
            ctx.end
        } else {
            (now + Duration::from_secs_f64(rng.exp_s(ctx.churn_life_s))).min(ctx.end)
        };
        let mut seq = Seq {
            client: index,
            conn: conn_no,
            next_send: 0,
            next_recv: 0,
        };
        let mut next_send_at = now + Duration::from_secs_f64(interval * rng.unit());
        let result = (|| -> Result<(), String> {
            loop {
                let now = Instant::now();
                if ctx.abort.load(Ordering::Relaxed) {
                    return Err("the run was aborted".into());
                }
                if now >= life_end {
                    return Ok(());
                }
                if now >= next_send_at && seq.in_flight() < ctx.window {
                    seq.encode_next(&mut msg, &ctx, &mut rng);
                    conn.send_binary(&msg).map_err(|e| format!("send: {e}"))?;
                    seq.next_send += 1;
                    t.sent += 1;
                    ctx.sent.fetch_add(1, Ordering::Relaxed);
                    next_send_at += Duration::from_secs_f64(interval);
                    if next_send_at + Duration::from_secs(1) < now {
                        next_send_at = now; // far behind: no burst to catch up
                    }
                    continue;
                }
                let wait_until = if seq.in_flight() < ctx.window {
                    next_send_at.min(life_end)
                } else {
                    life_end.min(now + Duration::from_millis(100))
                };
                match conn.recv(wait_until).map_err(|e| format!("receive: {e}"))? {
                    Some(Msg::Data(d)) => seq.check(&d, &ctx, &mut t),
                    Some(Msg::Close(code)) => {
                        return Err(format!("the server closed the connection ({code})"))
                    }
                    None => {}
                }
            }
        })();
        if let Err(why) = result {
            t.broken += 1;
            if stayer {
                t.stayer_broken += 1;
            }
            t.lost += seq.in_flight();
            ctx.log(format!(
                "client {index} conn {conn_no} ({}): {why}; {} echoes missing",
                if stayer { "stayer" } else { "churner" },
                seq.in_flight()
            ));
            continue;
        }
        let leave = if life_end >= ctx.end {
            Leave::Clean
        } else {
            match rng.next_u64() % 3 {
                0 => Leave::Clean,
                1 => Leave::Fin,
                _ => Leave::Rst,
            }
        };
        if !matches!(leave, Leave::Clean) {
            // Leave with the window full: the server must cope with data arriving right before
            // the FIN or RST (and with echoes it can no longer deliver).
            while seq.in_flight() < ctx.window {
                seq.encode_next(&mut msg, &ctx, &mut rng);
                if conn.send_binary(&msg).is_err() {
                    break;
                }
                seq.next_send += 1;
                t.sent += 1;
                ctx.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        match leave {
            Leave::Clean => {
                let drained = drain(&mut conn, &mut seq, &ctx, &mut t);
                let answered = conn.close(CLOSE_WAIT, |d| seq.check(&d, &ctx, &mut t));
                t.clean_closes += 1;
                if !answered {
                    t.close_unanswered += 1;
                    ctx.log(format!(
                        "client {index} conn {conn_no}: no close frame from the server within {CLOSE_WAIT:?}"
                    ));
                }
                if let Err(why) = drained {
                    t.broken += 1;
                    t.stayer_broken += u64::from(stayer);
                    ctx.log(format!("client {index} conn {conn_no}: draining: {why}"));
                }
                if seq.in_flight() > 0 {
                    ctx.log(format!(
                        "client {index} conn {conn_no}: {} echoes never came back before the close",
                        seq.in_flight()
                    ));
                }
                t.lost += seq.in_flight();
            }
            Leave::Fin => {
                t.fin_drops += 1;
                t.in_flight_at_drop += seq.in_flight();
                conn.drop_fin();
            }
            Leave::Rst => {
                t.rst_drops += 1;
                t.in_flight_at_drop += seq.in_flight();
                conn.drop_rst();
            }
        }
    }
    t
}

/// Receives until every echo is back (or the drain timeout).
fn drain(conn: &mut Conn, seq: &mut Seq, ctx: &Ctx, t: &mut Tally) -> Result<(), String> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while seq.in_flight() > 0 && Instant::now() < deadline {
        match conn.recv(deadline).map_err(|e| e.to_string())? {
            Some(Msg::Data(d)) => seq.check(&d, ctx, t),
            Some(Msg::Close(code)) => return Err(format!("the server closed ({code})")),
            None => {}
        }
    }
    Ok(())
}

/// Connects; in multiplayer mode also reads the announced peer id. The error says why, and
/// whether the id was wrong.
fn open(ctx: &Ctx, key_state: &mut u64) -> Result<Conn, (String, bool)> {
    let mut conn =
        Conn::open(&ctx.target, key_state, OPEN_TIMEOUT).map_err(|e| (e.to_string(), false))?;
    if ctx.mp {
        match conn.recv(Instant::now() + OPEN_TIMEOUT) {
            Ok(Some(Msg::Data(d))) if d.len() == 4 => {
                let id = i32::from_le_bytes(d[..4].try_into().expect("4 bytes"));
                if id < 2 {
                    return Err((format!("announced peer id {id}"), true));
                }
            }
            Ok(Some(Msg::Data(d))) => {
                return Err((
                    format!("first message of {} bytes, not the id", d.len()),
                    true,
                ))
            }
            Ok(Some(Msg::Close(code))) => {
                return Err((format!("closed ({code}) before the id"), false))
            }
            Ok(None) => return Err(("no peer id in time".into(), false)),
            Err(e) => return Err((e.to_string(), false)),
        }
    }
    Ok(conn)
}

/// The server's get_stats(), asked for on a connection of its own ("SOAK-STATS"); that
/// connection is closed cleanly before returning.
fn server_stats(ctx: &Ctx) -> Result<String, String> {
    let mut key_state = ctx.seed ^ 0x5eed;
    let mut conn = open(ctx, &mut key_state).map_err(|(why, _)| why)?;
    conn.send_binary(b"SOAK-STATS").map_err(|e| e.to_string())?;
    let reply = match conn.recv(Instant::now() + OPEN_TIMEOUT) {
        Ok(Some(Msg::Data(d))) => d,
        Ok(Some(Msg::Close(code))) => return Err(format!("closed ({code})")),
        Ok(None) => return Err("no answer".into()),
        Err(e) => return Err(e.to_string()),
    };
    conn.close(CLOSE_WAIT, |_| {});
    let text = String::from_utf8(reply).map_err(|_| "the answer is not UTF-8".to_string())?;
    if text.starts_with('{') && text.ends_with('}') {
        Ok(text)
    } else {
        Err(format!("unexpected answer {text:?}"))
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match Args::parse(raw.into_iter()).and_then(run) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn kb_series(samples: &[Sample]) -> String {
    let items: Vec<String> = samples
        .iter()
        .map(|s| format!("[{:.0},{},{}]", s.t_s, s.rss_kb, s.fds))
        .collect();
    format!("[{}]", items.join(","))
}

/// Runs the soak; Ok(passed).
fn run(mut args: Args) -> Result<bool, String> {
    let url: String = args.req("--url")?;
    let trust = match (args.opt::<String>("--ca")?, args.flag("--insecure")) {
        (Some(path), _) => Trust::CaFile(path),
        (None, true) => Trust::Nothing,
        (None, false) => Trust::System,
    };
    let mp = args.flag("--mp");
    let duration_s: f64 = args.or("--duration", 60.0)?;
    let clients: u32 = args.or("--clients", 60)?;
    let stayers: u32 = args.or("--stayers", (clients / 4).max(1))?;
    let rate: f64 = args.or("--rate", 2000.0)?;
    let window: u64 = args.or("--window", 8)?;
    let max_body: usize = args.or("--max-body", 32 * 1024)?;
    let churn: f64 = args.or("--churn", 1.0)?;
    let seed: u64 = args.or("--seed", 1)?;
    let server_pid: Option<u32> = args.opt("--server-pid")?;
    let sample_s: f64 = args.or("--sample", 5.0)?;
    let settle_s: f64 = args.or("--settle", 20.0)?;
    let json_path: Option<String> = args.opt("--json")?;
    args.finish()?;
    if clients == 0 || stayers > clients || window == 0 || rate <= 0.0 || duration_s <= 0.0 {
        return Err("need --clients >= 1, --stayers <= --clients, --window >= 1, --rate > 0, --duration > 0".into());
    }
    if sample_s <= 0.0 || churn < 0.0 {
        return Err("--sample must be > 0 and --churn >= 0".into());
    }
    sys::raise_nofile_limit();
    let target = target::parse(&url, trust)?;
    let scheme = if target.tls.is_some() { "wss" } else { "ws" };
    let churners = clients - stayers;
    let churn_life_s = if churn > 0.0 && churners > 0 {
        churners as f64 / churn
    } else {
        f64::INFINITY
    };

    // The baseline: the server is listening and nobody is connected yet.
    let start_sample = match server_pid {
        Some(pid) => Some(monitor::sample(pid, 0.0).ok_or(format!("no process {pid}"))?),
        None => None,
    };
    let base = Instant::now();
    let ctx = Arc::new(Ctx {
        target,
        mp,
        clients,
        rate,
        window,
        max_body,
        churn_life_s,
        seed,
        base,
        end: base + Duration::from_secs_f64(duration_s),
        abort: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        errors_logged: AtomicU64::new(0),
    });
    eprintln!(
        "soak: {scheme} {} {url}: {clients} clients ({stayers} stay connected), {rate} msgs/s, window {window}, bodies 0..{max_body} B, churn {churn}/s (mean churner connection {churn_life_s:.1} s), {duration_s} s, seed {seed}",
        if mp { "multiplayer" } else { "raw" }
    );

    // The watcher: samples the server every few seconds; a vanished server aborts the run.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let watching = Arc::new(AtomicBool::new(true));
    let server_died = Arc::new(AtomicBool::new(false));
    let watcher = server_pid.map(|pid| {
        let (ctx, samples, watching, died) = (
            ctx.clone(),
            samples.clone(),
            watching.clone(),
            server_died.clone(),
        );
        thread::spawn(move || {
            let mut next = Instant::now();
            let mut next_report = Instant::now() + Duration::from_secs(60);
            while watching.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now >= next {
                    match monitor::sample(pid, ctx.base.elapsed().as_secs_f64()) {
                        Some(s) => samples.lock().expect("samples").push(s),
                        None => {
                            eprintln!("soak: the server (pid {pid}) is gone");
                            died.store(true, Ordering::Relaxed);
                            ctx.abort.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                    next += Duration::from_secs_f64(sample_s);
                }
                if now >= next_report {
                    next_report += Duration::from_secs(60);
                    let last = samples.lock().expect("samples").last().copied();
                    eprintln!(
                        "soak: {:.0} s: sent {}, received {}, reconnects {}, server RSS {} KiB, fds {}",
                        ctx.base.elapsed().as_secs_f64(),
                        ctx.sent.load(Ordering::Relaxed),
                        ctx.received.load(Ordering::Relaxed),
                        ctx.reconnects.load(Ordering::Relaxed),
                        last.map_or(0, |s| s.rss_kb),
                        last.map_or(0, |s| s.fds),
                    );
                }
                thread::sleep(Duration::from_millis(200));
            }
        })
    });

    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let ctx = ctx.clone();
            thread::Builder::new()
                .name(format!("soak-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || client(ctx, i, i < stayers))
                .map_err(|e| format!("spawning a client thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut total = Tally::default();
    for h in handles {
        match h.join() {
            Ok(t) => total.add(&t),
            Err(_) => {
                eprintln!("soak: a client thread panicked");
                total.broken += 1;
            }
        }
    }
    let load_s = base.elapsed().as_secs_f64();

    let stats = if server_died.load(Ordering::Relaxed) {
        Err("the server died".to_string())
    } else {
        server_stats(&ctx)
    };
    if let Err(e) = &stats {
        eprintln!("soak: no get_stats() from the server: {e}");
    }

    // Every client is gone: the server's descriptors must come back to the baseline.
    let mut end_sample = None;
    let mut settled_after_s = f64::NAN;
    if let (Some(pid), Some(start)) = (server_pid, start_sample) {
        let t0 = Instant::now();
        loop {
            let s = monitor::sample(pid, base.elapsed().as_secs_f64());
            end_sample = s;
            match s {
                Some(s) if s.fds == start.fds => {
                    settled_after_s = t0.elapsed().as_secs_f64();
                    break;
                }
                Some(_) if t0.elapsed().as_secs_f64() < settle_s => {
                    thread::sleep(Duration::from_millis(250))
                }
                _ => break,
            }
        }
        if let Some(s) = end_sample {
            samples.lock().expect("samples").push(s);
        }
    }
    watching.store(false, Ordering::Relaxed);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    let samples = samples.lock().expect("samples").clone();
    let series = monitor::thin(&samples, 60.0);
    let peak_rss = samples.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let peak_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    // Growth check material: the RSS a quarter into the load against the RSS at its end.
    let rss_at = |t: f64| {
        samples
            .iter()
            .find(|s| s.t_s >= t)
            .or(samples.last())
            .map_or(0, |s| s.rss_kb)
    };
    let rss_quarter = rss_at(duration_s / 4.0);
    let rss_load_end = samples
        .iter()
        .rev()
        .find(|s| s.t_s <= duration_s)
        .map_or(0, |s| s.rss_kb);

    let fds_back = match (start_sample, end_sample) {
        (Some(a), Some(b)) => Some(a.fds == b.fds),
        _ => None,
    };
    let died = server_died.load(Ordering::Relaxed);
    let passed = total.lost == 0
        && total.reordered == 0
        && total.corrupted == 0
        && total.broken == 0
        && total.bad_ids == 0
        && total.close_unanswered == 0
        && total.received > 0
        && !died
        && fds_back != Some(false);

    let us = |ns: u64| ns as f64 / 1000.0;
    let series_text: Vec<String> = series
        .iter()
        .map(|s| format!("{:.0}s {} MiB", s.t_s, s.rss_kb / 1024))
        .collect();
    let mode = if mp { "mp" } else { "raw" };
    let mut json = JsonObject::new()
        .str("mode", mode)
        .str("scheme", scheme)
        .bool("passed", passed)
        .num("duration_s", duration_s, 1)
        .num("load_wall_s", load_s, 1)
        .int("clients", clients)
        .int("stayers", stayers)
        .int("churners", churners)
        .num("rate_msgs_per_s", rate, 1)
        .int("window", window)
        .int("max_body_bytes", max_body as u64)
        .num("churn_per_s", churn, 3)
        .int("seed", seed)
        .int("sent", total.sent)
        .int("received", total.received)
        .int("lost", total.lost)
        .int("reordered", total.reordered)
        .int("corrupted", total.corrupted)
        .int("in_flight_at_drop", total.in_flight_at_drop)
        .int("connections", total.connections)
        .int("reconnects", total.reconnects)
        .int("connect_failures", total.connect_failures)
        .int("broken", total.broken)
        .int("stayer_broken", total.stayer_broken)
        .int("clean_closes", total.clean_closes)
        .int("close_unanswered", total.close_unanswered)
        .int("fin_drops", total.fin_drops)
        .int("rst_drops", total.rst_drops)
        .int("bad_peer_ids", total.bad_ids)
        .num("rtt_p50_us", us(total.rtt.quantile(0.5)), 1)
        .num("rtt_p99_us", us(total.rtt.quantile(0.99)), 1)
        .num("rtt_max_us", us(total.rtt.max()), 1)
        .bool("server_died", died);
    if let (Some(a), Some(pid)) = (start_sample, server_pid) {
        json = json
            .int("server_pid", pid)
            .int("fds_start", a.fds)
            .int("fds_end", end_sample.map_or(-1, |s| s.fds as i64))
            .int("fds_peak", peak_fds)
            .num("fds_settled_after_s", settled_after_s, 2)
            .int("rss_start_kb", a.rss_kb)
            .int("rss_quarter_kb", rss_quarter)
            .int("rss_load_end_kb", rss_load_end)
            .int("rss_peak_kb", peak_rss)
            .num("sample_every_s", sample_s, 1)
            .raw("rss_fds_series_t_kb_fds", &kb_series(&series))
            .raw("rss_fds_samples_t_kb_fds", &kb_series(&samples));
    }
    json = match &stats {
        Ok(text) => json.raw("server_stats", text),
        Err(e) => json.str("server_stats_error", e),
    };
    let json = json.finish();
    println!("{json}");
    if let Some(path) = json_path {
        if let Some(dir) = std::path::Path::new(&path).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&path, format!("{json}\n")).map_err(|e| format!("writing {path}: {e}"))?;
    }
    let fd_text = match (start_sample, end_sample) {
        (Some(a), Some(b)) => format!(
            "server fds {} at start, {} at the end ({})",
            a.fds,
            b.fds,
            if a.fds == b.fds {
                format!("back after {settled_after_s:.1} s")
            } else {
                format!("NOT back after {settle_s} s")
            }
        ),
        _ => "server not watched (no --server-pid)".into(),
    };
    eprintln!(
        "soak: {} {mode} {scheme}, {duration_s:.0} s, {clients} clients ({stayers} stayers): sent {}, received {}, lost {}, reordered {}, corrupted {}, in flight at abrupt drops {} (not loss), {} reconnects ({} clean closes, {} FIN drops, {} RST drops), {} broken connections, {} connect failures; round trip p50 {:.0} us, p99 {:.0} us; server RSS {} (peak {} MiB); {fd_text}.",
        if passed { "PASSED" } else { "FAILED" },
        total.sent,
        total.received,
        total.lost,
        total.reordered,
        total.corrupted,
        total.in_flight_at_drop,
        total.reconnects,
        total.clean_closes,
        total.fin_drops,
        total.rst_drops,
        total.broken,
        total.connect_failures,
        us(total.rtt.quantile(0.5)),
        us(total.rtt.quantile(0.99)),
        series_text.join(", "),
        peak_rss / 1024,
    );
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(client: u32, conn: u32, seq: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let stamp = Stamp {
            client,
            conn,
            seq,
            sent_ns: 0,
        };
        payload::encode(&mut out, stamp, 100, &mut Rng::new(1, seq));
        out
    }

    #[test]
    fn echoes_are_classified_against_what_was_sent() {
        let mut seq = Seq {
            client: 4,
            conn: 2,
            next_send: 10,
            next_recv: 3,
        };
        assert!(matches!(
            seq.classify(&echo(4, 2, 3)),
            Verdict::InOrder { missing: 0, .. }
        ));
        assert!(matches!(
            seq.classify(&echo(4, 2, 5)),
            Verdict::InOrder { missing: 2, .. }
        ));
        seq.next_recv = 6;
        assert_eq!(seq.classify(&echo(4, 2, 5)), Verdict::Reordered(5));
        // Never sent, another connection's, another client's, damaged.
        for bad in [echo(4, 2, 10), echo(4, 1, 7), echo(3, 2, 7)] {
            assert!(
                matches!(seq.classify(&bad), Verdict::Corrupted(_)),
                "{bad:?}"
            );
        }
        let mut damaged = echo(4, 2, 7);
        damaged[50] ^= 0x10;
        assert!(matches!(seq.classify(&damaged), Verdict::Corrupted(_)));
    }
}
