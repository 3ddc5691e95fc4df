//! One load-generator thread: a mio event loop over many non-blocking client connections.
//!
//! Nothing here allocates per message: frames are parsed in place from one read buffer per
//! thread, replies are appended to the connection's own write buffer (which keeps its capacity),
//! and round trips are measured from the timestamp carried in the payload, not from a map.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use websocket_server_bench::hist::Histogram;
use websocket_server_bench::sys::unix_time_us;

use crate::client::{self, Frame, Key, Parser, Stream, Template};
use crate::target::Target;

/// `start_ns` before the main thread starts the measurement.
pub const NOT_STARTED: u64 = u64::MAX;
/// Read buffer of each thread.
const READ_BUF: usize = 256 * 1024;
/// How long a connection waits for the answer to its close frame.
const CLOSE_WAIT_NS: u64 = 2_000_000_000;
/// How often handshake and close deadlines are checked.
const SCAN_EVERY_NS: u64 = 10_000_000;

/// State shared by the main thread and the workers.
pub struct Shared {
    pub base: Instant,
    /// Connections whose handshake ended, either way.
    pub settled: AtomicUsize,
    /// Connections that completed the handshake.
    pub established: AtomicUsize,
    /// When the main thread started the run (warm-up start), in ns since `base`.
    pub start_ns: AtomicU64,
    /// Ask the workers to close everything and end (idle mode, or giving up).
    pub stop: AtomicBool,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            base: Instant::now(),
            settled: AtomicUsize::new(0),
            established: AtomicUsize::new(0),
            start_ns: AtomicU64::new(NOT_STARTED),
            stop: AtomicBool::new(false),
        }
    }

    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep `in_flight` messages of `size` bytes in flight on every connection.
    Echo { in_flight: usize, size: usize },
    /// Close every connection once it is established.
    Connect,
    /// Hold connections until told to stop.
    Idle,
    /// Only receive timestamped messages; the control worker sends "start" and "stop".
    Broadcast { size: usize },
}

/// What one worker is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub mode: Mode,
    /// Connections this worker opens.
    pub total: usize,
    /// Most handshakes in progress at once on this worker.
    pub concurrency: usize,
    /// A handshake still unfinished after this long is given up.
    pub timeout_ns: u64,
    /// Wait for the 4-byte peer id message before counting a connection as established.
    pub mp: bool,
    pub warmup_ns: u64,
    pub duration_ns: u64,
    /// Broadcast: this worker sends "start" and "stop" on its first connection.
    pub control: bool,
    /// Seeds the Sec-WebSocket-Key generator.
    pub seed: u64,
}

/// What one worker measured.
#[derive(Default)]
pub struct Report {
    /// Echo: round trips; broadcast: server-to-client delivery; in ns.
    pub latency: Histogram,
    /// TCP connect until established (101, and the id with --mp), in ns.
    pub handshake: Histogram,
    /// Messages received during the measured window.
    pub messages: u64,
    /// Per established connection: messages received during the measured window.
    pub per_conn: Vec<u64>,
    pub connected: u64,
    /// Handshakes that failed (refused, reset, bad reply).
    pub failed: u64,
    /// Handshakes still unfinished after the timeout.
    pub timed_out: u64,
    /// Established connections that broke before the end, protocol errors, wrong sizes.
    pub errors: u64,
    /// Established connections that ended before the worker closed them.
    pub lost: u64,
    /// When the last handshake ended (ns since `base`).
    pub last_settled_ns: u64,
    /// Wrong-length or wrong-type messages.
    pub unexpected: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Upgrading,
    WaitId,
    Ready,
    /// Our close frame is out; waiting for the answer or EOF.
    Closing,
}

struct Conn {
    stream: Stream,
    phase: Phase,
    started_ns: u64,
    deadline_ns: u64,
    key: Key,
    /// The HTTP response while upgrading.
    head: Vec<u8>,
    /// Bytes not yet taken by the socket.
    out: Vec<u8>,
    parser: Parser,
    msgs: u64,
}

/// Why a connection is removed.
#[derive(Debug)]
enum End {
    /// The handshake failed.
    Failed(String),
    /// The handshake timed out.
    TimedOut,
    /// An established connection broke.
    Broken(String),
    /// Closed as planned.
    Done,
}

