#!/usr/bin/env python3
"""Per-message breakdown of raw mode's main-thread cost (bench/godot4/breakdown.gd), for one or
more builds of the extension, runs interleaved.

    bench/breakdown.py [--library NAME=PATH ...] [--runs 5] [--rounds 30] [--batch 200] [--json FILE]

Each --library is a release build of libwebsocket_server.so (default: "current" =
target/release/libwebsocket_server.so, which scripts/bench.sh builds). Every run copies
bench/godot4 into a temporary project with that library, starts Godot headless pinned to CPU 0
and reads its BREAKDOWN line. Runs alternate between the libraries. Prints a markdown table:
median µs per message over the runs, with min-max. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROWS = [
    ("poll_read", "poll(): read, decode, queue (no listener)"),
    ("poll_signal", "poll() with an empty data_received handler"),
    ("signal", "→ signal emission + Callable dispatch (the difference)"),
    ("get_peer", "server.get_peer(id)"),
    ("count", "peer.get_available_packet_count()"),
    ("get_packet", "peer.get_packet()"),
    ("put_packet", "peer.put_packet(p)"),
    ("poll_write", "poll(): writing the replies"),
    ("g3_handler", "whole Godot 3-style echo (poll + handler + writes)"),
    ("gdscript_loop", "an empty GDScript loop iteration"),
]
LIB_NAME = "libwebsocket_server.linux.release.x86_64.so"


def project_with(library: Path, where: Path) -> Path:
    project = where / "project"
    shutil.copytree(REPO / "bench" / "godot4", project, symlinks=True,
                    ignore=shutil.ignore_patterns("addons"))
    addon = project / "addons" / "websocket_server"
    shutil.copytree(REPO / "addons" / "websocket_server", addon,
                    ignore=shutil.ignore_patterns("bin"))
    (addon / "bin").mkdir()
    shutil.copy2(library, addon / "bin" / LIB_NAME)
    return project


def run_once(godot: str, project: Path, rounds: int, batch: int, pin: bool) -> dict:
    cmd = (["taskset", "-c", "0"] if pin else []) + [
        godot, "--headless", "--path", str(project), "--script", "res://breakdown.gd", "--",
        "--rounds", str(rounds), "--batch", str(batch)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    for line in p.stdout.splitlines():
        if line.startswith("BREAKDOWN "):
            d = json.loads(line[len("BREAKDOWN "):])
            d["signal"] = d["poll_signal"] - d["poll_read"]
            return d
    raise RuntimeError(f"no BREAKDOWN line (exit {p.returncode}): {p.stderr[-800:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", action="append", default=[],
                    help="NAME=PATH of a release library (repeatable; default current=target/release/...)")
    ap.add_argument("--runs", type=int, default=5, help="runs per library (default 5)")
    ap.add_argument("--rounds", type=int, default=30, help="batches per run (default 30)")
    ap.add_argument("--batch", type=int, default=200, help="messages per batch (default 200)")
    ap.add_argument("--godot", help="Godot 4 binary (default: GDRUST_GODOT_BIN or scripts/get-godot.sh)")
    ap.add_argument("--json", help="also write the raw figures here")
    args = ap.parse_args()

    libs = []
    for spec in args.library or [f"current={REPO / 'target' / 'release' / 'libwebsocket_server.so'}"]:
        name, _, path = spec.partition("=")
        if not Path(path).is_file():
            print(f"error: no library at {path} (scripts/build.sh --release)", file=sys.stderr)
            return 2
        libs.append((name, Path(path)))
    godot = args.godot or os.environ.get("GDRUST_GODOT_BIN") or subprocess.run(
        [str(REPO / "scripts" / "get-godot.sh")], capture_output=True, text=True,
        check=True).stdout.strip().splitlines()[-1]
    pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None

    results: dict[str, list[dict]] = {name: [] for name, _ in libs}
    with tempfile.TemporaryDirectory() as tmp:
        projects = {name: project_with(path, Path(tmp) / name) for name, path in libs}
        for r in range(args.runs):
            for name, _ in libs:
                d = run_once(godot, projects[name], args.rounds, args.batch, pin)
                results[name].append(d)
                print(f"run {r + 1}/{args.runs} {name}: g3_handler {d['g3_handler']:.2f} µs/msg",
                      file=sys.stderr)
    data = {"command": "bench/breakdown.py " + " ".join(sys.argv[1:]),
            "libraries": {n: str(p) for n, p in libs}, "runs_per_library": args.runs,
            "rounds": args.rounds, "batch": args.batch, "pinned": pin, "runs": results}
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1))
    print(markdown_table(data))
    return 0


def markdown_table(data: dict) -> str:
    """The breakdown as a markdown table: median µs per message with min–max, per library."""
    names = list(data["runs"])

    def cell(name: str, key: str) -> str:
        vals = [d[key] for d in data["runs"][name]]
        return f"{statistics.median(vals):.2f} ({min(vals):.2f}–{max(vals):.2f})"

    first = data["runs"][names[0]][0]
    lines = [f"µs per {first['size']} B message, median (min–max) over {data['runs_per_library']} "
             f"runs of {data['rounds']} batches of {data['batch']}, runs interleaved; Godot "
             f"{first['engine']}, pinned to one CPU: {data['pinned']}.", "",
             "| step | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(name, key) for name in names) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
