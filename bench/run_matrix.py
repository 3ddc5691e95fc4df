#!/usr/bin/env python3
"""Runs every benchmark system x scenario against the wsload load generator and saves raw results.

    bench/run_matrix.py [--quick] [--repeats N] [--systems a,b] [--scenarios x,y] [--out FILE]

Systems (servers): ours_raw, ours_g3, ours_g3_untyped, ours_mp (this repository's WebSocketServer
and WebSocketMultiplayerServer in Godot 4, release library; ours_g3* are Godot 3-style scripts),
godot_mp (Godot 4 WebSocketMultiplayerPeer), godot_tcp (Godot 4 TCPServer + WebSocketPeer), godot3
(Godot 3.2.3 WebSocketServer, godot3-server), core (core-server: our network core without Godot).
Every server runs at its own default buffer sizes; godot_mp_raised, godot_tcp_raised and
godot3_raised are the engine servers again with raised buffers (--raise-buffers), a second,
labelled configuration run on the echo scenarios only. wss_* scenarios serve wss:// (a
self-signed RSA-2048 certificate; every connection makes a full TLS handshake). See
bench/README.md.

Each run: the server is started pinned to CPU 0 (taskset), waits for its "LISTENING <port>" line,
then wsload runs pinned to CPU 1; STATS lines of the server (main-thread work per frame) are kept
for the measurement window and the server's VmRSS is read from /proc. Every process has a time
limit and is killed at the end of its run. Loopback only.

Results (raw, every repeat) go to target/bench/results-<timestamp>.json, logs beside them.
A summary table (medians, min-max) is printed on stdout at the end.

Exit code: 0 when every run worked; 1 when a run failed (a server that crashed or never printed
LISTENING, wsload exiting non-zero or printing no JSON, a Rust panic or a GDScript error in the
server's output); 2 for a setup problem (missing wsload, no Godot). Slowness never fails a run.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))
import report  # noqa: E402  (summary table shared with report.py)

# ----------------------------------------------------------------------------- definitions

# Scenarios the raised-buffer systems run (buffer sizes matter where many bytes are in flight).
RAISED_SCENARIOS = ["echo_100x8_64", "echo_100x1_16k"]

# kind: godot4 | godot3 | core. mp: the server speaks Godot 4's multiplayer protocol (the 4-byte
# id message first), so wsload runs with --mp. args: extra server arguments. scenarios: the only
# scenarios this system runs (default: all that admit it).
SYSTEMS = {
    "ours_raw": {"kind": "godot4", "script": "ours_raw.gd", "mp": False,
                 "label": "ours raw (WebSocketServer, signals)"},
    "ours_g3": {"kind": "godot4", "script": "ours_g3.gd", "mp": False,
                "label": "ours raw, Godot 3-style script (typed)"},
    "ours_g3_untyped": {"kind": "godot4", "script": "ours_g3_untyped.gd", "mp": False,
                        "label": "ours raw, Godot 3-style script (untyped)"},
    "ours_mp": {"kind": "godot4", "script": "ours_mp.gd", "mp": True,
                "label": "ours MP (WebSocketMultiplayerServer, MultiplayerPeer API)"},
    "godot_mp": {"kind": "godot4", "script": "godot_mp.gd", "mp": True,
                 "label": "Godot 4 WebSocketMultiplayerPeer"},
    "godot_tcp": {"kind": "godot4", "script": "godot_tcp.gd", "mp": False,
                  "label": "Godot 4 TCPServer + WebSocketPeer"},
    "godot3": {"kind": "godot3", "mp": False, "args": [],
               "label": "Godot 3.2.3 WebSocketServer (raw)"},
    # The second buffer configuration: the engine servers with raised buffers (1 MiB / 4096).
    "godot_mp_raised": {"kind": "godot4", "script": "godot_mp.gd", "mp": True,
                        "args": ["--raise-buffers"], "scenarios": RAISED_SCENARIOS,
                        "label": "Godot 4 WebSocketMultiplayerPeer, raised buffers (1 MiB, 4096 packets)"},
    "godot_tcp_raised": {"kind": "godot4", "script": "godot_tcp.gd", "mp": False,
                         "args": ["--raise-buffers"], "scenarios": RAISED_SCENARIOS,
                         "label": "Godot 4 TCPServer + WebSocketPeer, raised buffers (1 MiB, 4096 packets)"},
    "godot3_raised": {"kind": "godot3", "mp": False, "args": ["--raise-buffers"],
                      "scenarios": RAISED_SCENARIOS,
                      "label": "Godot 3.2.3 WebSocketServer (raw), raised buffers (1 MiB, 4096 packets)"},
    # Godot 3's multiplayer protocol is not Godot 4's (every packet has a header), so wsload --mp
    # cannot talk to it: runnable on request (--systems godot3_mp) to show that, not by default.
    "godot3_mp": {"kind": "godot3", "mp": True, "args": ["--mp"],
                  "label": "Godot 3.2.3 WebSocketServer (multiplayer)"},
    "core": {"kind": "core", "mp": False, "label": "core-server (our core, no Godot)"},
}
DEFAULT_SYSTEMS = ["ours_raw", "ours_g3", "ours_g3_untyped", "ours_mp", "godot_mp", "godot_tcp",
                   "godot3", "core", "godot_mp_raised", "godot_tcp_raised", "godot3_raised"]
QUICK_SYSTEMS = ["ours_raw", "ours_g3", "ours_mp", "godot_mp", "core"]

# The servers with a wss:// configuration in the bench (godot_tcp: none; Godot 3: none).
WSS_SYSTEMS = ["ours_raw", "ours_g3", "ours_mp", "godot_mp", "core"]

# type: echo | broadcast | connect | idle. "only": restrict to these systems. "once": one repeat.
# "tls": wss:// (the server gets --tls, or a certificate file for core; wsload --insecure).
SCENARIOS = {
    "echo_1x1_64": {"type": "echo", "connections": 1, "in_flight": 1, "size": 64,
                    "label": "echo 1 conn x 1 in flight, 64 B"},
    "echo_100x8_64": {"type": "echo", "connections": 100, "in_flight": 8, "size": 64,
                      "label": "echo 100 conns x 8 in flight, 64 B"},
    "echo_100x1_16k": {"type": "echo", "connections": 100, "in_flight": 1, "size": 16384,
                       "label": "echo 100 conns x 1 in flight, 16 KiB"},
    "broadcast_1000_60hz": {"type": "broadcast", "clients": 1000, "rate": 60, "size": 64,
                            "label": "broadcast to 1,000 clients, 64 B, 60 Hz"},
    "broadcast_1000_flat": {"type": "broadcast", "clients": 1000, "rate": 0, "size": 64,
                            "label": "broadcast to 1,000 clients, 64 B, every frame"},
    "connect_2000_100": {"type": "connect", "total": 2000, "concurrency": 100, "timeout": 10,
                         "label": "2,000 connects, 100 at once"},
    "idle_5000": {"type": "idle", "connections": 5000,
                  "label": "5,000 idle connections"},
    "echo_1x1_64_paced": {"type": "echo", "connections": 1, "in_flight": 1, "size": 64,
                          "paced": True,
                          "only": ["ours_raw", "ours_g3", "ours_mp", "godot_mp"],
                          "label": "echo 1x1, 64 B, Godot's default frame pacing"},
    # The same round trip timed by a Godot 4 client (bench/godot4/latency_client.gd: the engine's
    # WebSocketPeer, or WebSocketMultiplayerPeer for the multiplayer servers) polling flat out
    # in its frame loop, as a game does, instead of wsload, which sleeps in epoll_wait between
    # messages (its round trip also holds waking the client's idle CPU).
    "echo_1x1_64_godot_client": {"type": "echo", "connections": 1, "in_flight": 1, "size": 64,
                                 "client": "godot4",
                                 "only": ["ours_raw", "ours_g3", "ours_g3_untyped", "ours_mp",
                                          "godot_mp", "godot_tcp", "godot3", "core"],
                                 "label": "echo 1x1, 64 B, flat out, Godot 4 client polling flat out"},
    # Informational: without taskset the server's threads and wsload may use both CPUs.
    "echo_1x1_64_unpinned": {"type": "echo", "connections": 1, "in_flight": 1, "size": 64,
                             "pin": False, "once": True,
                             "only": ["ours_raw", "ours_mp", "godot_mp", "core"],
                             "label": "echo 1x1, 64 B, not pinned (informational)"},
    # wss://: self-signed RSA-2048 certificate; wsload never resumes a TLS session.
    "wss_echo_100x8_64": {"type": "echo", "connections": 100, "in_flight": 8, "size": 64,
                          "tls": True, "only": WSS_SYSTEMS,
                          "label": "wss echo 100 conns x 8 in flight, 64 B"},
    "wss_echo_100x1_16k": {"type": "echo", "connections": 100, "in_flight": 1, "size": 16384,
                           "tls": True, "only": WSS_SYSTEMS,
                           "label": "wss echo 100 conns x 1 in flight, 16 KiB"},
    "wss_connect_2000_100": {"type": "connect", "total": 2000, "concurrency": 100, "timeout": 10,
                             "tls": True, "only": WSS_SYSTEMS,
                             "label": "wss: 2,000 connects, 100 at once, full TLS handshakes"},
    # The same with an ECDSA P-256 certificate (what Let's Encrypt's certbot issues by default),
    # made with openssl and loaded by every server.
    "wss_ecdsa_connect_2000_100": {"type": "connect", "total": 2000, "concurrency": 100, "timeout": 10,
                                   "tls": "ecdsa", "only": WSS_SYSTEMS,
                                   "label": "wss, ECDSA P-256 certificate: 2,000 connects, 100 at once, "
                                            "full TLS handshakes"},
}
DEFAULT_SCENARIOS = list(SCENARIOS)

# --quick (the CI smoke test): small counts, short runs, < 2 minutes in all.
QUICK_SCENARIOS = {
    "echo_1x1_64": dict(SCENARIOS["echo_1x1_64"]),
    "echo_1x1_64_godot_client": dict(SCENARIOS["echo_1x1_64_godot_client"]),
    "echo_100x8_64": dict(SCENARIOS["echo_100x8_64"]),
    "broadcast_100_60hz": {"type": "broadcast", "clients": 100, "rate": 60, "size": 64,
                           "label": "broadcast to 100 clients, 64 B, 60 Hz"},
    "connect_200_50": {"type": "connect", "total": 200, "concurrency": 50, "timeout": 10,
                       "label": "200 connects, 50 at once"},
    "idle_200": {"type": "idle", "connections": 200, "label": "200 idle connections"},
    "wss_echo_10x8_64": {"type": "echo", "connections": 10, "in_flight": 8, "size": 64, "tls": True,
                         "only": ["ours_g3", "ours_mp", "godot_mp"],
                         "label": "wss echo 10 conns x 8 in flight, 64 B"},
    "wss_connect_200_50": {"type": "connect", "total": 200, "concurrency": 50, "timeout": 10,
                           "tls": True, "only": ["ours_g3", "ours_mp", "godot_mp"],
                           "label": "wss: 200 connects, 50 at once, full TLS handshakes"},
}

SERVER_CPU = "0"
CLIENT_CPU = "1"
LISTEN_TIMEOUT_S = 30
STOP_GRACE_S = 5
BUFFERS_NOTE = ("every server at its own default buffer sizes: ours (WebSocketServer, "
                "WebSocketMultiplayerServer, core) 1 MiB inbound + 1 MiB outbound per peer and 4096 "
                "packets each way; Godot 4 WebSocketMultiplayerPeer inbound_buffer_size = "
                "outbound_buffer_size = 65535 B, max_queued_packets = 2048; Godot 4 WebSocketPeer "
                "(godot_tcp) 65535 B / 65535 B / 4096 packets; Godot 3 WebSocketServer 64 KiB / 1024 "
                "packets each way. Second, labelled configuration (systems *_raised, echo scenarios "
                f"{', '.join(RAISED_SCENARIOS)}): the engine servers with raised buffers (--raise-buffers), "
                "1 MiB inbound + 1 MiB outbound per peer and 4096 packets each way — "
                "WebSocketMultiplayerPeer and WebSocketPeer inbound_buffer_size = outbound_buffer_size "
                "= 1048576, max_queued_packets = 4096; Godot 3 set_buffers(1024, 4096, 1024, 4096)")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- processes

class Proc:
    """A child process whose stdout and stderr lines are collected with arrival times."""

    # stderr lines kept in memory (all of them go to the log file): a server refusing sends can
    # print hundreds of thousands of error lines
    KEEP_ERR = re.compile(r"FATAL|panic|SCRIPT ERROR|Parse Error|READY|^wsload")
    MAX_ERR_LINES = 2000

    def __init__(self, cmd: list[str], env: dict, log_path: Path, cwd: Path | None = None):
        self.cmd = cmd
        self.err_lines = 0
        self.log_path = log_path
        self.log_file = open(log_path, "w", encoding="utf-8", errors="replace")
        self.log_file.write("$ " + shlex.join(cmd) + "\n")
        self.lines: list[tuple[float, str, str]] = []  # (monotonic time, "out"|"err", line)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        self.pid = self.p.pid
        self.threads = [threading.Thread(target=self._read, args=(self.p.stdout, "out"), daemon=True),
                        threading.Thread(target=self._read, args=(self.p.stderr, "err"), daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self, stream, name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            now = time.monotonic()
            with self.cond:
                if name == "out" or self.err_lines < self.MAX_ERR_LINES or self.KEEP_ERR.search(line):
                    self.lines.append((now, name, line))
                if name == "err":
                    self.err_lines += 1
                self.log_file.write(f"[{name}] {line}\n")
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pattern: re.Pattern, timeout: float, stream: str | None = None):
        """Waits for a line matching pattern; returns (time, match) or None (timeout or exit)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for t, name, line in self.lines[seen:]:
                    if stream is None or name == stream:
                        m = pattern.search(line)
                        if m:
                            return t, m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if self.p.poll() is not None and all(not th.is_alive() for th in self.threads):
                    return None
                self.cond.wait(min(left, 0.2))

    def stdout_text(self) -> str:
        with self.lock:
            return "\n".join(line for _, name, line in self.lines if name == "out")

    def all_text(self) -> str:
        with self.lock:
            return "\n".join(line for _, _, line in self.lines)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """Ends the process (SIGTERM, then SIGKILL after a grace period); returns its exit code
        if it had already exited by itself, else None."""
        rc = self.p.poll()
        if rc is None:
            try:
                self.p.send_signal(signal.SIGTERM)
                self.p.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
            except ProcessLookupError:
                pass
        for t in self.threads:
            t.join(2)
        with self.lock:
            self.log_file.close()
        return rc


