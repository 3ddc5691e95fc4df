//! The event loop that owns the listener and every connection, and the network thread that runs it.
//!
//! Each turn: take the ready sockets, accept until WouldBlock, read/write the ready connections,
//! run the commands the main thread queued, fire deadlines, write what the turn queued (one
//! vectored write per connection), then publish the turn's events in one batch.
//!
//! The reactor sits behind a mutex and a turn never blocks, so two threads can run it: the
//! network thread, which sleeps until the poller has something, and the main thread, which runs a
//! turn inside `Server::drain_events` when the network thread is not in one. While the main
//! thread polls flat out the network thread stays parked and leaves the work to it (`pace.rs`):
//! a thread woken by the kernel does not preempt a busy one on its CPU until the next scheduler
//! tick (4 ms on Linux with HZ=250), so a flat-out main loop sharing a CPU with the network
//! thread would otherwise see every message that late, and on separate CPUs every hand-over
//! costs a cross-CPU wake-up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;
use rand::Rng;

use crate::config::ServerConfig;
use crate::connection::{Connection, Context};
use crate::events::{Command, Event, Targets};
use crate::faults;
use crate::input::ReadBuffer;
use crate::listener;
use crate::liveness;
use crate::peer::PeerId;
use crate::server::Shared;
use crate::stats::Slots;
use crate::tls_slot::TlsSlot;
use crate::transport::Transport;

pub(crate) const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
const FIRST_CONNECTION: usize = 2;
/// Most readiness events one turn takes; what is left waits for the next turn, which bounds the
/// time a turn on the main thread can take.
const EVENTS_PER_TURN: usize = 32;

pub(crate) struct Reactor {
    poll: Poll,
    listener: TcpListener,
    config: ServerConfig,
    /// wss://: every accepted socket starts a rustls session with what this holds then.
    tls: Option<Arc<TlsSlot>>,
    shared: Arc<Shared>,
    connections: HashMap<Token, Connection>,
    /// Peer ids and their connections: live ones, and departed ones in quarantine.
    peers: HashMap<PeerId, Token>,
    /// Ids of connections that are gone, with when they may be forgotten: until then they stay in
    /// `peers` (pointing at a token no connection has any more), so a new client cannot get the id
    /// of one that just left while commands for the old one may still be on their way.
    retired_ids: VecDeque<(Instant, PeerId, Token)>,
    /// Deadlines by time; stale entries (connection gone or deadline moved) are skipped.
    deadlines: BinaryHeap<Reverse<(Instant, Token)>>,
    /// Tokens are never reused, so a stale event or deadline cannot hit a newer connection.
    next_token: usize,
    events: Vec<Event>,
    /// Connections touched this turn that may have output to write, each once, in the order they
    /// were touched: written in that order, so no connection is always last.
    touched: Vec<Token>,
    /// Lent to the connection being read (see `input.rs`).
    read_buffer: ReadBuffer,
    /// Readiness buffer reused by every turn.
    ready: Events,
    /// Sockets reported ready that a turn left for the next one when its time ran out
    /// (`ServerConfig::turn_budget`): the poller reports readiness once (edge-triggered), so they
    /// are kept here and handled, in order, before the poller is asked again.
    deferred: VecDeque<Token>,
    waker: Arc<Waker>,
    /// When the network thread's current wait ends by itself (`None`: only readiness ends it).
    /// A turn on the main thread that files an earlier deadline wakes it.
    thread_wakes_at: Option<Instant>,
    /// When the next liveness sweep is due (`liveness.rs`); `None` while there is nothing to sweep.
    liveness_at: Option<Instant>,
    /// Connections per address, against the connection limits.
    slots: Slots,
}

