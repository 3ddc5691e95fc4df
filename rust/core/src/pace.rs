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

/// Polls closer together than this count as flat out. A game paced at 60 fps polls every
/// 16.7 ms, at 144 fps every 6.9 ms (also Godot's headless default); a flat-out loop that reads
/// and answers a few hundred large messages per frame still polls well within this.
pub(crate) const SPIN_INTERVAL: Duration = Duration::from_millis(4);
/// A flat-out main thread that has not polled for this long has stopped (a long frame, a
/// loading pause): the network thread takes the work back. Its periodic checks until then cost a
/// timer interrupt and two context switches each, so they are kept rare.
pub(crate) const TAKEOVER_AFTER: Duration = Duration::from_millis(10);

/// When the main thread last polled, and how long before that it had polled.
#[derive(Debug)]
pub(crate) struct MainThreadPace {
    epoch: Instant,
    /// Microseconds since `epoch`; 0 = never.
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

    /// The main thread is polling now.
    pub fn record_poll(&self) {
        let now = self.now_us();
        let before = self.last_poll_us.swap(now, Ordering::AcqRel);
        let interval = if before == 0 { u64::MAX } else { now - before };
        self.interval_us.store(interval, Ordering::Release);
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
        pace.record_poll();
        assert!(!pace.is_spinning());
    }

    #[test]
    fn back_to_back_polls_spin_until_the_main_thread_stops() {
        let pace = MainThreadPace::new();
        pace.record_poll();
        pace.record_poll();
        let left = pace.spinning_for().expect("two polls in a row");
        assert!(left <= TAKEOVER_AFTER);
        std::thread::sleep(TAKEOVER_AFTER + Duration::from_millis(1));
        assert!(
            !pace.is_spinning(),
            "no poll for longer than TAKEOVER_AFTER"
        );
    }

    #[test]
    fn polls_at_a_frame_rate_do_not_spin() {
        let pace = MainThreadPace::new();
        pace.record_poll();
        std::thread::sleep(SPIN_INTERVAL * 3);
        pace.record_poll();
        assert!(!pace.is_spinning());
    }
}
