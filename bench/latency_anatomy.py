#!/usr/bin/env python3
"""Where the microseconds of one 1 x 1 echo round trip go, per server (a diagnostic, not a benchmark).

    bench/latency_anatomy.py [--systems ours_mp,godot_mp] [--runs 3] [--seconds 0.5] [--quartiles]

Runs the matrix's echo_1x1_64 scenario (bench/run_matrix.py: the server pinned to CPU 0 and flat
out, wsload pinned to CPU 1) and, in the middle of each run, records the system calls of both CPUs
with `perf record` on the raw_syscalls tracepoints: every call of CPU 1 (the client) and, of the
server, only the exits of its reads and the entries of its writes, to disturb it as little as
possible. Each message's round trip is then cut into five parts:

  client send()      the client's send() call, which also delivers the bytes into the
                     server's socket (loopback) and, for an epoll server, notifies its epoll
  -> server read     the client's send() returns .. the server's read returns the message
                     (the wait for the server's next poll, and its read)
  server             that read returns .. the server's reply write starts
  server -> client   the reply write starts .. the client's epoll_wait returns
                     (the loopback and waking the sleeping client thread on the other CPU)
  client             epoll_wait returns .. the client's next send() starts

and the median of each part is printed per run (with --quartiles: p25/p50/p75 of each part
within that run's traced window, which shows whether a part was steady there or spread), then
wsload's percentiles of each whole run, and, per system, the median over the runs (runs are
interleaved across systems). Tracing slows every system call a little, so the parts add up to a
little more than wsload's untraced p50. Needs Linux x86_64, `perf`, and permission to trace (root,
or kernel.perf_event_paranoid = -1). Exit code 0, or 2 when something it needs is missing.
"""
import argparse
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_matrix as rm  # noqa: E402  (the matrix's systems, command lines and tools)

# x86_64 system call numbers
SENDTO, RECVFROM, SENDMSG, EPOLL_WAIT = 44, 45, 46, 232
READ, WRITE, WRITEV = 0, 1, 20
SERVER_READS = (RECVFROM, READ)
SERVER_WRITES = (SENDTO, SENDMSG, WRITE, WRITEV)
PARTS = ("client send()", "-> server read", "server", "server -> client", "client")
QUANTILES = ("p10_us", "p25_us", "p50_us", "p75_us", "p90_us")  # wsload's, over its whole run
LINE = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+raw_syscalls:sys_(enter|exit): NR (\d+)(?: = (-?\d+))?")


def events(data: Path) -> list[tuple[float, str, int, int, int]]:
    """(time µs, "enter"|"exit", syscall number, return value or 0, thread id) of a perf.data."""
    out = subprocess.run(["perf", "script", "--ns", "-i", str(data), "-F", "tid,time,event,trace"],
                         capture_output=True, text=True).stdout
    ev = []
    for line in out.splitlines():
        m = LINE.search(line)
        if m:
            ev.append((float(m.group(2)) * 1e6, m.group(3), int(m.group(4)),
                       int(m.group(5) or 0), int(m.group(1))))
    return ev


def cut(server: list, client: list) -> dict[str, list[float]]:
    """The five parts of every complete round trip in the two traces."""
    senders = Counter(e[4] for e in client if e[1] == "enter" and e[2] == SENDTO)
    if not senders:
        return {p: [] for p in PARTS}
    tid = senders.most_common(1)[0][0]  # wsload's connection thread
    merged = sorted([("s",) + e for e in server] + [("c",) + e for e in client if e[4] == tid],
                    key=lambda e: e[1])
    parts = {p: [] for p in PARTS}
    sending = sent = got = replied = woke = None
    for who, t, kind, nr, ret, _ in merged:
        if who == "c" and kind == "enter" and nr == SENDTO:
            if woke is not None:
                parts["client"].append(t - woke)
                woke = None
            sending, sent = t, None
        elif who == "c" and kind == "exit" and nr == SENDTO and sending is not None:
            parts["client send()"].append(t - sending)
            sent, sending = t, None
        elif who == "s" and kind == "exit" and nr in SERVER_READS and ret > 0 and sent is not None:
            parts["-> server read"].append(t - sent)
            got, sent = t, None
        elif who == "s" and kind == "enter" and nr in SERVER_WRITES and got is not None:
            parts["server"].append(t - got)
            replied, got = t, None
        elif who == "c" and kind == "exit" and nr == EPOLL_WAIT and replied is not None:
            parts["server -> client"].append(t - replied)
            woke, replied = t, None
    return parts