impl Reactor {
    pub fn new(
        poll: Poll,
        mut listener: TcpListener,
        config: ServerConfig,
        tls: Option<Arc<TlsSlot>>,
        shared: Arc<Shared>,
        waker: Arc<Waker>,
    ) -> io::Result<Reactor> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Reactor {
            poll,
            listener,
            config,
            tls,
            shared,
            connections: HashMap::new(),
            peers: HashMap::new(),
            retired_ids: VecDeque::new(),
            deadlines: BinaryHeap::new(),
            next_token: FIRST_CONNECTION,
            events: Vec::new(),
            touched: Vec::new(),
            read_buffer: ReadBuffer::new(),
            ready: Events::with_capacity(EVENTS_PER_TURN),
            deferred: VecDeque::new(),
            waker,
            thread_wakes_at: None,
            liveness_at: None,
            slots: Slots::default(),
        })
    }

    /// Ids in the id table: live connections past their upgrade request, and departed ones still
    /// in quarantine.
    pub fn reserved_ids(&self) -> usize {
        self.peers.len()
    }

    /// One turn: handles whatever is ready now and returns without waiting.
    pub fn turn(&mut self) {
        self.turn_waiting(Some(Duration::ZERO));
    }

    /// A turn on the main thread (see the module doc). It may file a deadline earlier than the
    /// one the network thread sleeps until; the thread is then woken to wait for the new one.
    pub fn turn_from_main_thread(&mut self) {
        self.turn();
        if !self.deferred.is_empty() && !self.shared.main_thread.is_spinning() {
            // At a game's frame rate the next poll is a frame away: the network thread takes
            // the sockets this turn had no time for.
            self.thread_wakes_at = Some(Instant::now());
            let _ = self.waker.wake();
            return;
        }
        let next = self.next_deadline();
        if next.is_some_and(|at| self.thread_wakes_at.is_none_or(|wakes| at < wakes)) {
            self.thread_wakes_at = next;
            let _ = self.waker.wake();
        }
    }

    /// Runs the commands queued so far and writes what they queued, without looking at the
    /// sockets (`Sender::flush`).
    pub fn run_queued_commands(&mut self) {
        self.contained(|reactor| {
            let now = Instant::now();
            reactor.run_commands(now);
            reactor.flush_touched(now);
        });
        self.publish();
    }

    /// A turn that first waits up to `timeout` (`None`: until something is ready).
    fn turn_waiting(&mut self, timeout: Option<Duration>) {
        self.contained(|reactor| reactor.turn_inner(timeout));
        self.publish();
    }

    /// Runs `work` and contains a panic in it (`faults.rs`): the rest of that turn is lost, so
    /// every connection is filed for writing again and the next turn finds all it needs.
    fn contained(&mut self, work: impl FnOnce(&mut Reactor)) {
        let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| work(&mut *self))) else {
            return;
        };
        self.events.push(Event::Fault {
            peer: None,
            message: faults::panic_message(payload.as_ref()),
        });
        if self.ready.capacity() == 0 {
            self.ready = Events::with_capacity(EVENTS_PER_TURN);
        }
        self.touched.clear();
        let tokens: Vec<Token> = self.connections.keys().copied().collect();
        for token in &tokens {
            if let Some(conn) = self.connections.get_mut(token) {
                conn.flush_pending = false;
            }
        }
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            for token in tokens {
                self.touch(token);
            }
            self.flush_touched(Instant::now());
        }));
    }

    fn turn_inner(&mut self, timeout: Option<Duration>) {
        let now = if self.deferred.is_empty() {
            self.handle_ready(timeout)
        } else {
            self.handle_deferred()
        };
        self.run_commands(now);
        self.fire_deadlines(now);
        self.sweep_liveness(now);
        self.flush_touched(now);
    }

    /// Asks the poller (waiting up to `timeout`) and handles what it reports, until the turn's
    /// budget is spent; the rest goes to `deferred`. Returns the turn's time.
    fn handle_ready(&mut self, timeout: Option<Duration>) -> Instant {
        let mut ready = std::mem::replace(&mut self.ready, Events::with_capacity(0));
        match self.poll.poll(&mut ready, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => ready.clear(),
            Err(_) => ready.clear(),
        }
        let now = Instant::now();
        let mut events = ready.iter();
        for event in events.by_ref() {
            match event.token() {
                WAKER => continue,
                LISTENER => self.accept(now),
                token => {
                    let hang_up = event.is_read_closed() || event.is_error();
                    if event.is_readable() || hang_up {
                        self.with_connection(token, now, |conn, cx| conn.on_readable(cx, hang_up));
                    }
                    self.touch(token);
                }
            }
            if now.elapsed() >= self.config.turn_budget {
                break;
            }
        }
        self.deferred.extend(
            events
                .map(|event| event.token())
                .filter(|&token| token != WAKER),
        );
        self.ready = ready;
        now
    }

    /// Handles sockets an earlier turn left over, oldest first, until the turn's budget is spent.
    /// Each is read as if reported readable (and written later in the turn): reading a socket
    /// with nothing to read costs one `WouldBlock`, and one that was only writable gets written.
    fn handle_deferred(&mut self) -> Instant {
        let now = Instant::now();
        while let Some(token) = self.deferred.pop_front() {
            if token == LISTENER {
                self.accept(now);
            } else {
                // As after a hang-up: read until `WouldBlock`, not just one short read.
                self.with_connection(token, now, |conn, cx| conn.on_readable(cx, true));
                self.touch(token);
            }
            if now.elapsed() >= self.config.turn_budget {
                break;
            }
        }
        now
    }

    /// The earliest deadline on file (stale entries included: waking early is harmless).
    fn next_deadline(&self) -> Option<Instant> {
        let heap = self.deadlines.peek().map(|Reverse((at, _))| *at);
        match (heap, self.liveness_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Heartbeat pings and idle closes, for every connection at once when the sweep is due.
    fn sweep_liveness(&mut self, now: Instant) {
        if self.liveness_at.is_none_or(|at| at > now) {
            return;
        }
        let tokens: Vec<Token> = self.connections.keys().copied().collect();
        for token in tokens {
            let mut queued = false;
            self.with_connection(token, now, |conn, cx| queued = conn.check_liveness(cx));
            if queued {
                self.touch(token);
            }
        }
        self.liveness_at = match liveness::sweep_period(&self.config) {
            Some(period) if !self.connections.is_empty() => Some(now + period),
            _ => None,
        };
    }

    /// Graceful shutdown: nothing is left but connections still in their handshake.
    pub fn only_handshakes_left(&self) -> bool {
        self.connections.values().all(|c| c.is_handshaking())
    }

    /// What the network thread may wait for without missing a deadline; records it.
    fn thread_timeout(&mut self) -> Option<Duration> {
        if !self.deferred.is_empty() {
            // Sockets left over by the last turn: no waiting.
            self.thread_wakes_at = Some(Instant::now());
            return Some(Duration::ZERO);
        }
        self.thread_wakes_at = self.next_deadline();
        self.thread_wakes_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn accept(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, addr)) => {
                    let addr = listener::normalize(addr);
                    let stats = &self.shared.stats;
                    let admitted = self.slots.try_take(addr.ip(), stats);
                    if !admitted {
                        stats.refused();
                        if self.tls.is_some() {
                            // wss://: no HTTP before TLS, and no TLS work for a refused
                            // connection: dropping the socket closes it.
                            continue;
                        }
                    }
                    let _ = stream.set_nodelay(self.config.no_delay);
                    #[cfg(target_vendor = "apple")]
                    let _ = socket2::SockRef::from(&stream).set_nosigpipe(true);
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        if admitted {
                            self.slots.release(addr.ip(), &self.shared.stats);
                        }
                        continue;
                    }
                    let tls = if admitted {
                        self.tls.as_ref().map(|slot| slot.current())
                    } else {
                        None
                    };
                    let Ok(transport) = Transport::new(stream, tls.as_ref()) else {
                        if admitted {
                            self.slots.release(addr.ip(), &self.shared.stats);
                        }
                        continue;
                    };
                    let stats = self.shared.stats.clone();
                    if !admitted {
                        // Draining bounded by close_timeout like any ending connection.
                        let deadline = now + self.config.close_timeout;
                        self.connections
                            .insert(token, Connection::refused(transport, addr, deadline, stats));
                        self.deadlines.push(Reverse((deadline, token)));
                        self.touch(token);
                        continue;
                    }
                    let deadline = now + self.config.handshake_timeout;
                    self.connections
                        .insert(token, Connection::new(transport, addr, deadline, stats));
                    self.deadlines.push(Reverse((deadline, token)));
                    if self.liveness_at.is_none() {
                        self.liveness_at =
                            liveness::sweep_period(&self.config).map(|period| now + period);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors or a connection reset before accept: try again on the next
                // readiness event rather than spin.
                Err(_) => return,
            }
        }
    }

    /// Runs `f` on one connection with a context, contains a panic to that connection, then
    /// files its new deadline and removes it when done.
    fn with_connection(
        &mut self,
        token: Token,
        now: Instant,
        f: impl FnOnce(&mut Connection, &mut Context),
    ) {
        let Some(conn) = self.connections.get_mut(&token) else {
            return; // sporadic events for closed connections happen
        };
        let before = conn.deadline;
        let held_slot = conn.holds_slot();
        let peers = &mut self.peers;
        let mut allocate_id = || {
            let mut rng = rand::rng();
            loop {
                let id = rng.random_range(2..=i32::MAX);
                if let std::collections::hash_map::Entry::Vacant(slot) = peers.entry(id) {
                    slot.insert(token);
                    return id;
                }
            }
        };
        let mut cx = Context {
            config: &self.config,
            events: &mut self.events,
            read_buffer: &mut self.read_buffer,
            allocate_id: &mut allocate_id,
            now,
            refuse_new: self.shared.refuse_new.load(Ordering::Acquire),
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(conn, &mut cx)));
        if let Err(payload) = result {
            // A bug in one connection must not take the server down: that peer is dropped
            // (reported as an unclean disconnect if the main thread knew it).
            self.events.push(Event::Fault {
                peer: conn.allocated_id(),
                message: faults::panic_message(payload.as_ref()),
            });
            if let Some(id) = conn.peer_id() {
                self.events.push(Event::Disconnected {
                    peer: id,
                    clean: false,
                });
            }
            conn.drop_silently();
        }
        if held_slot && !conn.holds_slot() {
            self.slots.release(conn.addr().ip(), &self.shared.stats);
        }
        if conn.deadline != before {
            if let Some(at) = conn.deadline {
                self.deadlines.push(Reverse((at, token)));
            }
        }
        if conn.is_done() {
            self.remove(token);
        }
    }

    fn remove(&mut self, token: Token) {
        if let Some(mut conn) = self.connections.remove(&token) {
            if let Some(id) = conn.allocated_id() {
                self.retired_ids
                    .push_back((Instant::now() + self.config.id_quarantine, id, token));
            }
            let _ = self.poll.registry().deregister(conn.tcp_mut());
        }
    }

    /// Forgets the ids of connections that have been gone for `id_quarantine`, so `peers` holds
    /// live connections and recent ones only, however long the server runs.
    fn forget_retired_ids(&mut self, now: Instant) {
        while let Some(&(at, id, token)) = self.retired_ids.front() {
            if at > now {
                break;
            }
            self.retired_ids.pop_front();
            if self.peers.get(&id) == Some(&token) {
                self.peers.remove(&id);
            }
        }
    }

    fn run_commands(&mut self, now: Instant) {
        self.forget_retired_ids(now);
        let commands = std::mem::take(&mut *self.shared.commands.lock());
        for command in commands {
            // A panic running one command costs that command only (`faults.rs`).
            if let Err(payload) =
                panic::catch_unwind(AssertUnwindSafe(|| self.run_command(command, now)))
            {
                self.events.push(Event::Fault {
                    peer: None,
                    message: faults::panic_message(payload.as_ref()),
                });
            }
        }
    }

    fn run_command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Send {
                peers,
                frame,
                payload_len,
            } => {
                let send_to = |reactor: &mut Reactor, id: PeerId| {
                    if let Some(&token) = reactor.peers.get(&id) {
                        if let Some(conn) = reactor.connections.get_mut(&token) {
                            conn.send_frame(frame.clone(), payload_len);
                            if !conn.flush_pending {
                                conn.flush_pending = true;
                                reactor.touched.push(token);
                            }
                            return;
                        }
                    }
                    // The peer is gone: its reservation leaves the queued total.
                    reactor.shared.stats.unqueued_out(payload_len);
                };
                match peers {
                    Targets::One(id) => send_to(self, id),
                    Targets::Many(ids) => ids.into_iter().for_each(|id| send_to(self, id)),
                }
            }
            Command::Close { peer, code, reason } => {
                if let Some(&token) = self.peers.get(&peer) {
                    self.with_connection(token, now, |conn, cx| {
                        conn.start_close(code, &reason, cx)
                    });
                    self.touch(token);
                }
            }
            Command::CloseAll { code, reason } => {
                let tokens: Vec<Token> = self.connections.keys().copied().collect();
                for token in tokens {
                    self.with_connection(token, now, |conn, cx| {
                        conn.start_close(code, &reason, cx)
                    });
                    self.touch(token);
                }
            }
            Command::Drop { peer } => {
                if let Some(&token) = self.peers.get(&peer) {
                    self.with_connection(token, now, |conn, _| conn.drop_silently());
                }
            }
            Command::SetNoDelay { peer, enabled } => {
                if let Some(&token) = self.peers.get(&peer) {
                    if let Some(conn) = self.connections.get_mut(&token) {
                        conn.set_no_delay(enabled);
                    }
                }
            }
            Command::ResumeRead { peer } => {
                if let Some(&token) = self.peers.get(&peer) {
                    self.with_connection(token, now, |conn, cx| conn.resume_reading(cx));
                    self.touch(token);
                }
            }
            Command::Admit { peer } => {
                if let Some(&token) = self.peers.get(&peer) {
                    self.with_connection(token, now, |conn, cx| conn.admit(cx));
                    self.touch(token);
                }
            }
            Command::Reject { peer, reply } => {
                if let Some(&token) = self.peers.get(&peer) {
                    self.with_connection(token, now, |conn, cx| conn.reject(reply, cx));
                    self.touch(token);
                }
            }
            #[cfg(feature = "fault-injection")]
            Command::InjectFault(site) => match site {
                faults::FaultSite::Connection(peer) => {
                    if let Some(&token) = self.peers.get(&peer) {
                        self.with_connection(token, now, |_, _| {
                            panic!("injected fault while handling peer {peer}")
                        });
                    }
                }
                faults::FaultSite::Turn => panic!("injected fault in a reactor turn"),
            },
        }
    }

    fn fire_deadlines(&mut self, now: Instant) {
        while let Some(&Reverse((at, token))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let current = self.connections.get(&token).and_then(|c| c.deadline);
            if current.is_some_and(|d| d <= now) {
                self.with_connection(token, now, |conn, cx| conn.on_deadline(cx));
            }
        }
    }

    /// Files a connection for this turn's writes (once).
    fn touch(&mut self, token: Token) {
        if let Some(conn) = self.connections.get_mut(&token) {
            if !conn.flush_pending {
                conn.flush_pending = true;
                self.touched.push(token);
            }
        }
    }

    fn flush_touched(&mut self, now: Instant) {
        let mut touched = std::mem::take(&mut self.touched);
        for token in touched.drain(..) {
            self.with_connection(token, now, |conn, cx| {
                conn.flush_pending = false;
                conn.flush();
                // Reading stopped by a backlog of pongs goes on once it is written, until the
                // socket has nothing to read or cannot take more (both bring a readiness event).
                while conn.resume_after_output(cx) {
                    conn.flush();
                }
            });
        }
        self.touched = touched;
    }

    fn publish(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let mut queue = self.shared.events.lock();
        if queue.is_empty() {
            std::mem::swap(&mut *queue, &mut self.events);
        } else {
            queue.append(&mut self.events);
        }
    }

    /// stop() or drop: every client gets a 1001 close frame (one write attempt) and is closed.
    fn shutdown(&mut self) {
        for conn in self.connections.values_mut() {
            conn.shutdown("server stopped");
        }
        self.connections.clear();
        self.slots.clear(&self.shared.stats);
        self.shared.events.lock().clear();
    }
}