def vm_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def maps_contain(pid: int, needle: str) -> bool | None:
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None


STATS_RE = re.compile(r"^STATS (.*)$")
KV_RE = re.compile(r"(\w+)=(-?\d+)")


def stats_in_window(proc: Proc, start: float, end: float) -> dict | None:
    """Aggregates the STATS lines printed in [start, end] (each covers the second before it)."""
    frames = work = interval = 0
    max_work = peers_max = send_errors = broadcasts = 0
    n = 0
    with proc.lock:
        lines = list(proc.lines)
    for t, name, line in lines:
        if name != "out" or t < start or t > end:
            continue
        m = STATS_RE.match(line)
        if not m:
            continue
        kv = {k: int(v) for k, v in KV_RE.findall(m.group(1))}
        n += 1
        frames += kv.get("frames", 0)
        work += kv.get("work_us", 0)
        interval += kv.get("interval_us", 0)
        max_work = max(max_work, kv.get("max_frame_work_us", 0))
        peers_max = max(peers_max, kv.get("peers", 0))
        send_errors += kv.get("send_errors", 0)
        broadcasts += kv.get("broadcasts", 0)
    if n == 0 or frames == 0:
        return None
    return {
        "lines": n,
        "frames": frames,
        "work_us": work,
        "interval_us": interval,
        "frames_per_s": frames / (interval / 1e6) if interval else None,
        "work_per_frame_us": work / frames,
        "frame_us": interval / frames,
        "work_share": work / interval if interval else None,
        "max_frame_work_us": max_work,
        "peers_max": peers_max,
        "send_errors": send_errors,
        "broadcasts": broadcasts,
    }