impl End {
    /// How a connection in `phase` ends when its socket fails or closes: as planned while
    /// closing, broken once established, failed during the handshake.
    fn in_phase(phase: Phase, why: impl Into<String>) -> End {
        match phase {
            Phase::Closing => End::Done,
            Phase::Ready => End::Broken(why.into()),
            _ => End::Failed(why.into()),
        }
    }
}

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Everything but the connections, so a connection and this can be borrowed together.
struct Logic {
    plan: Plan,
    shared: Arc<Shared>,
    target: Arc<Target>,
    template: Option<Template>,
    report: Report,
    /// Measured window, once the main thread started the run.
    window: Option<(u64, u64)>,
    /// Handshakes in progress.
    in_progress: usize,
    /// Connections in the Closing phase.
    closing: usize,
    opened: usize,
    key_state: u64,
    errors_logged: u32,
    /// Broadcast control connection (slot index).
    control_slot: Option<usize>,
    /// Set once the worker is closing everything.
    ending: bool,
}

pub struct Worker {
    poll: Poll,
    slots: Vec<Slot>,
    free: Vec<usize>,
    rbuf: Box<[u8]>,
    logic: Logic,
    name: String,
}

fn token(index: usize, generation: u32) -> Token {
    Token(((generation as usize) << 32) | index)
}

impl Worker {
    pub fn new(
        name: String,
        plan: Plan,
        shared: Arc<Shared>,
        target: Arc<Target>,
    ) -> io::Result<Worker> {
        let template = match plan.mode {
            Mode::Echo { size, .. } => Some(Template::new(size)),
            _ => None,
        };
        Ok(Worker {
            poll: Poll::new()?,
            slots: Vec::with_capacity(plan.total.min(65_536)),
            free: Vec::new(),
            rbuf: vec![0u8; READ_BUF].into_boxed_slice(),
            logic: Logic {
                plan,
                shared,
                target,
                template,
                report: Report::default(),
                window: None,
                in_progress: 0,
                closing: 0,
                opened: 0,
                key_state: plan.seed | 1,
                errors_logged: 0,
                control_slot: None,
                ending: false,
            },
            name,
        })
    }