/// The network thread: parked while the main thread polls flat out (its turns do the work);
/// otherwise sleeps until the poller has something (or the next deadline) and runs a turn. Ends
/// with [`Reactor::shutdown`] once the main thread asks it to stop.
pub(crate) fn run_network_thread(reactor: Arc<Mutex<Reactor>>, shared: Arc<Shared>) {
    while !shared.stop_requested.load(Ordering::Acquire) {
        if let Some(left) = shared.main_thread.spinning_for() {
            // Checked again when the main thread would count as stopped by then. Senders do not
            // wake a parked thread (see Sender::push).
            shared.network_thread_parked.store(true, Ordering::Release);
            std::thread::park_timeout(left);
            continue;
        }
        if shared.network_thread_parked.swap(false, Ordering::AcqRel) {
            // Taking over: commands queued while this thread was parked woke nobody.
            reactor.lock().turn();
            continue;
        }
        wait(&reactor);
        if shared.stop_requested.load(Ordering::Acquire) || shared.main_thread.is_spinning() {
            continue;
        }
        reactor.lock().turn();
    }
    reactor.lock().shutdown();
}

/// Unix: waits on the poller's descriptor (epoll/kqueue are pollable) without holding the lock,
/// so the main thread can run turns meanwhile.
#[cfg(unix)]
fn wait(reactor: &Mutex<Reactor>) {
    use std::os::fd::AsRawFd;
    let (fd, timeout) = {
        let mut r = reactor.lock();
        (r.poll.as_raw_fd(), r.thread_timeout())
    };
    let millis = match timeout {
        None => -1,
        // Rounded up: waking a little late is fine, waking early only costs an empty turn.
        Some(t) => t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
    };
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the descriptor lives as long as the reactor, which outlives
    // this thread's loop. EINTR and errors just end the wait early.
    unsafe { libc::poll(&mut pollfd, 1, millis) };
}

/// Elsewhere (Windows' poller cannot be waited on from outside): the thread waits inside the
/// poller, holding the lock, so the main thread's `try_lock` mostly fails and the network thread
/// does the work alone.
#[cfg(not(unix))]
fn wait(reactor: &Mutex<Reactor>) {
    let mut r = reactor.lock();
    let timeout = r.thread_timeout();
    r.turn_waiting(timeout);
}