def last_stats(proc: Proc, end: float, count: int) -> dict | None:
    with proc.lock:
        times = [t for t, name, line in proc.lines
                 if name == "out" and t <= end and line.startswith("STATS ") and " peers=0 " not in line]
    if not times:
        return None
    return stats_in_window(proc, times[-count:][0], times[-1])


# ----------------------------------------------------------------------------- one run

class Runner:
    def __init__(self, args, tools: dict, logdir: Path):
        self.args = args
        self.tools = tools
        self.logdir = logdir
        self.env = dict(os.environ)
        self.env.setdefault("LANG", "en_US.UTF-8")
        self.env["LANG"] = "en_US.UTF-8"
        self.server_extra = shlex.split(args.server_extra or "")

    def pin(self, cpu: str, sc: dict) -> list[str]:
        return [] if self.args.no_pin or not sc.get("pin", True) else ["taskset", "-c", cpu]

    def server_cmd(self, system: str, sc: dict) -> list[str]:
        spec = SYSTEMS[system]
        mode = "broadcast" if sc["type"] == "broadcast" else "echo"
        rate = str(sc.get("rate", 60))
        lifetime = str(int(self.args.server_lifetime))
        if spec["kind"] == "godot4":
            cmd = [self.tools["godot4"], "--headless", "--path", str(BENCH / "godot4"),
                   "--script", "res://" + spec["script"], "--",
                   "--port", "0", "--mode", mode, "--rate", rate, "--lifetime", lifetime]
            cmd += spec.get("args", [])
            if sc.get("paced"):
                cmd.append("--paced")
            if sc.get("tls"):
                cmd.append("--tls")
            if sc.get("tls") == "ecdsa":
                cmd += ["--tls-key", str(self.tools["ecdsa_key"]), "--tls-cert", str(self.tools["ecdsa_cert"])]
            cmd += self.server_extra
        elif spec["kind"] == "godot3":
            cmd = [self.tools["godot3"], "--path", str(BENCH / "godot3"),
                   "--script", "res://ours_compare.gd", "--",
                   "--port", "0", "--mode", mode, "--rate", rate, "--lifetime", lifetime]
            cmd += spec.get("args", [])
            if sc.get("paced"):
                cmd.append("--paced")
            cmd += self.server_extra
        else:
            # --spin: flat out like the Godot servers (its polls do the network work, see pace.rs).
            cmd = [self.tools["core_server"], "--port", "0", "--mode", mode, "--rate", rate,
                   "--spin"]
            if sc.get("tls") == "ecdsa":
                cmd += ["--tls-cert", str(self.tools["ecdsa_cert"]), "--tls-key", str(self.tools["ecdsa_key"])]
            elif sc.get("tls"):
                cmd += ["--tls-cert", str(self.tools["tls_cert"]), "--tls-key", str(self.tools["tls_key"])]
        return self.pin(SERVER_CPU, sc) + cmd

    def wsload_cmd(self, system: str, sc: dict, port: int) -> tuple[list[str], float]:
        """The wsload command line and its time limit."""
        a = self.args
        url = f"{'wss' if sc.get('tls') else 'ws'}://127.0.0.1:{port}"
        t = sc["type"]
        if sc.get("client") == "godot4":
            cmd = [self.tools["godot4"], "--headless", "--path", str(BENCH / "godot4"),
                   "--script", "res://latency_client.gd", "--",
                   "--url", url, "--size", str(sc["size"]), "--duration", fmt(a.duration),
                   "--warmup", fmt(a.warmup), "--timeout", fmt(a.ramp_timeout)]
            if SYSTEMS[system]["mp"]:
                cmd.append("--mp")
            return self.pin(CLIENT_CPU, sc) + cmd, a.duration + a.warmup + a.ramp_timeout + 60
        if t == "echo":
            cmd = ["echo", "--url", url, "--connections", str(sc["connections"]),
                   "--in-flight", str(sc["in_flight"]), "--size", str(sc["size"]),
                   "--duration", fmt(a.duration), "--warmup", fmt(a.warmup),
                   "--timeout", fmt(a.ramp_timeout)]
            limit = a.duration + a.warmup + a.ramp_timeout + 60
        elif t == "broadcast":
            cmd = ["broadcast", "--url", url, "--clients", str(sc["clients"]),
                   "--duration", fmt(a.duration), "--size", str(sc["size"]),
                   "--timeout", fmt(a.ramp_timeout)]
            limit = a.duration + a.ramp_timeout + 60
        elif t == "connect":
            cmd = ["connect", "--url", url, "--total", str(sc["total"]),
                   "--concurrency", str(sc["concurrency"]), "--timeout", str(sc["timeout"])]
            limit = sc["timeout"] + 120
        elif t == "idle":
            cmd = ["idle", "--url", url, "--connections", str(sc["connections"]),
                   "--duration", fmt(a.idle_hold), "--timeout", fmt(a.ramp_timeout)]
            if sc.get("ramp"):
                cmd += ["--ramp-concurrency", str(sc["ramp"])]
            limit = a.idle_hold + a.ramp_timeout + 120
        else:
            raise ValueError(t)
        if SYSTEMS[system]["mp"]:
            cmd.append("--mp")
        if sc.get("tls"):
            cmd.append("--insecure")  # self-signed certificate
        return self.pin(CLIENT_CPU, sc) + [self.tools["wsload"]] + cmd, limit

    def run(self, system: str, scen_name: str, sc: dict, repeat: int, tag: str) -> dict:
        rec = {"system": system, "scenario": scen_name, "repeat": repeat, "ok": False,
               "error": None, "warnings": [], "loadavg_1min": round(os.getloadavg()[0], 2)}
        base = f"{scen_name}.{system}.r{repeat}"
        server_log = self.logdir / f"{base}.server.log"
        wsload_log = self.logdir / f"{base}.wsload.log"
        scmd = self.server_cmd(system, sc)
        rec["server_cmd"] = scmd
        started = time.monotonic()
        server = Proc(scmd, self.env, server_log)
        wsload = None
        try:
            got = server.wait_line(re.compile(r"^LISTENING (\d+)"), LISTEN_TIMEOUT_S, "out")
            if got is None:
                rc = server.p.poll()
                fatal = [l for _, _, l in server.lines if "FATAL" in l][:1]
                rec["error"] = ((f"server exited with code {rc} before printing LISTENING"
                                 if rc is not None else
                                 f"server did not print LISTENING within {LISTEN_TIMEOUT_S}s")
                                + (f": {fatal[0].strip()}" if fatal else ""))
                return rec
            port = int(got[1].group(1))
            rec["port"] = port
            kind = SYSTEMS[system]["kind"]
            if kind == "godot4":
                loaded = maps_contain(server.pid, "libwebsocket_server.linux.release")
                rec["release_library_loaded"] = loaded
                if system.startswith("ours") and loaded is False:
                    rec["error"] = ("the release library is not mapped in the Godot process: "
                                    "build it with scripts/build.sh --release")
                    return rec
            time.sleep(self.args.settle)
            rss_before = vm_rss_kb(server.pid)
            cpu0 = cpu_seconds(server.pid)
            wcmd, limit = self.wsload_cmd(system, sc, port)
            rec["wsload_cmd"] = wcmd
            t_start = time.monotonic()
            wsload = Proc(wcmd, self.env, wsload_log)
            rss_after = None
            ready_t = None
            if sc["type"] == "idle":
                got = wsload.wait_line(re.compile(r"READY\s+(\d+)"), limit, "err")
                if got is not None:
                    ready_t = got[0]
                    rec["ready_count"] = int(got[1].group(1))
                    time.sleep(min(1.0, self.args.idle_hold / 3))
                    rss_after = vm_rss_kb(server.pid)
            rc = wsload.wait(max(1.0, limit - (time.monotonic() - t_start)))
            t_end = time.monotonic()
            if rc is None:
                wsload.stop()
                rec["error"] = f"wsload did not finish within {limit:.0f}s (killed)"
                return rec
            wsload.stop()
            rec["wsload_rc"] = rc
            rec["wsload_wall_s"] = round(t_end - t_start, 3)
            cpu1 = cpu_seconds(server.pid)
            if cpu0 is not None and cpu1 is not None:
                rec["server_cpu_s"] = round(cpu1 - cpu0, 3)
            # measurement window for the STATS lines
            if sc["type"] in ("echo", "broadcast"):
                # wsload measures the last `duration` seconds before it exits (after its ramp and
                # warm-up); a STATS line covers the second before it was printed
                win = (t_end - self.args.duration + 0.9, t_end + 0.1)
            elif sc["type"] == "idle":
                win = ((ready_t if ready_t is not None else t_end) + 1.0, t_end)
            else:
                win = (t_start, t_end)
            rec["stats"] = stats_in_window(server, *win)
            if rec["stats"] is None and sc["type"] == "idle":
                # frames slower than the window (an engine server with thousands of peers):
                # the last STATS lines before the end
                rec["stats"] = last_stats(server, t_end, 2)
                if rec["stats"]:
                    rec["warnings"].append("no STATS line inside the idle window; used the last ones")
            if sc["type"] == "idle":
                rec["rss_before_kb"] = rss_before
                rec["rss_after_kb"] = rss_after
            alive = server.p.poll() is None
            out = wsload.stdout_text().strip()
            parsed = parse_json(out)
            if parsed is not None:
                rec["wsload"] = parsed
            if sc["type"] == "idle" and parsed and rss_before and rss_after:
                n = parsed.get("established") or rec.get("ready_count") or 0
                if n:
                    rec["rss_per_conn_bytes"] = round((rss_after - rss_before) * 1024 / n)
            if not alive:
                rec["error"] = f"server exited during the run ({describe_exit(server.p.poll())})"
            elif rc != 0:
                rec["error"] = f"wsload exited with code {rc}: {tail(wsload.all_text())}"
            elif parsed is None:
                rec["error"] = f"wsload printed no JSON object: {tail(out)}"
            else:
                rec["ok"] = True
            if parsed:
                for k in ("errors", "connect_failures", "failed", "not_connected_after_timeout"):
                    if parsed.get(k):
                        rec["warnings"].append(f"{k}={parsed[k]}")
            if rec["stats"] and rec["stats"].get("send_errors"):
                rec["warnings"].append(f"server send_errors={rec['stats']['send_errors']}")
            return rec
        finally:
            if wsload is not None:
                wsload.stop()
            early_rc = server.stop()
            text = server.all_text()
            if "ERROR: [panic" in text:
                rec["ok"] = False
                rec["error"] = (rec["error"] + "; " if rec["error"] else "") + "Rust panic in the server output"
            if "SCRIPT ERROR" in text or "Parse Error" in text:
                rec["ok"] = False
                rec["error"] = (rec["error"] + "; " if rec["error"] else "") + "GDScript error in the server output"
            if early_rc is not None and rec["ok"]:
                rec["ok"] = False
                rec["error"] = f"server exited by itself ({describe_exit(early_rc)})"
            rec["wall_s"] = round(time.monotonic() - started, 2)
            rec["log"] = display_path(server_log)


