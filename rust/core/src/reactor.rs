//! The network thread: one mio event loop that owns the listener and every connection.
//!
//! Each turn: wait for readiness (or the next deadline), accept until WouldBlock, read/write the
//! ready connections, run the commands the main thread queued, fire deadlines, write what the
//! turn queued (one vectored write per connection), then publish the turn's events in one batch.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use rand::Rng;

use crate::config::ServerConfig;
use crate::connection::{Connection, Context};
use crate::events::{Command, Event, Targets};
use crate::listener;
use crate::peer::PeerId;
use crate::server::Shared;
use crate::transport::Transport;

pub(crate) const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
const FIRST_CONNECTION: usize = 2;

pub(crate) struct Reactor {
    poll: Poll,
    listener: TcpListener,
    config: ServerConfig,
    /// wss://: every accepted socket starts a rustls session with this.
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
    connections: HashMap<Token, Connection>,
    /// Live peer ids and their connections.
    peers: HashMap<PeerId, Token>,
    /// Deadlines by time; stale entries (connection gone or deadline moved) are skipped.
    deadlines: BinaryHeap<Reverse<(Instant, Token)>>,
    /// Tokens are never reused, so a stale event or deadline cannot hit a newer connection.
    next_token: usize,
    events: Vec<Event>,
    /// Connections touched this turn that may have output to write.
    touched: Vec<Token>,
}

impl Reactor {
    pub fn new(
        poll: Poll,
        mut listener: TcpListener,
        config: ServerConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        shared: Arc<Shared>,
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
            deadlines: BinaryHeap::new(),
            next_token: FIRST_CONNECTION,
            events: Vec::new(),
            touched: Vec::new(),
        })
    }

    /// Runs until the main thread asks it to stop.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .deadlines
                .peek()
                .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    break;
                }
            }
            if self.shared.stop_requested.load(Ordering::Acquire) {
                break;
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => self.accept(now),
                    token => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.with_connection(token, now, |conn, cx| conn.on_readable(cx));
                        }
                        self.touched.push(token);
                    }
                }
            }
            self.run_commands(now);
            self.fire_deadlines(now);
            self.flush_touched(now);
            self.publish();
        }
        self.shutdown();
    }

    fn accept(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, addr)) => {
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
                        continue;
                    }
                    let Ok(transport) = Transport::new(stream, self.tls.as_ref()) else {
                        continue;
                    };
                    let deadline = now + self.config.handshake_timeout;
                    self.connections.insert(
                        token,
                        Connection::new(transport, listener::normalize(addr), deadline),
                    );
                    self.deadlines.push(Reverse((deadline, token)));
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
            allocate_id: &mut allocate_id,
            now,
            refuse_new: self.shared.refuse_new.load(Ordering::Acquire),
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(conn, &mut cx)));
        if result.is_err() {
            // A bug in one connection must not take the server down: that peer is dropped
            // (reported as an unclean disconnect if the main thread knew it).
            if let Some(id) = conn.peer_id() {
                self.events.push(Event::Disconnected {
                    peer: id,
                    clean: false,
                });
            }
            conn.drop_silently();
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
            if let Some(id) = conn.peer_id() {
                self.peers.remove(&id);
            }
            let _ = self.poll.registry().deregister(conn.tcp_mut());
        }
    }

    fn run_commands(&mut self, now: Instant) {
        let commands = std::mem::take(&mut *self.shared.commands.lock());
        for command in commands {
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
                                reactor.touched.push(token);
                            }
                        }
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
                        self.touched.push(token);
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
                        self.touched.push(token);
                    }
                }
            }
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

    fn flush_touched(&mut self, now: Instant) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for token in touched.drain(..) {
            self.with_connection(token, now, |conn, _| conn.flush());
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
    fn shutdown(mut self) {
        for conn in self.connections.values_mut() {
            conn.shutdown("server stopped");
        }
        self.connections.clear();
        self.shared.events.lock().clear();
    }
}
