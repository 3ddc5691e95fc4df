//! The server process seen from outside: resident memory and open descriptors, from /proc.

use std::fs;

/// One look at the server.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the load started (negative before).
    pub t_s: f64,
    pub rss_kb: u64,
    pub fds: u64,
}

/// `VmRSS` of `pid` in KiB; `None` once the process is gone.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Open descriptors of `pid` (entries of /proc/PID/fd); `None` once the process is gone.
pub fn fds(pid: u32) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Both, or `None` once the process is gone.
pub fn sample(pid: u32, t_s: f64) -> Option<Sample> {
    Some(Sample {
        t_s,
        rss_kb: rss_kb(pid)?,
        fds: fds(pid)?,
    })
}

/// One sample per `every_s` (the first at or after each multiple), plus the last one: the compact
/// series the report prints.
pub fn thin(samples: &[Sample], every_s: f64) -> Vec<Sample> {
    let mut out: Vec<Sample> = Vec::new();
    let mut next = 0.0;
    for s in samples {
        if s.t_s >= next {
            out.push(*s);
            while next <= s.t_s {
                next += every_s;
            }
        }
    }
    if let (Some(last), Some(kept)) = (samples.last(), out.last()) {
        if last.t_s > kept.t_s {
            out.push(*last);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        let pid = std::process::id();
        assert!(rss_kb(pid).unwrap() > 0);
        assert!(fds(pid).unwrap() >= 3);
        assert!(sample(u32::MAX, 0.0).is_none());
    }

    #[test]
    fn thinning_keeps_one_per_period_and_the_last() {
        let samples: Vec<Sample> = (0..25)
            .map(|i| Sample {
                t_s: i as f64 * 5.0,
                rss_kb: i,
                fds: 0,
            })
            .collect();
        let kept: Vec<u64> = thin(&samples, 60.0).iter().map(|s| s.rss_kb).collect();
        assert_eq!(kept, vec![0, 12, 24]);
        let kept: Vec<u64> = thin(&samples[..23], 60.0)
            .iter()
            .map(|s| s.rss_kb)
            .collect();
        assert_eq!(kept, vec![0, 12, 22]);
    }
}
