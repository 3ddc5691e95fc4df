//! Whether the main thread is polling flat out, which decides who runs the reactor.
//!
//! Two threads can run reactor turns (see `reactor.rs`). When the main thread calls
//! `Server::drain_events` in a tight loop (a headless server running flat out, or any loop faster
//! than [`SPIN_INTERVAL`]), its own turns pick up every message within microseconds, and the
//! network thread stays parked: waking it would only cost context switches, and on a shared CPU
//! it would not even run before the next scheduler tick. When the main thread polls at a game's
//! frame rate (or stops), the network thread does the work between frames, as soon as sockets are
//! ready. A flat-out main thread that stops polling for [`TAKEOVER_AFTER`] hands the work back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A main thread back to poll within this after its previous poll ended counts as flat out. A
/// game paced at 60 fps polls every 16.7 ms, at 144 fps every 6.9 ms (also Godot's headless
/// default); a flat-out loop that reads and answers a few hundred large messages per frame still
/// comes back well within this. The poll's own turn is not counted: a turn that signs a burst of
/// TLS handshakes can take milliseconds, and the loop around it is still flat out.
pub(crate) const SPIN_INTERVAL: Duration = Duration::from_millis(4);
/// A flat-out main thread that has not polled for this long has stopped (a long frame, a
/// loading pause): the network thread takes the work back. Its periodic checks until then cost a
/// timer interrupt and two context switches each, so they are kept rare.
pub(crate) const TAKEOVER_AFTER: Duration = Duration::from_millis(10);

/// When the main thread last polled, and how long it had been away before that poll.
#[derive(Debug)]
pub(crate) struct MainThreadPace {
    epoch: Instant,
    /// When the last poll started, or ended once it has; microseconds since `epoch`, 0 = never.
    last_poll_us: AtomicU64,
    interval_us: AtomicU64,
}

impl MainThreadPace {
    pub fn new() -> MainThreadPace {
        MainThreadPace {
            epoch: Instant::now(),
            last_poll_us: AtomicU64::new(0),
            interval_us: AtomicU64::new(u64::MAX),
        }
    }

    fn now_us(&self) -> u64 {
        // +1 keeps 0 free for "never".
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    /// The main thread starts a poll now.
    pub fn poll_started(&self) {
        let now = self.now_us();
        let ended = self.last_poll_us.swap(now, Ordering::AcqRel);
        let interval = if ended == 0 { u64::MAX } else { now - ended };
        self.interval_us.store(interval, Ordering::Release);
    }

    /// The main thread's poll (and its turn, if it ran one) is over: its time away counts from
    /// now.
    pub fn poll_ended(&self) {
        self.last_poll_us.store(self.now_us(), Ordering::Release);
    }

    /// While the main thread polls flat out: how long until it counts as stopped (the network
    /// thread parks that long, then checks again). `None`: it is not polling flat out.
    pub fn spinning_for(&self) -> Option<Duration> {
        if self.interval_us.load(Ordering::Acquire) >= SPIN_INTERVAL.as_micros() as u64 {
            return None;
        }
        let since = self
            .now_us()
            .saturating_sub(self.last_poll_us.load(Ordering::Acquire));
        let window = TAKEOVER_AFTER.as_micros() as u64;
        (since < window).then(|| Duration::from_micros(window - since))
    }

    /// Whether the main thread polls flat out right now.
    pub fn is_spinning(&self) -> bool {
        self.spinning_for().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_polled_is_not_spinning() {
        assert!(!MainThreadPace::new().is_spinning());
    }

    #[test]
    fn one_poll_is_not_spinning() {
        let pace = MainThreadPace::new();
        pace.poll_started();
        pace.poll_ended();
        assert!(!pace.is_spinning());
    }

    #[test]
    fn back_to_back_polls_spin_until_the_main_thread_stops() {
        let pace = MainThreadPace::new();
        pace.poll_started();
        pace.poll_ended();
        pace.poll_started();
        let left = pace.spinning_for().expect("two polls in a row");
        assert!(left <= TAKEOVER_AFTER);
        std::thread::sleep(TAKEOVER_AFTER + Duration::from_millis(1));
        assert!(
            !pace.is_spinning(),
            "no poll for longer than TAKEOVER_AFTER"
        );
    }

    #[test]
    fn a_long_poll_does_not_end_flat_out() {
        let pace = MainThreadPace::new();
        pace.poll_started();
        pace.poll_ended();
        pace.poll_started();
        // A turn longer than SPIN_INTERVAL (a burst of TLS handshakes), then straight back.
        std::thread::sleep(SPIN_INTERVAL + Duration::from_millis(1));
        pace.poll_ended();
        pace.poll_started();
        assert!(pace.is_spinning());
    }

    #[test]
    fn polls_at_a_frame_rate_do_not_spin() {
        let pace = MainThreadPace::new();
        pace.poll_started();
        pace.poll_ended();
        std::thread::sleep(SPIN_INTERVAL * 3);
        pace.poll_started();
        assert!(!pace.is_spinning());
    }
}