    pub fn run(mut self) -> Report {
        let mut events = Events::with_capacity(1024);
        let mut next_scan = 0;
        let mut close_deadline = u64::MAX;
        loop {
            let now = self.logic.shared.now_ns();
            if !self.logic.ending {
                if self.logic.window.is_none() {
                    let start = self.logic.shared.start_ns.load(Ordering::Acquire);
                    if start != NOT_STARTED {
                        let from = start + self.logic.plan.warmup_ns;
                        self.logic.window = Some((from, from + self.logic.plan.duration_ns));
                        self.on_started(now);
                    }
                }
                if self.should_end(now) {
                    self.begin_ending(now);
                    close_deadline = now + CLOSE_WAIT_NS;
                } else {
                    self.open_more(now);
                }
            }
            if self.logic.ending && (self.live() == 0 || now >= close_deadline) {
                break;
            }
            if now >= next_scan && (self.logic.in_progress > 0 || self.logic.closing > 0) {
                self.scan_deadlines(now);
                next_scan = now + SCAN_EVERY_NS;
            }
            let mut timeout = Duration::from_millis(5);
            if let Some((_, end)) = self.logic.window {
                if !self.logic.ending && end > now {
                    timeout = timeout.min(Duration::from_nanos(end - now));
                }
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    eprintln!("{}: poll failed: {e}", self.name);
                    break;
                }
            }
            for event in events.iter() {
                let Token(t) = event.token();
                let (index, generation) = (t & 0xffff_ffff, (t >> 32) as u32);
                let closed = event.is_read_closed() || event.is_error();
                let readable = event.is_readable() || closed;
                self.on_event(index, generation, readable, closed);
            }
        }
        // Whatever is left (close answers that never came) is dropped here.
        for index in 0..self.slots.len() {
            if self.slots[index].conn.is_some() {
                self.remove(index, End::Done);
            }
        }
        self.logic.report
    }

    fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn should_end(&self, now: u64) -> bool {
        if self.logic.shared.stop.load(Ordering::Acquire) {
            return true;
        }
        match self.logic.plan.mode {
            Mode::Echo { .. } | Mode::Broadcast { .. } => {
                matches!(self.logic.window, Some((_, end)) if now >= end)
            }
            Mode::Connect => {
                self.logic.opened == self.logic.plan.total && self.logic.in_progress == 0
            }
            Mode::Idle => false,
        }
    }

    /// The main thread started the run: broadcast's control connection says "start".
    fn on_started(&mut self, _now: u64) {
        if !matches!(self.logic.plan.mode, Mode::Broadcast { .. }) || !self.logic.plan.control {
            return;
        }
        let Some(index) = self.logic.control_slot else {
            eprintln!("{}: no connection to send \"start\" on", self.name);
            return;
        };
        if let Some(conn) = self.slots[index].conn.as_mut() {
            client::push_frame(&mut conn.out, client::OP_TEXT, b"start");
            eprintln!("{}: sent \"start\"", self.name);
        }
        self.flush_slot(index);
    }

    /// Sends "stop" (broadcast control), a close frame on every established connection, and
    /// drops those still handshaking.
    fn begin_ending(&mut self, now: u64) {
        self.logic.ending = true;
        if let (Mode::Broadcast { .. }, true, Some(index)) = (
            self.logic.plan.mode,
            self.logic.plan.control,
            self.logic.control_slot,
        ) {
            if let Some(conn) = self.slots[index].conn.as_mut() {
                client::push_frame(&mut conn.out, client::OP_TEXT, b"stop");
                eprintln!("{}: sent \"stop\"", self.name);
            }
        }
        for index in 0..self.slots.len() {
            let Some(conn) = self.slots[index].conn.as_mut() else {
                continue;
            };
            match conn.phase {
                Phase::Ready => {
                    client::push_close(&mut conn.out, 1000);
                    conn.phase = Phase::Closing;
                    conn.deadline_ns = now + CLOSE_WAIT_NS;
                    self.logic.closing += 1;
                    self.logic.report.per_conn.push(conn.msgs);
                    self.flush_slot(index);
                }
                Phase::Closing => {}
                _ => self.remove(index, End::TimedOut),
            }
        }
    }

    fn open_more(&mut self, now: u64) {
        while self.logic.in_progress < self.logic.plan.concurrency
            && self.logic.opened < self.logic.plan.total
        {
            self.logic.opened += 1;
            if let Err(e) = self.open(now) {
                self.logic.report.failed += 1;
                self.logic.settle(now);
                self.logic.log(&self.name, &format!("connect: {e}"));
            }
        }
    }

    fn open(&mut self, now: u64) -> io::Result<()> {
        let target = self.logic.target.clone();
        let tcp = TcpStream::connect(target.addr)?;
        tcp.set_nodelay(true)?;
        let mut stream = Stream::new(tcp, target.tls.as_ref())?;
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                conn: None,
            });
            self.slots.len() - 1
        });
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        if let Err(e) = self.poll.registry().register(
            stream.tcp_mut(),
            token(index, slot.generation),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push(index);
            return Err(e);
        }
        slot.conn = Some(Conn {
            stream,
            phase: Phase::Connecting,
            started_ns: now,
            deadline_ns: now + self.logic.plan.timeout_ns,
            key: client::new_key(&mut self.logic.key_state),
            head: Vec::new(),
            out: Vec::new(),
            parser: Parser::default(),
            msgs: 0,
        });
        self.logic.in_progress += 1;
        Ok(())
    }

    fn scan_deadlines(&mut self, now: u64) {
        for index in 0..self.slots.len() {
            let Some(conn) = &self.slots[index].conn else {
                continue;
            };
            if conn.deadline_ns > now {
                continue;
            }
            match conn.phase {
                Phase::Connecting | Phase::Upgrading | Phase::WaitId => {
                    self.remove(index, End::TimedOut)
                }
                Phase::Closing => self.remove(index, End::Done),
                Phase::Ready => {}
            }
        }
    }

    /// `closed`: the peer's side has ended (or failed); read until the end is seen.
    fn on_event(&mut self, index: usize, generation: u32, readable: bool, closed: bool) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if slot.generation != generation {
            return; // an event for a connection that is gone
        }
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        let logic = &mut self.logic;
        let mut result = Ok(());
        if conn.phase == Phase::Connecting {
            result = connect_progress(conn, logic);
        }
        if result.is_ok() && readable && conn.phase != Phase::Connecting {
            result = read_all(conn, logic, &mut self.rbuf, index, closed);
        }
        // Edge-triggered: every event (readable or writable) is a chance to write what waits.
        if result.is_ok() && conn.phase != Phase::Connecting {
            result = flush(conn);
        }
        if let Err(end) = result {
            self.remove(index, end);
        }
    }

    fn flush_slot(&mut self, index: usize) {
        let result = match self.slots[index].conn.as_mut() {
            Some(conn) if conn.phase != Phase::Connecting => flush(conn),
            _ => Ok(()),
        };
        if let Err(end) = result {
            self.remove(index, end);
        }
    }

    fn remove(&mut self, index: usize, end: End) {
        let Some(mut conn) = self.slots[index].conn.take() else {
            return;
        };
        let _ = self.poll.registry().deregister(conn.stream.tcp_mut());
        self.free.push(index);
        let now = self.logic.shared.now_ns();
        let logic = &mut self.logic;
        match conn.phase {
            Phase::Connecting | Phase::Upgrading | Phase::WaitId => {
                logic.in_progress -= 1;
                match end {
                    End::TimedOut => {
                        logic.report.timed_out += 1;
                        let waiting_for = match conn.phase {
                            Phase::Connecting => "the TCP connect",
                            Phase::Upgrading => "the 101 reply",
                            _ => "the 4-byte peer id (--mp against a server that sends none?)",
                        };
                        if !logic.ending {
                            logic.log(
                                &self.name,
                                &format!("handshake timed out waiting for {waiting_for}"),
                            );
                        }
                    }
                    End::Failed(why) | End::Broken(why) => {
                        logic.report.failed += 1;
                        logic.log(&self.name, &format!("handshake failed: {why}"));
                    }
                    End::Done => logic.report.failed += 1,
                }
                logic.settle(now);
            }
            Phase::Ready => {
                // Ended before we closed it.
                logic.report.per_conn.push(conn.msgs);
                logic.report.lost += 1;
                if logic.plan.mode != Mode::Connect {
                    logic.report.errors += 1;
                    let why = match end {
                        End::Failed(w) | End::Broken(w) => w,
                        End::TimedOut => "timed out".into(),
                        End::Done => "closed".into(),
                    };
                    logic.log(&self.name, &format!("connection lost: {why}"));
                }
            }
            Phase::Closing => logic.closing -= 1,
        }
        if logic.control_slot == Some(index) {
            logic.control_slot = None;
        }
        // Dropping the stream closes the socket.
        drop(conn);
    }
}

