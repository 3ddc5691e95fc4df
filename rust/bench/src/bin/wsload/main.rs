//! `wsload`: a WebSocket load generator with a fixed number of threads, each a mio event loop
//! over many non-blocking connections. One JSON object on stdout, progress on stderr.
//! See README.md for the modes, flags and fields.

mod args;
mod client;
mod target;
mod worker;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use websocket_server_bench::hist::Histogram;
use websocket_server_bench::json::JsonObject;
use websocket_server_bench::sys;

use args::Args;
use target::{Target, Trust};
use worker::{Mode, Plan, Report, Shared, Worker};

const USAGE: &str = "\
usage:
  wsload echo --url URL --connections C --in-flight W --size S --duration SECS [--warmup SECS=1]
              [--mp] [--threads N=1] [--ramp-concurrency N=200] [--timeout SECS=10] [--ca FILE] [--insecure]
  wsload connect --url URL --total K --concurrency N [--timeout SECS=10] [--mp] [--threads N=1]
  wsload idle --url URL --connections K --duration SECS [--mp] [--ramp-concurrency N=200] [--timeout SECS=10]
  wsload broadcast --url URL --clients K --duration SECS [--warmup SECS=1] [--mp] [--size S=64]
              [--threads N=1] [--ramp-concurrency N=200] [--timeout SECS=10]
  (every mode also takes --ca FILE / --insecure for wss://; TLS sessions are never resumed:
   every connection makes a full handshake)";