def describe_exit(rc: int | None) -> str:
    if rc is not None and rc < 0:
        try:
            return f"killed by signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def display_path(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def fmt(x: float) -> str:
    return f"{x:g}"


def tail(s: str, n: int = 400) -> str:
    s = s.strip().replace("\n", " | ")
    return s[-n:]


def parse_json(out: str):
    """The last line of stdout that parses as a JSON object (or the whole of stdout)."""
    for candidate in [out] + out.splitlines()[::-1]:
        candidate = candidate.strip()
        if candidate.startswith("{"):
            try:
                v = json.loads(candidate)
                if isinstance(v, dict):
                    return v
            except json.JSONDecodeError:
                pass
    return None


# ----------------------------------------------------------------------------- environment

def run_text(cmd: list[str], timeout: float = 30) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "LANG": "en_US.UTF-8"})
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


def machine_info(tools: dict) -> dict:
    cpu = ""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and "mhz" not in flags:
                flags = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = line.split(":", 1)[1].strip()
    except OSError:
        pass
    os_name = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    info = {
        "cpu_model": cpu,
        "cpu_mhz": flags,
        "nproc": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "os": os_name,
        "python": platform.python_version(),
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "load_avg_at_start": os.getloadavg(),
    }
    if tools.get("godot4"):
        v = run_text([tools["godot4"], "--headless", "--version"])
        info["godot4_version"] = v.splitlines()[-1] if v else ""
    if tools.get("godot3"):
        v = run_text([tools["godot3"], "--version"])
        info["godot3_version"] = v.splitlines()[-1] if v else ""
    if tools.get("wsload"):
        info["rustc"] = run_text(["rustc", "--version"])
    try:
        info["git_commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        info["git_dirty"] = bool(dirty)
    except OSError:
        pass
    return info


def find_tools(args) -> tuple[dict, list[str]]:
    notes = []
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    tools = {
        "wsload": args.wsload or str(target / "release" / "wsload"),
        "core_server": args.core_server or str(target / "release" / "core-server"),
        "godot4": args.godot or os.environ.get("GDRUST_GODOT_BIN") or os.environ.get("GODOT4_BIN"),
        "godot3": args.godot3 or shutil.which("godot3-server"),
    }
    if not tools["godot4"]:
        try:
            r = subprocess.run([str(REPO / "scripts" / "get-godot.sh")], capture_output=True,
                               text=True, timeout=900)
            if r.returncode == 0 and r.stdout.strip():
                tools["godot4"] = r.stdout.strip().splitlines()[-1]
        except (OSError, subprocess.TimeoutExpired) as e:
            notes.append(f"scripts/get-godot.sh failed: {e}")
    for k in ("wsload", "core_server"):
        if not (tools[k] and os.access(tools[k], os.X_OK)):
            notes.append(f"{k} not found at {tools[k]} (cargo build --release -p websocket-server-bench)")
            tools[k] = None
    if not tools["godot3"]:
        notes.append("godot3-server not installed: Godot 3 skipped "
                     "(apt-get install -y --no-install-recommends godot3-server)")
    return tools, notes


def make_certificate(logdir: Path, name: str, newkey: list[str], used_for: str) -> dict | None:
    """A self-signed CN=localhost certificate made with `openssl req -newkey <newkey>`:
    {"cert": path, "key": path} (absolute: Godot resolves a relative path against its project
    folder), or None (noted) when openssl is missing or fails."""
    openssl = shutil.which("openssl")
    if not openssl:
        log(f"note: openssl not found: {used_for} skipped")
        return None
    cert, key = logdir / f"{name}-cert.pem", logdir / f"{name}-key.pem"
    try:
        r = subprocess.run([openssl, "req", "-x509", "-newkey", *newkey, "-nodes", "-keyout", str(key),
                            "-out", str(cert), "-days", "7", "-subj", "/CN=localhost"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        log(f"note: openssl failed ({e}): {used_for} skipped")
        return None
    if r.returncode != 0:
        log(f"note: openssl failed ({tail(r.stderr)}): {used_for} skipped")
        return None
    return {"cert": str(cert.resolve()), "key": str(key.resolve())}


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke test: 1 repeat, 2 s runs, small counts, fewer systems (< 2 min)")
    ap.add_argument("--repeats", type=int, help="repeats per system x scenario (default 3; quick 1)")
    ap.add_argument("--systems", help="comma-separated; default " + ",".join(DEFAULT_SYSTEMS))
    ap.add_argument("--scenarios", help="comma-separated; default all (see --list)")
    ap.add_argument("--duration", type=float, help="seconds of load per echo/broadcast run (default 8; quick 2)")
    ap.add_argument("--warmup", type=float, help="echo warm-up seconds, not measured (default 2; quick 0.5)")
    ap.add_argument("--idle-hold", type=float, help="seconds the idle connections are held (default 6; quick 2)")
    ap.add_argument("--ramp-timeout", type=float,
                    help="wsload --timeout for echo, broadcast and idle: seconds a connection may take to "
                         "open before the load starts (Godot's listen backlog of 8 drops SYNs; "
                         "default 30; quick 10)")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds between LISTENING and the load")
    ap.add_argument("--server-lifetime", type=float, default=900, help="servers quit by themselves after this")
    ap.add_argument("--server-extra", help="extra arguments for the Godot servers, e.g. --raise-buffers "
                    "(every Godot server with raised buffers)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server/wsload with taskset")
    ap.add_argument("--out", help="results file (default target/bench/results-<timestamp>.json)")
    ap.add_argument("--godot", help="Godot 4 binary (default: GDRUST_GODOT_BIN, GODOT4_BIN, scripts/get-godot.sh)")
    ap.add_argument("--godot3", help="Godot 3 binary (default: godot3-server on PATH)")
    ap.add_argument("--wsload", help="default target/release/wsload")
    ap.add_argument("--core-server", help="default target/release/core-server")
    ap.add_argument("--list", action="store_true", help="list systems and scenarios and exit")
    args = ap.parse_args()

    scen_table = QUICK_SCENARIOS if args.quick else SCENARIOS
    if args.list:
        for k, v in SYSTEMS.items():
            only = f"  (only {', '.join(v['scenarios'])})" if v.get("scenarios") else ""
            print(f"system   {k:22} {v['label']}{only}")
        for k, v in {**SCENARIOS, **QUICK_SCENARIOS}.items():
            print(f"scenario {k:22} {v['label']}{'  (quick)' if k in QUICK_SCENARIOS else ''}")
        return 0
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    args.idle_hold = args.idle_hold or (2.0 if args.quick else 6.0)
    args.ramp_timeout = args.ramp_timeout or (10.0 if args.quick else 30.0)
    systems = args.systems.split(",") if args.systems else (QUICK_SYSTEMS if args.quick else DEFAULT_SYSTEMS)
    scenarios = args.scenarios.split(",") if args.scenarios else list(scen_table)
    # A name in both tables means the table of this run (--quick or not).
    all_scen = {**SCENARIOS, **QUICK_SCENARIOS} if args.quick else {**QUICK_SCENARIOS, **SCENARIOS}
    for s in systems:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s}; known: {', '.join(SYSTEMS)}")
    for s in scenarios:
        if s not in all_scen:
            ap.error(f"unknown scenario {s}; known: {', '.join(all_scen)}")
    if not args.no_pin and (os.cpu_count() or 1) < 2:
        log("only one CPU: running unpinned")
        args.no_pin = True
    if not args.no_pin and not shutil.which("taskset"):
        log("taskset not found: running unpinned")
        args.no_pin = True

    raise_nofile()
    tools, notes = find_tools(args)
    for n in notes:
        log("note: " + n)
    if not tools["wsload"]:
        log("error: wsload is required")
        return 2
    kinds_needed = {SYSTEMS[s]["kind"] for s in systems}
    if any(all_scen[s].get("client") == "godot4" for s in scenarios):
        kinds_needed.add("godot4")  # the Godot 4 client of echo_1x1_64_godot_client
    if "godot4" in kinds_needed and not tools["godot4"]:
        log("error: no Godot 4 binary")
        return 2

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "target" / "bench" / f"results-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    logdir = out.parent / f"logs-{stamp}"
    logdir.mkdir(parents=True, exist_ok=True)
    if "core" in systems and tools["core_server"] and any(all_scen[s].get("tls") for s in scenarios):
        # RSA-2048 for core-server (the Godot servers make their own with Crypto)
        made = make_certificate(logdir, "core", ["rsa:2048"], "core in the wss scenarios is")
        if made:
            tools.update(tls_cert=made["cert"], tls_key=made["key"])
    if any(all_scen[s].get("tls") == "ecdsa" for s in scenarios):
        # ECDSA P-256 for every server of the wss_ecdsa_* scenarios
        made = make_certificate(logdir, "ecdsa", ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
                                "the wss_ecdsa_* scenarios are")
        if made:
            tools.update(ecdsa_cert=made["cert"], ecdsa_key=made["key"])

    plan = []
    skipped = []
    for r in range(1, args.repeats + 1):
        for scen in scenarios:
            sc = all_scen[scen]
            for system in systems:
                if "only" in sc and system not in sc["only"]:
                    continue
                if "scenarios" in SYSTEMS[system] and scen not in SYSTEMS[system]["scenarios"]:
                    continue
                if sc.get("once") and r > 1:
                    continue
                kind = SYSTEMS[system]["kind"]
                missing = {"godot3": "godot3", "core": "core_server", "godot4": "godot4"}[kind]
                if not tools[missing]:
                    if r == 1:
                        skipped.append({"system": system, "scenario": scen,
                                        "reason": f"{missing} not available"})
                    continue
                if sc.get("tls") == "ecdsa" and not tools.get("ecdsa_cert"):
                    if r == 1:
                        skipped.append({"system": system, "scenario": scen,
                                        "reason": "no ECDSA certificate (openssl missing)"})
                    continue
                if kind == "core" and sc.get("tls") and not tools.get("tls_cert"):
                    if r == 1:
                        skipped.append({"system": system, "scenario": scen,
                                        "reason": "no certificate for core-server (openssl missing)"})
                    continue
                plan.append((system, scen, sc, r))

    meta = {
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "bench/run_matrix.py " + shlex.join(sys.argv[1:]),
        "quick": args.quick,
        "repeats": args.repeats,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "idle_hold_s": args.idle_hold,
        "ramp_timeout_s": args.ramp_timeout,
        "pinning": None if args.no_pin else {"server_cpu": SERVER_CPU, "wsload_cpu": CLIENT_CPU},
        "flat_out": "Godot 4: Engine.max_fps = 0, OS.low_processor_usage_mode = false, "
                    "OS.low_processor_usage_mode_sleep_usec = 0; Godot 3: Engine.target_fps = 0 and the "
                    "same two OS settings; *_paced scenarios keep Godot's default pacing",
        "buffers": BUFFERS_NOTE if "--raise-buffers" not in (args.server_extra or "") else
                   "raised buffers in every Godot server (--server-extra=--raise-buffers): 1 MiB "
                   "inbound + 1 MiB outbound per peer, 4096 packets each way",
        "tls": "wss_* scenarios: wss:// with a self-signed RSA-2048 certificate (CN=localhost) made at "
               "server start (Godot: Crypto.generate_rsa / generate_self_signed_certificate; core-server: "
               "openssl req); wsload --insecure never resumes a TLS session, so every connection makes a "
               "full handshake",
        "server_extra": args.server_extra,
        "systems": {s: SYSTEMS[s]["label"] for s in systems},
        "scenarios": {s: all_scen[s] for s in scenarios},
        "tools": tools,
        "notes": notes,
        "machine": machine_info(tools),
    }
    results = {"meta": meta, "runs": [], "skipped": skipped}

    def save():
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(out)

    log(f"bench: {len(plan)} runs, results -> {display_path(out)}")
    runner = Runner(args, tools, logdir)
    t0 = time.monotonic()
    for i, (system, scen, sc, r) in enumerate(plan, 1):
        rec = runner.run(system, scen, sc, r, f"{i}/{len(plan)}")
        results["runs"].append(rec)
        save()
        log(f"[{i}/{len(plan)}] {scen:20} {system:16} r{r}: {report.one_line(rec)}"
            f"  ({rec.get('wall_s', 0):.1f}s)")
    meta["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    meta["wall_s"] = round(time.monotonic() - t0, 1)
    meta["load_avg_at_end"] = os.getloadavg()
    save()

    print(report.text_table(results))
    failed = [r for r in results["runs"] if not r["ok"]]
    print(f"\nresults: {out}")
    print(f"{len(results['runs'])} runs in {meta['wall_s']:.0f}s, {len(failed)} failed, "
          f"{len(skipped)} skipped")
    for r in failed:
        print(f"FAILED {r['scenario']} {r['system']} r{r['repeat']}: {r['error']}  (log: {r.get('log')})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
