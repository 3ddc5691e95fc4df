//! Heartbeat and dead-peer detection.
//!
//! No timer per connection: each connection notes when it last heard from its peer and when it
//! last pinged it (two `Instant`s), and the reactor sweeps every connection a few times per
//! period, on a single deadline of its own. A sweep of thousands of idle connections is a pass
//! over a map, with no system call except for the pings it writes.
//!
//! Defaults: nginx's `proxy_read_timeout` and many load balancers close a connection that stayed
//! silent for 60 s, so a ping every 25 s keeps a quiet connection open through them with room to
//! spare. A live client answers each ping, so it is heard from at least every 25 s; 60 s of
//! silence (two missed pings and then some) means it is gone or stopped reading.

use std::time::Duration;

use crate::config::ServerConfig;

/// Default [`ServerConfig::heartbeat_interval`].
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(25);
/// Default [`ServerConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Time between sweeps, or `None` when both checks are off. A quarter of the shorter period,
/// so a ping or an idle close comes at most that late; at most a second, at least 10 ms.
pub(crate) fn sweep_period(config: &ServerConfig) -> Option<Duration> {
    [config.heartbeat_interval, config.idle_timeout]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
        .map(|d| (d / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_period_is_a_quarter_of_the_shorter_period_within_10_ms_and_1_s() {
        let config = |heartbeat: f64, idle: f64| ServerConfig {
            heartbeat_interval: Duration::from_secs_f64(heartbeat),
            idle_timeout: Duration::from_secs_f64(idle),
            ..ServerConfig::default()
        };
        assert_eq!(sweep_period(&config(0.0, 0.0)), None);
        assert_eq!(
            sweep_period(&config(0.0, 2.0)),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            sweep_period(&config(0.4, 0.0)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            sweep_period(&config(25.0, 60.0)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            sweep_period(&config(0.001, 60.0)),
            Some(Duration::from_millis(10))
        );
    }
}