fn main() -> ExitCode {
    let mut raw = std::env::args().skip(1);
    let Some(mode) = raw.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if mode == "-h" || mode == "--help" {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = Args::parse(raw).and_then(|args| match mode.as_str() {
        "echo" => echo(args),
        "connect" => connect(args),
        "idle" => idle(args),
        "broadcast" => broadcast(args),
        other => Err(format!("unknown mode {other:?}")),
    });
    match result {
        Ok((json, ok)) => {
            println!("{json}");
            if ok {
                ExitCode::SUCCESS
            } else {
                eprintln!("wsload: no connection was established");
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("wsload: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Options every mode has.
struct Common {
    target: Arc<Target>,
    mp: bool,
    threads: usize,
    timeout_s: f64,
}

fn common(args: &mut Args) -> Result<Common, String> {
    let url: String = args.req("--url")?;
    let trust = match (args.opt::<String>("--ca")?, args.flag("--insecure")) {
        (Some(path), _) => Trust::CaFile(path),
        (None, true) => Trust::Nothing,
        (None, false) => Trust::System,
    };
    let threads: usize = args.or("--threads", 1)?;
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    let timeout_s: f64 = args.or("--timeout", 10.0)?;
    Ok(Common {
        target: Arc::new(target::parse(&url, trust)?),
        mp: args.flag("--mp"),
        threads,
        timeout_s,
    })
}

fn seconds(s: f64) -> u64 {
    (s.max(0.0) * 1e9) as u64
}

/// Starts `threads` workers sharing `total` connections and `concurrency` handshakes.
fn spawn(
    common: &Common,
    shared: &Arc<Shared>,
    mode: Mode,
    total: usize,
    concurrency: usize,
    warmup_s: f64,
    duration_s: f64,
) -> Result<Vec<thread::JoinHandle<Report>>, String> {
    let threads = common.threads.min(total.max(1));
    let mut handles = Vec::new();
    for i in 0..threads {
        let plan = Plan {
            mode,
            total: total / threads + usize::from(i < total % threads),
            concurrency: (concurrency / threads + usize::from(i < concurrency % threads)).max(1),
            timeout_ns: seconds(common.timeout_s),
            mp: common.mp,
            warmup_ns: seconds(warmup_s),
            duration_ns: seconds(duration_s),
            control: i == 0,
            seed: shared.base.elapsed().as_nanos() as u64 ^ ((i as u64 + 1) << 40),
        };
        let name = format!("wsload-{i}");
        let worker = Worker::new(name.clone(), plan, shared.clone(), common.target.clone())
            .map_err(|e| format!("creating a poll: {e}"))?;
        handles.push(
            thread::Builder::new()
                .name(name)
                .spawn(move || worker.run())
                .map_err(|e| format!("spawning a thread: {e}"))?,
        );
    }
    Ok(handles)
}

fn join(handles: Vec<thread::JoinHandle<Report>>) -> Report {
    let mut total = Report::default();
    for handle in handles {
        let Ok(r) = handle.join() else {
            eprintln!("wsload: a worker thread panicked");
            total.errors += 1;
            continue;
        };
        total.latency.merge(&r.latency);
        total.handshake.merge(&r.handshake);
        total.messages += r.messages;
        total.per_conn.extend(r.per_conn);
        total.connected += r.connected;
        total.failed += r.failed;
        total.timed_out += r.timed_out;
        total.errors += r.errors;
        total.lost += r.lost;
        total.unexpected += r.unexpected;
        total.last_settled_ns = total.last_settled_ns.max(r.last_settled_ns);
    }
    total
}

/// Waits until every connection's handshake ended (workers give up on each after the timeout).
/// Echo and broadcast: opens `count` connections, waits until they are settled, lets them run
/// `warmup_s` unmeasured, then `duration_s` measured. Returns the workers' report and the
/// process CPU seconds of the measured window.
#[allow(clippy::too_many_arguments)]
fn run_measured(
    common: &Common,
    mode: Mode,
    count: usize,
    noun: &str,
    ramp: usize,
    warmup_s: f64,
    duration_s: f64,
) -> Result<(Report, f64), String> {
    let shared = Arc::new(Shared::new());
    let handles = spawn(common, &shared, mode, count, ramp, warmup_s, duration_s)?;
    wait_settled(&shared, count);
    let established = shared.established.load(Ordering::Acquire);
    eprintln!(
        "wsload: {established}/{count} {noun} established; warm-up {warmup_s} s, measuring {duration_s} s"
    );
    let start = shared.now_ns();
    shared.start_ns.store(start, Ordering::Release);
    let from = start + seconds(warmup_s);
    let to = from + seconds(duration_s);
    sleep_until(&shared, from);
    let cpu0 = sys::process_cpu_s();
    sleep_until(&shared, to);
    let cpu_s = sys::process_cpu_s() - cpu0;
    Ok((join(handles), cpu_s))
}

fn wait_settled(shared: &Shared, total: usize) {
    let started = shared.now_ns();
    let mut last_report = started;
    while shared.settled.load(Ordering::Acquire) < total {
        thread::sleep(Duration::from_millis(1));
        let now = shared.now_ns();
        if now - last_report >= 1_000_000_000 {
            last_report = now;
            eprintln!(
                "wsload: ramp {}/{} established ({} settled)",
                shared.established.load(Ordering::Acquire),
                total,
                shared.settled.load(Ordering::Acquire)
            );
        }
    }
}

/// Sleeps until `at` (ns since `shared.base`).
fn sleep_until(shared: &Shared, at: u64) {
    loop {
        let now = shared.now_ns();
        if now >= at {
            return;
        }
        thread::sleep(Duration::from_nanos((at - now).min(50_000_000)));
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn latency_fields(json: JsonObject, h: &Histogram, with_tail: bool) -> JsonObject {
    let json = json
        .num("p50_us", us(h.quantile(0.50)), 1)
        .num("p99_us", us(h.quantile(0.99)), 1);
    if with_tail {
        json.num("p10_us", us(h.quantile(0.10)), 1)
            .num("p25_us", us(h.quantile(0.25)), 1)
            .num("p75_us", us(h.quantile(0.75)), 1)
            .num("p90_us", us(h.quantile(0.90)), 1)
            .num("p999_us", us(h.quantile(0.999)), 1)
            .num("max_us", us(h.max()), 1)
    } else {
        json
    }
}

fn min_max(per_conn: &[u64]) -> (u64, u64) {
    let min = per_conn.iter().copied().min().unwrap_or(0);
    let max = per_conn.iter().copied().max().unwrap_or(0);
    (min, max)
}

/// Warns when the generator, not the server, may be what limits the figures.
fn cpu_note(cpu_s: f64, duration_s: f64, threads: usize) -> f64 {
    let util = cpu_s / duration_s.max(1e-9);
    if util > 0.85 * threads as f64 {
        eprintln!(
            "wsload: WARNING the generator used {:.0}% of its {} thread(s): it may be the bottleneck",
            100.0 * util / threads as f64,
            threads
        );
    }
    util
}

fn echo(mut args: Args) -> Result<(String, bool), String> {
    let common = common(&mut args)?;
    let connections: usize = args.req("--connections")?;
    let in_flight: usize = args.req("--in-flight")?;
    let size: usize = args.req("--size")?;
    let duration_s: f64 = args.req("--duration")?;
    let warmup_s: f64 = args.or("--warmup", 1.0)?;
    let ramp: usize = args.or("--ramp-concurrency", 200)?;
    args.finish()?;
    if size < 8 {
        return Err("--size must be at least 8 (the timestamp)".into());
    }
    if connections == 0 || in_flight == 0 {
        return Err("--connections and --in-flight must be at least 1".into());
    }
    sys::raise_nofile_limit();
    let mode = Mode::Echo { in_flight, size };
    let (r, cpu_s) = run_measured(
        &common,
        mode,
        connections,
        "connections",
        ramp,
        warmup_s,
        duration_s,
    )?;

    let secs = duration_s;
    let (min_c, max_c) = min_max(&r.per_conn);
    let util = cpu_note(cpu_s, secs, common.threads);
    let json = JsonObject::new()
        .str("mode", "echo")
        .int("connections", connections as u64)
        .int("in_flight", in_flight as u64)
        .int("size", size as u64)
        .num("duration_s", secs, 3)
        .int("messages", r.messages)
        .num("msgs_per_sec", r.messages as f64 / secs, 1)
        .num(
            "mb_per_sec",
            r.messages as f64 * size as f64 / secs / 1e6,
            2,
        );
    let json = latency_fields(json, &r.latency, true)
        .int("min_conn_msgs", min_c)
        .int("max_conn_msgs", max_c)
        .num(
            "fairness",
            if max_c == 0 {
                0.0
            } else {
                min_c as f64 / max_c as f64
            },
            3,
        )
        .int("connect_failures", r.failed + r.timed_out)
        .int("errors", r.errors)
        .num("client_cpu_s", cpu_s, 3)
        .num("client_cpu_util", util, 3)
        .int("threads", common.threads as u64)
        .bool("mp", common.mp)
        .bool("tls", common.target.tls.is_some());
    eprintln!(
        "wsload: {:.0} msgs/s, p50 {:.1} us, p99 {:.1} us, generator CPU {:.0}% of {} thread(s)",
        r.messages as f64 / secs,
        us(r.latency.quantile(0.5)),
        us(r.latency.quantile(0.99)),
        100.0 * util / common.threads as f64,
        common.threads
    );
    Ok((json.finish(), r.connected > 0))
}

fn connect(mut args: Args) -> Result<(String, bool), String> {
    let common = common(&mut args)?;
    let total: usize = args.req("--total")?;
    let concurrency: usize = args.req("--concurrency")?;
    args.finish()?;
    if concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    sys::raise_nofile_limit();
    let shared = Arc::new(Shared::new());
    let cpu0 = sys::process_cpu_s();
    let start = shared.now_ns();
    let handles = spawn(
        &common,
        &shared,
        Mode::Connect,
        total,
        concurrency,
        0.0,
        0.0,
    )?;
    let r = join(handles);
    let cpu_s = sys::process_cpu_s() - cpu0;
    let duration_s = r.last_settled_ns.saturating_sub(start) as f64 / 1e9;
    let json = JsonObject::new()
        .str("mode", "connect")
        .int("total", total as u64)
        .int("concurrency", concurrency as u64)
        .int("connected", r.connected)
        .int("failed", r.failed)
        .int("not_connected_after_timeout", r.timed_out)
        .num("duration_s", duration_s, 3)
        .num(
            "conn_per_sec",
            if duration_s > 0.0 {
                r.connected as f64 / duration_s
            } else {
                0.0
            },
            1,
        )
        .num("handshake_p50_us", us(r.handshake.quantile(0.5)), 1)
        .num("handshake_p99_us", us(r.handshake.quantile(0.99)), 1)
        .num("handshake_max_us", us(r.handshake.max()), 1)
        .num("client_cpu_s", cpu_s, 3)
        .num("client_cpu_util", cpu_s / duration_s.max(1e-9), 3)
        .int("threads", common.threads as u64)
        .bool("mp", common.mp)
        .bool("tls", common.target.tls.is_some());
    eprintln!(
        "wsload: {}/{} connected in {:.3} s ({:.0}/s), {} failed, {} not connected after {} s",
        r.connected,
        total,
        duration_s,
        r.connected as f64 / duration_s.max(1e-9),
        r.failed,
        r.timed_out,
        common.timeout_s
    );
    Ok((json.finish(), r.connected > 0))
}

fn idle(mut args: Args) -> Result<(String, bool), String> {
    let common = common(&mut args)?;
    let connections: usize = args.req("--connections")?;
    let duration_s: f64 = args.req("--duration")?;
    let ramp: usize = args.or("--ramp-concurrency", 200)?;
    args.finish()?;
    let limit = sys::raise_nofile_limit();
    if (connections as u64) + 64 > limit {
        eprintln!("wsload: WARNING {connections} connections need more descriptors than the limit of {limit}");
    }
    let shared = Arc::new(Shared::new());
    let handles = spawn(
        &common,
        &shared,
        Mode::Idle,
        connections,
        ramp,
        0.0,
        duration_s,
    )?;
    wait_settled(&shared, connections);
    let ramp_s = shared.now_ns() as f64 / 1e9;
    let established = shared.established.load(Ordering::Acquire);
    eprintln!("READY {established}");
    let held_from = shared.now_ns();
    shared.start_ns.store(held_from, Ordering::Release);
    sleep_until(&shared, held_from + seconds(duration_s));
    let held_s = (shared.now_ns() - held_from) as f64 / 1e9;
    shared.stop.store(true, Ordering::Release);
    let r = join(handles);
    let json = JsonObject::new()
        .str("mode", "idle")
        .int("connections", connections as u64)
        .int("established", r.connected)
        .int("failed", r.failed + r.timed_out)
        .num("ramp_s", ramp_s, 3)
        .num("held_s", held_s, 3)
        .int("lost", r.lost)
        .num("handshake_p50_us", us(r.handshake.quantile(0.5)), 1)
        .num("handshake_p99_us", us(r.handshake.quantile(0.99)), 1)
        .bool("mp", common.mp)
        .bool("tls", common.target.tls.is_some());
    Ok((json.finish(), r.connected > 0))
}

fn broadcast(mut args: Args) -> Result<(String, bool), String> {
    let common = common(&mut args)?;
    let clients: usize = args.req("--clients")?;
    let duration_s: f64 = args.req("--duration")?;
    let warmup_s: f64 = args.or("--warmup", 1.0)?;
    let size: usize = args.or("--size", 64)?;
    let ramp: usize = args.or("--ramp-concurrency", 200)?;
    args.finish()?;
    if clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    sys::raise_nofile_limit();
    let (r, cpu_s) = run_measured(
        &common,
        Mode::Broadcast { size },
        clients,
        "clients",
        ramp,
        warmup_s,
        duration_s,
    )?;
    let (min_c, max_c) = min_max(&r.per_conn);
    let util = cpu_note(cpu_s, duration_s, common.threads);
    let json = JsonObject::new()
        .str("mode", "broadcast")
        .int("clients", clients as u64)
        .num("duration_s", duration_s, 3)
        .int("delivered", r.messages)
        .num("delivered_per_sec", r.messages as f64 / duration_s, 1);
    let json = latency_fields(json, &r.latency, false)
        .num("p999_us", us(r.latency.quantile(0.999)), 1)
        .num("max_us", us(r.latency.max()), 1)
        .int("min_client_msgs", min_c)
        .int("max_client_msgs", max_c)
        .num("client_cpu_s", cpu_s, 3)
        .num("client_cpu_util", util, 3)
        .int("established", r.connected)
        .int("connect_failures", r.failed + r.timed_out)
        .int("errors", r.errors)
        .int("unexpected_size", r.unexpected)
        .int("threads", common.threads as u64)
        .bool("mp", common.mp)
        .bool("tls", common.target.tls.is_some());
    eprintln!(
        "wsload: {:.0} deliveries/s, p50 {:.1} us, p99 {:.1} us, generator CPU {:.0}%",
        r.messages as f64 / duration_s,
        us(r.latency.quantile(0.5)),
        us(r.latency.quantile(0.99)),
        100.0 * util / common.threads as f64
    );
    Ok((json.finish(), r.connected > 0))
}