impl Logic {
    fn settle(&mut self, now: u64) {
        self.report.last_settled_ns = self.report.last_settled_ns.max(now);
        self.shared.settled.fetch_add(1, Ordering::AcqRel);
    }

    fn log(&mut self, name: &str, message: &str) {
        self.errors_logged += 1;
        if self.errors_logged <= 5 {
            eprintln!("{name}: {message}");
        } else if self.errors_logged == 6 {
            eprintln!("{name}: (more errors not shown)");
        }
    }

    /// The handshake is complete.
    fn on_ready(&mut self, conn: &mut Conn, index: usize, now: u64) {
        conn.phase = Phase::Ready;
        self.in_progress -= 1;
        self.report.connected += 1;
        self.report
            .handshake
            .record(now.saturating_sub(conn.started_ns));
        self.shared.established.fetch_add(1, Ordering::AcqRel);
        self.settle(now);
        conn.head = Vec::new();
        match self.plan.mode {
            Mode::Echo { in_flight, .. } => {
                if let Some(template) = &self.template {
                    for _ in 0..in_flight {
                        template.push(&mut conn.out, now);
                    }
                }
            }
            Mode::Connect => {
                client::push_close(&mut conn.out, 1000);
                conn.phase = Phase::Closing;
                conn.deadline_ns = now + CLOSE_WAIT_NS;
                self.closing += 1;
            }
            Mode::Idle => conn.out.shrink_to_fit(),
            Mode::Broadcast { .. } => {
                conn.out.shrink_to_fit();
                if self.plan.control && self.control_slot.is_none() {
                    self.control_slot = Some(index);
                }
            }
        }
    }

    #[inline]
    fn in_window(&self, now: u64) -> bool {
        matches!(self.window, Some((from, to)) if now >= from && now < to)
    }

    /// A whole data message on an established connection.
    #[inline]
    fn on_message(&mut self, conn: &mut Conn, text: bool, len: u64, head: [u8; 8], now: u64) {
        match self.plan.mode {
            Mode::Echo { size, .. } => {
                if text || len != size as u64 {
                    self.report.unexpected += 1;
                    self.report.errors += 1;
                }
                let in_window = self.in_window(now);
                if in_window {
                    let sent = u64::from_le_bytes(head);
                    self.report.latency.record(now.saturating_sub(sent));
                    self.report.messages += 1;
                    conn.msgs += 1;
                }
                if let (Some(template), false) = (&self.template, self.ending) {
                    template.push(&mut conn.out, now);
                }
            }
            Mode::Broadcast { size } => {
                if len != size as u64 {
                    self.report.unexpected += 1;
                }
                if self.in_window(now) {
                    let sent_us = i64::from_le_bytes(head);
                    let delay_us = (unix_time_us() - sent_us).max(0) as u64;
                    self.report.latency.record(delay_us * 1000);
                    self.report.messages += 1;
                    conn.msgs += 1;
                }
            }
            Mode::Connect | Mode::Idle => {}
        }
    }
}

