//! The main thread's side: starting and stopping the reactor, taking its events, giving it
//! commands.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Poll, Waker};
use parking_lot::Mutex;

use crate::config::ServerConfig;
use crate::error::{SendError, StartError};
use crate::events::{Command, Event, Targets};
use crate::frame;
use crate::handshake;
use crate::listener;
use crate::pace::MainThreadPace;
use crate::peer::{PeerId, PeerShared};
use crate::reactor::{self, Reactor, WAKER};
use crate::stats::Stats;
use crate::tls::{self, TlsIdentity};
use crate::tls_slot::{TlsSlot, UpdateTlsError};

/// The queues between the threads. Each side swaps a whole batch per lock, never one message.
pub(crate) struct Shared {
    pub events: Mutex<Vec<Event>>,
    pub commands: Mutex<Vec<Command>>,
    pub stop_requested: AtomicBool,
    pub refuse_new: AtomicBool,
    pub main_thread: MainThreadPace,
    /// The network thread is parked because the main thread polls flat out (`reactor.rs`).
    pub network_thread_parked: AtomicBool,
    /// Counters and connection limits (`stats.rs`).
    pub stats: Arc<Stats>,
    /// How many [`FlushHold`]s are alive: while any is, [`Sender::flush`] does nothing.
    pub flush_holds: AtomicUsize,
}

/// Sends commands to the reactor. Cheap to clone; every per-peer object may hold one.
#[derive(Clone)]
pub struct Sender {
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    /// For [`Sender::flush`]; weak so that a peer object outliving the server does not keep its
    /// sockets open.
    reactor: Weak<Mutex<Reactor>>,
}

/// From [`Sender::hold_flushes`]: flushes are held back while it lives.
#[must_use = "flushes are held only while the guard lives"]
#[derive(Debug)]
pub struct FlushHold {
    sender: Sender,
}

impl Drop for FlushHold {
    fn drop(&mut self) {
        if self
            .sender
            .shared
            .flush_holds
            .fetch_sub(1, Ordering::Relaxed)
            == 1
        {
            self.sender.flush();
        }
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Sender {
    fn push(&self, command: Command) {
        if self.shared.stop_requested.load(Ordering::Acquire) {
            return; // nobody would ever take it
        }
        let mut commands = self.shared.commands.lock();
        let was_empty = commands.is_empty();
        commands.push(command);
        drop(commands);
        // The reactor takes the whole queue per turn: one wake-up per batch is enough. A parked
        // network thread is not woken: the main thread polls flat out and runs the next turn
        // itself within microseconds, and the thread runs one when it takes over.
        if was_empty && !self.shared.network_thread_parked.load(Ordering::Acquire) {
            let _ = self.waker.wake();
        }
    }

    /// Writes what was queued so far now, on this thread, when the main thread polls flat out
    /// (the network thread is parked then and the next poll would write it); otherwise the
    /// network thread has been woken for it already and this does nothing.
    ///
    /// Meant for the end of a drain loop: replies queued while reading a batch leave together,
    /// without waiting for the next frame.
    pub fn flush(&self) {
        if self.shared.flush_holds.load(Ordering::Relaxed) > 0
            || self.shared.commands.lock().is_empty()
            || !self.shared.main_thread.is_spinning()
        {
            return;
        }
        if let Some(reactor) = self.reactor.upgrade() {
            if let Some(mut reactor) = reactor.try_lock() {
                reactor.run_queued_commands();
            }
        }
    }

    /// Holds back [`Sender::flush`] until the returned guard is dropped; dropping the last hold
    /// flushes. For a caller that hands a batch of messages to code that reads and answers them
    /// one at a time (a signal per message): every drain loop would otherwise write its one
    /// reply with its own system call, where the whole batch's replies can leave together.
    pub fn hold_flushes(&self) -> FlushHold {
        self.shared.flush_holds.fetch_add(1, Ordering::Relaxed);
        FlushHold {
            sender: self.clone(),
        }
    }

    /// Makes the reactor panic on purpose at `site` on its next turn (tests of panic
    /// containment; `fault-injection` feature only).
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&self, site: crate::faults::FaultSite) {
        self.push(Command::InjectFault(site));
    }

    fn check_running(&self) -> Result<(), SendError> {
        if self.shared.stop_requested.load(Ordering::Acquire) {
            Err(SendError::Stopped)
        } else {
            Ok(())
        }
    }

    /// Queues one message for one peer.
    pub fn send(&self, peer: &PeerShared, payload: &[u8], text: bool) -> Result<(), SendError> {
        self.check_running()?;
        if !peer.accepts_sends() {
            return Err(SendError::NotConnected);
        }
        peer.reserve_outbound(payload.len())
            .map_err(|(queued_bytes, queued_messages)| SendError::OutboundFull {
                queued_bytes,
                queued_messages,
            })?;
        self.push(Command::Send {
            peers: Targets::One(peer.id()),
            frame: frame::encode_data_frame(payload, text),
            payload_len: payload.len(),
        });
        Ok(())
    }

    /// Queues one message for several peers, encoded once. Peers that are gone or whose queue is
    /// full are skipped and returned with the reason.
    pub fn broadcast<'a>(
        &self,
        peers: impl IntoIterator<Item = &'a PeerShared>,
        payload: &[u8],
        text: bool,
    ) -> Result<Vec<(PeerId, SendError)>, SendError> {
        self.check_running()?;
        let mut ids = Vec::new();
        let mut refused = Vec::new();
        for peer in peers {
            if !peer.accepts_sends() {
                refused.push((peer.id(), SendError::NotConnected));
                continue;
            }
            match peer.reserve_outbound(payload.len()) {
                Ok(()) => ids.push(peer.id()),
                Err((queued_bytes, queued_messages)) => refused.push((
                    peer.id(),
                    SendError::OutboundFull {
                        queued_bytes,
                        queued_messages,
                    },
                )),
            }
        }
        if !ids.is_empty() {
            self.push(Command::Send {
                peers: Targets::Many(ids),
                frame: frame::encode_data_frame(payload, text),
                payload_len: payload.len(),
            });
        }
        Ok(refused)
    }

