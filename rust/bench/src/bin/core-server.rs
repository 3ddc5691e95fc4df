//! `core-server`: the core with no Godot, driven by a main-thread loop like a script's.
//! The ceiling the Godot binding is measured against. See README.md.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use websocket_server_bench::core_loop::{self, LoopOptions, Mode};
use websocket_server_bench::sys;
use websocket_server_core::{BindAddress, Server, ServerConfig, TlsIdentity};

const USAGE: &str =
    "usage: core-server --port P [--bind 127.0.0.1] [--mode echo|broadcast] [--mp] \
[--tls-cert FILE --tls-key FILE] [--rate HZ (broadcast, default 60; 0 = flat out)] [--size S (broadcast, default 64)] [--spin]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("core-server: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut port: Option<u16> = None;
    let mut bind = "127.0.0.1".to_string();
    let mut options = LoopOptions::default();
    let mut cert: Option<String> = None;
    let mut key: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                port = Some(
                    value("--port")?
                        .parse()
                        .map_err(|e| format!("--port: {e}"))?,
                )
            }
            "--bind" => bind = value("--bind")?,
            "--mode" => {
                options.mode = match value("--mode")?.as_str() {
                    "echo" => Mode::Echo,
                    "broadcast" => Mode::Broadcast,
                    other => return Err(format!("unknown mode {other:?}")),
                }
            }
            "--mp" => options.mp = true,
            "--spin" => options.spin = true,
            "--rate" => {
                options.rate_hz = value("--rate")?
                    .parse()
                    .map_err(|e| format!("--rate: {e}"))?;
                if !(options.rate_hz >= 0.0 && options.rate_hz.is_finite()) {
                    return Err("--rate must be >= 0".into());
                }
            }
            "--size" => {
                options.broadcast_size = value("--size")?
                    .parse()
                    .map_err(|e| format!("--size: {e}"))?;
                if options.broadcast_size < 8 {
                    return Err("--size must be at least 8 (the timestamp)".into());
                }
            }
            "--tls-cert" => cert = Some(value("--tls-cert")?),
            "--tls-key" => key = Some(value("--tls-key")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let port = port.ok_or("--port is required")?;
    let bind = if bind == "*" {
        BindAddress::Any
    } else {
        BindAddress::Ip(
            bind.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|e| format!("--bind: {e}"))?,
        )
    };
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(TlsIdentity {
            certificate_chain: std::fs::read_to_string(&cert)
                .map_err(|e| format!("reading {cert}: {e}"))?,
            private_key: std::fs::read_to_string(&key)
                .map_err(|e| format!("reading {key}: {e}"))?,
            extra_chain: String::new(),
        }),
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };

    sys::raise_nofile_limit();
    let config = ServerConfig {
        bind,
        port,
        announce_peer_id: options.mp,
        tls,
        ..ServerConfig::default()
    };
    let server = Server::start(config).map_err(|e| format!("cannot start: {e}"))?;
    // Sleeps of 50 µs must not become 100 µs (the default timer slack is 50 µs).
    sys::set_timer_slack_ns(1_000);
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "LISTENING {}", server.local_addr().port());
    let _ = stdout.flush();
    // Runs until the process is killed (SIGTERM's default action ends it).
    let stop = AtomicBool::new(false);
    core_loop::run(&server, &options, &stop);
    Ok(())
}