/// A connect in progress: did it complete?
fn connect_progress(conn: &mut Conn, logic: &mut Logic) -> Result<(), End> {
    let tcp = conn.stream.tcp();
    match tcp.take_error() {
        Ok(None) => {}
        Ok(Some(e)) | Err(e) => return Err(End::Failed(format!("connect: {e}"))),
    }
    match tcp.peer_addr() {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()), // not yet
        Err(e) => return Err(End::Failed(format!("connect: {e}"))),
    }
    conn.phase = Phase::Upgrading;
    client::request(
        &mut conn.out,
        &logic.target.host_header,
        &logic.target.path,
        &conn.key,
    );
    Ok(())
}

/// Reads everything there is and reacts to it.
fn read_all(
    conn: &mut Conn,
    logic: &mut Logic,
    rbuf: &mut [u8],
    index: usize,
    closed: bool,
) -> Result<(), End> {
    loop {
        let n = match conn.stream.read(rbuf) {
            Ok(0) => {
                return Err(End::in_phase(
                    conn.phase,
                    "the server closed the connection",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(End::in_phase(conn.phase, e.to_string())),
        };
        // One clock read per read call: every message in it arrived by now.
        let now = logic.shared.now_ns();
        process(conn, logic, &rbuf[..n], index, now)?;
        // Edge-triggered: a short read on a TCP socket means its buffer is empty now, and new
        // data will raise a new edge; skip the read that would only say WouldBlock. Not when
        // the peer's FIN is already in (it raises no new edge: the end must be read now), nor
        // with TLS (rustls buffers internally).
        if n < rbuf.len() && !closed && !conn.stream.is_tls() {
            return Ok(());
        }
    }
}

fn process(
    conn: &mut Conn,
    logic: &mut Logic,
    data: &[u8],
    index: usize,
    now: u64,
) -> Result<(), End> {
    if conn.phase == Phase::Upgrading {
        conn.head.extend_from_slice(data);
        let head_len = match client::check_response(&conn.head, &conn.key) {
            Ok(None) => return Ok(()),
            Ok(Some(n)) => n,
            Err(e) => return Err(End::Failed(e)),
        };
        let rest = std::mem::take(&mut conn.head);
        if logic.plan.mp {
            conn.phase = Phase::WaitId;
        } else {
            logic.on_ready(conn, index, now);
        }
        return frames(conn, logic, &rest[head_len..], index, now);
    }
    frames(conn, logic, data, index, now)
}

#[inline]
fn frames(
    conn: &mut Conn,
    logic: &mut Logic,
    data: &[u8],
    index: usize,
    now: u64,
) -> Result<(), End> {
    let mut pos = 0;
    while pos < data.len() {
        let (used, frame) = match conn.parser.next(&data[pos..]) {
            Ok(r) => r,
            // Counted where the connection is removed (an error once established, a failed
            // handshake before).
            Err(why) => return Err(End::Broken(format!("protocol error: {why}"))),
        };
        pos += used;
        let Some(frame) = frame else {
            continue;
        };
        match frame {
            Frame::Data { text, len, head } => match conn.phase {
                Phase::Ready => logic.on_message(conn, text, len, head, now),
                Phase::WaitId => {
                    if text || len != 4 {
                        return Err(End::Failed(format!(
                            "expected the 4-byte peer id, got a {len}-byte {} message",
                            if text { "text" } else { "binary" }
                        )));
                    }
                    logic.on_ready(conn, index, now);
                }
                _ => {}
            },
            Frame::Ping { payload, len } => {
                client::push_frame(&mut conn.out, client::OP_PONG, &payload[..len as usize])
            }
            Frame::Pong => {}
            Frame::Close { code } => {
                if conn.phase == Phase::Closing {
                    return Err(End::Done); // the answer to our close
                }
                // The server closes: answer, then end.
                client::push_close(&mut conn.out, code);
                let _ = flush(conn);
                return Err(match conn.phase {
                    Phase::Ready => End::Broken(format!("the server closed with {code}")),
                    _ => End::Failed(format!("the server closed with {code}")),
                });
            }
        }
    }
    Ok(())
}

/// Writes what is queued, as far as the socket takes it.
fn flush(conn: &mut Conn) -> Result<(), End> {
    while !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(0) => return Err(End::Broken("write returned 0".into())),
            Ok(n) if n == conn.out.len() => conn.out.clear(),
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(End::in_phase(conn.phase, e.to_string())),
        }
    }
    match conn.stream.flush_records() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(match conn.phase {
            Phase::Closing => End::Done,
            _ => End::Broken(e.to_string()),
        }),
    }
}