    /// Starts a clean close of one peer; its `Disconnected` event follows. Sends to it are
    /// refused from now on.
    pub fn close(&self, peer: &PeerShared, code: u16, reason: &str) {
        peer.mark_closing();
        self.push(Command::Close {
            peer: peer.id(),
            code,
            reason: reason.to_string(),
        });
    }

    /// Drops a peer at once: no closing handshake, no `Disconnected` event.
    pub fn drop_peer(&self, peer: &PeerShared) {
        peer.mark_closed();
        self.push(Command::Drop { peer: peer.id() });
    }

    /// Admission control: upgrades the waiting request `peer` (a `Connected` event follows).
    pub fn admit(&self, peer: PeerId) {
        self.push(Command::Admit { peer });
    }

    /// Admission control: refuses the waiting request `peer` with an HTTP `status` and `reason`
    /// (checked with [`crate::admission::validate_rejection`]); no event follows.
    pub fn reject(&self, peer: PeerId, status: u16, reason: &str) -> Result<(), String> {
        crate::admission::validate_rejection(status, reason)?;
        self.push(Command::Reject {
            peer,
            reply: crate::admission::rejection_reply(status, reason),
        });
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or on for one peer.
    pub fn set_no_delay(&self, peer: PeerId, enabled: bool) {
        self.push(Command::SetNoDelay { peer, enabled });
    }

    /// Marks one message of `len` bytes of `peer` as consumed, and resumes reading the socket if
    /// the limits had paused it.
    pub fn consume_inbound(&self, peer: &PeerShared, len: usize) {
        if peer.consume_inbound(len) {
            self.push(Command::ResumeRead { peer: peer.id() });
        }
    }
}

/// A listening WebSocket server: the reactor thread and the queues to it.
///
/// Dropping it stops the server like [`Server::stop`].
pub struct Server {
    sender: Sender,
    /// Shared with the network thread (see [`Server::drain_events`]); dropped by stop() so the
    /// listener and every socket close.
    reactor: Option<Arc<Mutex<Reactor>>>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
    /// wss://: the configuration new connections start with (see [`Server::update_tls`]).
    tls: Option<Arc<TlsSlot>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listener (errors are returned here, synchronously) and starts the reactor.
    pub fn start(config: ServerConfig) -> Result<Server, StartError> {
        for (name, value) in &config.extra_headers {
            handshake::validate_extra_header(name, value).map_err(StartError::InvalidConfig)?;
        }
        let limits = config.limits;
        if limits.inbound_bytes == 0
            || limits.inbound_messages == 0
            || limits.outbound_bytes == 0
            || limits.outbound_messages == 0
        {
            return Err(StartError::InvalidConfig(
                "buffer limits must be greater than 0".into(),
            ));
        }
        let tls = match &config.tls {
            Some(identity) => Some(Arc::new(TlsSlot::new(
                tls::server_config(identity).map_err(StartError::Tls)?,
            ))),
            None => None,
        };
        let listener = listener::bind(config.bind, config.port, config.backlog)?;
        let local_addr = listener.local_addr().map_err(StartError::Io)?;
        let poll = Poll::new().map_err(StartError::Io)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(StartError::Io)?);
        let shared = Arc::new(Shared {
            events: Mutex::new(Vec::new()),
            commands: Mutex::new(Vec::new()),
            stop_requested: AtomicBool::new(false),
            refuse_new: AtomicBool::new(false),
            main_thread: MainThreadPace::new(),
            network_thread_parked: AtomicBool::new(false),
            flush_holds: AtomicUsize::new(0),
            stats: Arc::new(Stats::new(
                config.max_connections,
                config.max_connections_per_ip,
            )),
        });
        let slot = tls.clone();
        let reactor = Reactor::new(poll, listener, config, tls, shared.clone(), waker.clone())
            .map_err(StartError::Io)?;
        let reactor = Arc::new(Mutex::new(reactor));
        let thread = {
            let (reactor, shared) = (reactor.clone(), shared.clone());
            std::thread::Builder::new()
                .name("websocket-server".into())
                .spawn(move || reactor::run_network_thread(reactor, shared))
                .map_err(StartError::Io)?
        };
        Ok(Server {
            sender: Sender {
                shared,
                waker,
                reactor: Arc::downgrade(&reactor),
            },
            reactor: Some(reactor),
            thread: Some(thread),
            local_addr,
            tls: slot,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many peer ids the server holds now: connections past their upgrade request and, for
    /// `ServerConfig::id_quarantine`, departed ones. 0 after stop. For diagnostics and tests.
    pub fn reserved_peer_ids(&self) -> usize {
        self.reactor
            .as_ref()
            .map_or(0, |reactor| reactor.lock().reserved_ids())
    }

    /// A handle for sending; stays usable (returning [`SendError::Stopped`]) after stop.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Moves every pending event into `out` (appending), oldest first.
    ///
    /// First, unless the network thread is in a turn right now, runs one reactor turn on the
    /// calling thread: what is ready (received messages, commands queued since the last turn) is
    /// handled at once. When this is called flat out (polls less than a millisecond apart) these
    /// turns do all the network work and the network thread stays parked; at a game's frame rate
    /// the network thread does it between calls. A turn never waits and takes at most a bounded
    /// number of readiness events.
    pub fn drain_events(&self, out: &mut Vec<Event>) {
        if let Some(reactor) = &self.reactor {
            self.sender.shared.main_thread.record_poll();
            if let Some(mut reactor) = reactor.try_lock() {
                reactor.turn_from_main_thread();
            }
        }
        let mut queue = self.sender.shared.events.lock();
        if out.is_empty() {
            std::mem::swap(out, &mut *queue);
        } else {
            out.append(&mut queue);
        }
    }

    /// Stops the reactor: each client gets a 1001 close frame (best effort) and its socket closed,
    /// the port is freed, pending events are discarded. Returns once the thread has ended.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.sender
            .shared
            .stop_requested
            .store(true, Ordering::Release);
        let _ = self.sender.waker.wake();
        thread.thread().unpark();
        let _ = thread.join();
        self.reactor = None;
        self.sender.shared.events.lock().clear();
        self.sender.shared.commands.lock().clear();
    }

    /// Graceful shutdown: starts the closing handshake with every peer (`code`, `reason`), waits
    /// on the calling thread until each has answered and closed its side or `timeout` passed,
    /// then [`Server::stop`]s (peers still there get a 1001 close, best effort). New upgrades
    /// are refused meanwhile. The events of the wait are discarded, like stop()'s. Returns
    /// whether every peer was done before the timeout.
    pub fn shutdown(&mut self, code: u16, reason: &str, timeout: Duration) -> bool {
        let Some(reactor) = self.reactor.clone() else {
            return true;
        };
        self.set_refuse_new_connections(true);
        self.sender.push(Command::CloseAll {
            code,
            reason: reason.to_string(),
        });
        let deadline = Instant::now() + timeout;
        let done = loop {
            if let Some(mut reactor) = reactor.try_lock() {
                reactor.turn_from_main_thread();
                if reactor.only_handshakes_left() {
                    break true;
                }
            }
            if Instant::now() >= deadline {
                break false;
            }
            // The network thread does the work too; this only checks back.
            std::thread::sleep(Duration::from_millis(1));
        };
        drop(reactor);
        self.stop();
        done
    }

    /// Refuses (`true`) or admits new connections: while refusing, upgrades are answered with
    /// HTTP 503; connected peers are not affected.
    pub fn set_refuse_new_connections(&self, refuse: bool) {
        self.sender
            .shared
            .refuse_new
            .store(refuse, Ordering::Release);
    }

    /// Whether new connections are refused.
    pub fn is_refusing_new_connections(&self) -> bool {
        self.sender.shared.refuse_new.load(Ordering::Acquire)
    }

    /// Replaces the wss:// key and certificates while listening (certificate renewal): connections
    /// accepted from now on are served `identity`; connected ones, and ones in their TLS handshake,
    /// go on with the old. On error nothing changes.
    pub fn update_tls(&self, identity: &TlsIdentity) -> Result<(), UpdateTlsError> {
        let Some(slot) = &self.tls else {
            return Err(UpdateTlsError::NotTls);
        };
        if self.reactor.is_none() {
            return Err(UpdateTlsError::Stopped);
        }
        let config = tls::server_config(identity).map_err(UpdateTlsError::Tls)?;
        slot.replace(config);
        Ok(())
    }

    /// Whether the server was started for wss:// (with a TLS identity).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The server's counters and connection limits; the handle stays readable after stop.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.sender.shared.stats
    }

    /// Whether the reactor thread is still running (false after stop, or if it died).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