def one_run(runner, system: str, seconds: float, workdir: Path) -> dict | None:
    sc = rm.SCENARIOS["echo_1x1_64"]
    server = rm.Proc(runner.server_cmd(system, sc), runner.env, workdir / f"{system}.server.log")
    try:
        up = server.wait_line(re.compile(r"LISTENING (\d+)"), 60, "out")
        if not up:
            rm.log(f"{system}: the server did not start (see {workdir / (system + '.server.log')})")
            return None
        cmd, limit = runner.wsload_cmd(system, sc, int(up[1].group(1)))
        client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(runner.args.warmup + 1)
        cdata, sdata = workdir / f"{system}.client.data", workdir / f"{system}.server.data"
        pid = server.pid
        cpu_client = subprocess.Popen(
            ["perf", "record", "-q", "-C", rm.CLIENT_CPU, "-o", str(cdata),
             "-e", "raw_syscalls:sys_enter,raw_syscalls:sys_exit", "--", "sleep", str(seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        writes = " || ".join(f"id == {n}" for n in SERVER_WRITES)
        reads = " || ".join(f"id == {n}" for n in SERVER_READS)
        subprocess.run(
            ["perf", "record", "-q", "-C", rm.SERVER_CPU, "-o", str(sdata),
             "-e", "raw_syscalls:sys_enter", "--filter", f"({writes}) && common_pid == {pid}",
             "-e", "raw_syscalls:sys_exit", "--filter", f"({reads}) && common_pid == {pid}",
             "--", "sleep", str(seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu_client.wait()
        out, _ = client.communicate(timeout=limit)
        result = rm.parse_json(out.decode("utf-8", "replace"))
        parts = cut(events(sdata), events(cdata))
        return {"p50": result.get("p50_us") if result else None,
                "spread": [result.get(k) for k in QUANTILES] if result else [],
                "parts": {p: statistics.median(v) if v else None for p, v in parts.items()},
                "quartiles": {p: statistics.quantiles(v, n=4) if len(v) > 1 else None
                              for p, v in parts.items()},
                "n": len(parts["server"])}
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", default="ours_mp,ours_g3,godot_mp,core")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs per system (default 3)")
    ap.add_argument("--seconds", type=float, default=0.5, help="seconds traced per run (default 0.5)")
    ap.add_argument("--quartiles", action="store_true",
                    help="print p25/p50/p75 of each part per run instead of its median")
    ap.add_argument("--godot", help="Godot 4 binary (default: GDRUST_GODOT_BIN or scripts/get-godot.sh)")
    args = ap.parse_args()
    if platform.system() != "Linux" or platform.machine() != "x86_64" or not shutil.which("perf"):
        rm.log("latency_anatomy.py needs Linux x86_64 and perf")
        return 2
    systems = [s for s in args.systems.split(",") if s]
    unknown = [s for s in systems if s not in rm.SYSTEMS]
    if unknown:
        rm.log(f"unknown systems: {', '.join(unknown)}")
        return 2
    margs = argparse.Namespace(godot=args.godot, godot3=None, wsload=None, core_server=None,
                               server_extra="", no_pin=False, server_lifetime=120,
                               duration=max(4, args.seconds + 3),
                               warmup=1, ramp_timeout=30)
    tools, notes = rm.find_tools(margs)
    for n in notes:
        rm.log(f"note: {n}")
    tool_of_kind = {"godot4": "godot4", "godot3": "godot3", "core": "core_server"}
    needed = {"wsload"} | {tool_of_kind[rm.SYSTEMS[s]["kind"]] for s in systems}
    missing = sorted(t for t in needed if not tools[t])
    if missing:
        rm.log(f"missing: {', '.join(missing)}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="latency-anatomy-"))
    runner = rm.Runner(margs, tools, workdir)
    results: dict[str, list[dict]] = {s: [] for s in systems}
    what = "p25/p50/p75" if args.quartiles else "medians"
    print(f"µs, {what} per message; {args.seconds} s traced per run; logs in {workdir}")
    print(f"{'system':10} {'run':>3} {'wsload p50':>10} " + " ".join(f"{p:>16}" for p in PARTS) + "  messages")
    for r in range(1, args.runs + 1):
        for s in systems:
            res = one_run(runner, s, args.seconds, workdir)
            if not res:
                continue
            results[s].append(res)
            if args.quartiles:
                cells = " ".join(f"{'/'.join(f'{v:.1f}' for v in res['quartiles'][p]):>16}"
                                 if res["quartiles"][p] else f"{'-':>16}" for p in PARTS)
            else:
                cells = " ".join(f"{res['parts'][p]:>16.1f}" if res["parts"][p] is not None
                                 else f"{'-':>16}" for p in PARTS)
            print(f"{s:10} {r:>3} {res['p50'] or 0:>10.1f} {cells}  {res['n']}", flush=True)
    print("\nwsload's round trips over each whole run (mostly untraced): p10 / p25 / p50 / p75 / p90")
    for s, rs in results.items():
        for i, x in enumerate(rs, 1):
            print(f"{s:10} {i:>3} " + " / ".join(f"{v:.1f}" if v is not None else "-" for v in x["spread"]))
    print("\nmedian over the runs")
    for s, rs in results.items():
        if not rs:
            continue
        def mid(vals):
            vals = [v for v in vals if v is not None]
            return f"{statistics.median(vals):.1f}" if vals else "-"
        print(f"{s:10} {'':>3} {mid(x['p50'] for x in rs):>10} "
              + " ".join(f"{mid(x['parts'][p] for x in rs):>16}" for p in PARTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
