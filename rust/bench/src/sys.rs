//! The few libc calls the tools need: CPU time, the descriptor limit, timer slack.

use std::time::{SystemTime, UNIX_EPOCH};

/// User + system CPU time of the whole process so far, in seconds (`getrusage(RUSAGE_SELF)`).
pub fn process_cpu_s() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: plain get/set of a resource limit through structs we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                return wanted.rlim_cur as u64;
            }
        }
        limit.rlim_cur as u64
    }
}

/// Sets this thread's timer slack (Linux): without it a 50 µs sleep lasts ~100 µs, because the
/// default slack is 50 µs. No-op elsewhere.
pub fn set_timer_slack_ns(ns: u64) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = ns;
}

/// Wall-clock time in microseconds since the UNIX epoch (what Godot's
/// `Time.get_unix_time_from_system()` gives, times 10^6).
#[inline]
pub fn unix_time_us() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}
