#!/usr/bin/env python3
"""Turns a results file of bench/run_matrix.py into docs/BENCHMARKS.md and docs/benchmarks.svg.

    bench/report.py target/bench/results-<timestamp>.json [--md docs/BENCHMARKS.md] [--svg docs/benchmarks.svg]
    bench/report.py RESULTS --text        # only print the summary table

Medians over the repeats, with min-max; ratios against Godot 4's WebSocketMultiplayerPeer
(godot_mp) and against the bare core (core-server); a met / not met line per target.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SYSTEM_ORDER = ["ours_mp", "ours_raw", "godot_mp", "godot_tcp", "godot3", "godot3_mp", "core"]
SYSTEM_SHORT = {
    "ours_mp": "ours MP", "ours_raw": "ours raw", "godot_mp": "Godot 4 MP",
    "godot_tcp": "Godot 4 TCP+WSPeer", "godot3": "Godot 3.2.3", "godot3_mp": "Godot 3.2.3 MP",
    "core": "core (no Godot)",
}
COLORS = {
    "ours_mp": "#1f77b4", "ours_raw": "#6baed6", "godot_mp": "#d62728", "godot_tcp": "#ff9896",
    "godot3": "#7f7f7f", "godot3_mp": "#bdbdbd", "core": "#2ca02c",
}

# (key, column title, better: "hi" | "lo" | None, format)
METRICS = {
    "echo": [("msgs_per_sec", "msgs/s", "hi", "int"), ("p50_us", "p50 µs", "lo", "int"),
             ("p99_us", "p99 µs", "lo", "int"), ("p999_us", "p99.9 µs", "lo", "int"),
             ("fairness", "fairness", "hi", "f2"),
             ("main_us_per_msg", "main thread µs/msg", "lo", "f2"),
             ("work_per_frame_us", "poll+drain µs/frame", "lo", "f1"),
             ("frames_per_s", "frames/s", None, "int"),
             ("client_cpu_share", "wsload CPU share", None, "pct")],
    "broadcast": [("delivered_per_sec", "delivered/s", "hi", "int"), ("p50_us", "p50 µs", "lo", "int"),
                  ("p99_us", "p99 µs", "lo", "int"), ("fairness", "min/max client", "hi", "f2"),
                  ("ticks_per_s", "sends/s", None, "int"),
                  ("work_per_frame_us", "poll+drain+send µs/frame", "lo", "f1")],
    "connect": [("conn_per_sec", "conn/s", "hi", "int"), ("connected", "connected", "hi", "int"),
                ("not_connected_after_timeout", "not connected", "lo", "int"),
                ("failed", "failed", "lo", "int"),
                ("handshake_p50_us", "handshake p50 µs", "lo", "int"),
                ("handshake_p99_us", "handshake p99 µs", "lo", "int")],
    "idle": [("work_per_frame_us", "poll+drain µs/frame", "lo", "f1"),
             ("frame_us", "frame time µs", "lo", "f1"),
             ("rss_per_conn_bytes", "RSS B/conn", "lo", "int"),
             ("established", "established", "hi", "int"),
             ("failed", "failed", "lo", "int")],
}
PRIMARY = {"echo": "msgs_per_sec", "broadcast": "delivered_per_sec", "connect": "conn_per_sec",
           "idle": "work_per_frame_us"}


# ----------------------------------------------------------------------------- per-run metrics

def metrics(rec: dict, stype: str) -> dict:
    """The numbers of one run (only those that exist)."""
    w = rec.get("wsload") or {}
    st = rec.get("stats") or {}
    m: dict[str, float] = {}

    def put(key, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            m[key] = float(value)

    if stype == "echo":
        for k in ("msgs_per_sec", "p50_us", "p99_us", "p999_us", "fairness", "errors",
                  "connect_failures", "client_cpu_s"):
            put(k, w.get(k))
        if "fairness" not in m and w.get("max_conn_msgs"):
            put("fairness", w.get("min_conn_msgs", 0) / w["max_conn_msgs"])
        if w.get("client_cpu_util") is not None:  # CPU time ÷ measured time, per wsload thread
            put("client_cpu_share", w["client_cpu_util"])
        if st and m.get("msgs_per_sec"):
            put("main_us_per_msg", st["work_per_frame_us"] * st["frames_per_s"] / m["msgs_per_sec"])
    elif stype == "broadcast":
        for k in ("delivered_per_sec", "p50_us", "p99_us"):
            put(k, w.get(k))
        if w.get("max_client_msgs"):
            put("fairness", w.get("min_client_msgs", 0) / w["max_client_msgs"])
        if st and st.get("interval_us"):
            put("ticks_per_s", st["broadcasts"] / (st["interval_us"] / 1e6))
    elif stype == "connect":
        for k in ("conn_per_sec", "connected", "failed", "not_connected_after_timeout",
                  "handshake_p50_us", "handshake_p99_us"):
            put(k, w.get(k))
    elif stype == "idle":
        for k in ("established", "failed"):
            put(k, w.get(k))
        put("rss_per_conn_bytes", rec.get("rss_per_conn_bytes"))
        put("rss_before_kb", rec.get("rss_before_kb"))
        put("rss_after_kb", rec.get("rss_after_kb"))
    if st:
        put("work_per_frame_us", st.get("work_per_frame_us"))
        put("frame_us", st.get("frame_us"))
        put("frames_per_s", st.get("frames_per_s"))
        put("max_frame_work_us", st.get("max_frame_work_us"))
    put("server_cpu_s", rec.get("server_cpu_s"))
    return m


def scenario_type(results: dict, scen: str) -> str:
    sc = results["meta"]["scenarios"].get(scen, {})
    return sc.get("type", scen.split("_")[0])


def summarize(results: dict) -> dict:
    """{scenario: {system: {"_n": ok runs, "_failed_runs": n, "_errors": [...], "_warnings": [...],
    metric: (median, min, max)}}}"""
    groups: dict[str, dict[str, list]] = {}
    for rec in results["runs"]:
        groups.setdefault(rec["scenario"], {}).setdefault(rec["system"], []).append(rec)
    out: dict[str, dict] = {}
    for scen, by_sys in groups.items():
        stype = scenario_type(results, scen)
        out[scen] = {}
        for system, recs in by_sys.items():
            ok = [r for r in recs if r.get("ok")]
            entry: dict = {"_n": len(ok), "_failed_runs": len(recs) - len(ok),
                           "_errors": [r.get("error") for r in recs if not r.get("ok")],
                           "_warnings": sorted({w for r in recs for w in r.get("warnings", [])})}
            values: dict[str, list[float]] = {}
            for r in ok:
                for k, v in metrics(r, stype).items():
                    values.setdefault(k, []).append(v)
            for k, vs in values.items():
                entry[k] = (statistics.median(vs), min(vs), max(vs))
            out[scen][system] = entry
    return out


def ordered_systems(systems) -> list[str]:
    return [s for s in SYSTEM_ORDER if s in systems] + sorted(s for s in systems if s not in SYSTEM_ORDER)


def ordered_scenarios(results: dict, present) -> list[str]:
    order = list(results["meta"].get("scenarios", {}))
    return [s for s in order if s in present] + sorted(s for s in present if s not in order)


# ----------------------------------------------------------------------------- formatting

def fnum(v: float | None, kind: str = "int") -> str:
    if v is None:
        return "–"
    if kind == "pct":
        return f"{v * 100:.0f}%"
    if kind == "f2":
        return f"{v:.2f}"
    if kind == "f1":
        return f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"
    if abs(v) >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def cell(entry: dict | None, key: str, kind: str = "int", ranges: bool = True) -> str:
    if not entry:
        return "–"
    if key not in entry:
        return "failed" if entry.get("_n", 0) == 0 and entry.get("_failed_runs") else "–"
    med, lo, hi = entry[key]
    if not ranges or entry["_n"] < 2 or lo == hi:
        return fnum(med, kind)
    return f"{fnum(med, kind)} ({fnum(lo, kind)}–{fnum(hi, kind)})"


def med(summary: dict, scen: str, system: str, key: str) -> float | None:
    e = summary.get(scen, {}).get(system)
    if not e or key not in e:
        return None
    return e[key][0]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fratio(r: float | None) -> str:
    if r is None:
        return "–"
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


def one_line(rec: dict) -> str:
    """A short summary of one run, for progress output."""
    if not rec.get("ok"):
        return "FAILED: " + str(rec.get("error"))
    w = rec.get("wsload") or {}
    st = rec.get("stats") or {}
    parts = []
    for k, label in (("msgs_per_sec", "msgs/s"), ("delivered_per_sec", "delivered/s"),
                     ("conn_per_sec", "conn/s"), ("established", "established")):
        if k in w:
            parts.append(f"{fnum(w[k])} {label}")
    for k in ("p50_us", "p99_us"):
        if k in w:
            parts.append(f"{k[:-3]} {fnum(w[k])} µs")
    if "not_connected_after_timeout" in w:
        parts.append(f"not connected {w['not_connected_after_timeout']}")
    if rec.get("rss_per_conn_bytes") is not None:
        parts.append(f"{rec['rss_per_conn_bytes']:,} B/conn")
    if st:
        parts.append(f"work {st['work_per_frame_us']:.2f} µs/frame, {st['frames_per_s']:,.0f} fps")
    if rec.get("warnings"):
        parts.append("warn: " + ", ".join(rec["warnings"]))
    return "; ".join(parts)


def text_table(results: dict) -> str:
    """Plain-text summary (stdout of run_matrix.py and --text)."""
    summary = summarize(results)
    lines = []
    for scen in ordered_scenarios(results, summary):
        stype = scenario_type(results, scen)
        cols = METRICS[stype]
        lines.append("")
        lines.append(f"== {scen}: {results['meta']['scenarios'].get(scen, {}).get('label', '')}")
        header = f"{'system':12}" + "".join(f" {c[1]:>26}" for c in cols[:5])
        lines.append(header)
        for system in ordered_systems(summary[scen]):
            e = summary[scen][system]
            if e["_n"] == 0:
                lines.append(f"{system:12} FAILED: {'; '.join(str(x) for x in e['_errors'])}")
                continue
            lines.append(f"{system:12}" + "".join(f" {cell(e, c[0], c[3]):>26}" for c in cols[:5]))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- targets

def targets(summary: dict) -> list[tuple[str, bool | None, str]]:
    """(target, met (None = not measured), numbers)."""
    out = []
    S = summary

    def have(*vals):
        return all(v is not None for v in vals)

    # echo 100x8x64: >= 3x Godot MP
    o, g = med(S, "echo_100x8_64", "ours_mp", "msgs_per_sec"), med(S, "echo_100x8_64", "godot_mp", "msgs_per_sec")
    out.append(("Echo 100 × 8 × 64 B: ours ≥ 3× Godot MP msgs/s",
                ratio(o, g) >= 3 if have(o, g) else None,
                f"{fnum(o)} vs {fnum(g)} msgs/s = {fratio(ratio(o, g))}"))
    # echo 100x1x16k: >= 3x and p99 <= 1/3
    o, g = med(S, "echo_100x1_16k", "ours_mp", "msgs_per_sec"), med(S, "echo_100x1_16k", "godot_mp", "msgs_per_sec")
    op, gp = med(S, "echo_100x1_16k", "ours_mp", "p99_us"), med(S, "echo_100x1_16k", "godot_mp", "p99_us")
    met = None
    if have(o, g, op, gp):
        met = ratio(o, g) >= 3 and op <= gp / 3
    out.append(("Echo 100 × 1 × 16 KiB: ours ≥ 3× Godot MP msgs/s and p99 ≤ ⅓ of Godot MP's", met,
                f"{fnum(o)} vs {fnum(g)} msgs/s = {fratio(ratio(o, g))}; p99 {fnum(op)} vs {fnum(gp)} µs "
                f"= {fratio(ratio(op, gp))}"))
    # fairness >= 0.5 on the multi-connection runs
    fs = [(scen, med(S, scen, "ours_mp", "fairness"))
          for scen in ("echo_100x8_64", "echo_100x1_16k", "broadcast_1000_60hz", "broadcast_1000_flat")
          if med(S, scen, "ours_mp", "fairness") is not None]
    out.append(("Fairness (min ÷ max messages per connection) ≥ 0.5 for ours",
                all(f >= 0.5 for _, f in fs) if fs else None,
                ", ".join(f"{scen} {f:.2f}" for scen, f in fs) or "not measured"))
    # broadcast 1000 >= 5x Godot MP delivered/s (flat out; 60 Hz shown)
    o, g = med(S, "broadcast_1000_flat", "ours_mp", "delivered_per_sec"), med(S, "broadcast_1000_flat", "godot_mp", "delivered_per_sec")
    o60, g60 = med(S, "broadcast_1000_60hz", "ours_mp", "delivered_per_sec"), med(S, "broadcast_1000_60hz", "godot_mp", "delivered_per_sec")
    out.append(("Broadcast to 1,000 clients: ours ≥ 5× Godot MP delivered msgs/s (every frame)",
                ratio(o, g) >= 5 if have(o, g) else None,
                f"every frame {fnum(o)} vs {fnum(g)}/s = {fratio(ratio(o, g))}; at 60 Hz "
                f"{fnum(o60)} vs {fnum(g60)}/s = {fratio(ratio(o60, g60))} (60 Hz sends only 60,000/s)"))
    # connect 2000/100 >= 20x with 0 not connected
    o, g = med(S, "connect_2000_100", "ours_mp", "conn_per_sec"), med(S, "connect_2000_100", "godot_mp", "conn_per_sec")
    nc = med(S, "connect_2000_100", "ours_mp", "not_connected_after_timeout")
    ncmax = None
    e = S.get("connect_2000_100", {}).get("ours_mp")
    if e and "not_connected_after_timeout" in e:
        ncmax = e["not_connected_after_timeout"][2]
    met = None
    if have(o, g, ncmax):
        met = ratio(o, g) >= 20 and ncmax == 0
    gnc = med(S, "connect_2000_100", "godot_mp", "not_connected_after_timeout")
    out.append(("Connect 2,000, 100 at once: ours ≥ 20× Godot MP conn/s, 0 not connected", met,
                f"{fnum(o)} vs {fnum(g)} conn/s = {fratio(ratio(o, g))}; not connected: ours "
                f"{fnum(ncmax)} (worst run), Godot MP {fnum(gnc)} (median)"))
    # idle 5000: poll+drain <= 1% of Godot MP frame time; <= 8 kB RSS per connection
    ow, gf = med(S, "idle_5000", "ours_mp", "work_per_frame_us"), med(S, "idle_5000", "godot_mp", "frame_us")
    gw = med(S, "idle_5000", "godot_mp", "work_per_frame_us")
    out.append(("Idle 5,000: ours poll+drain per frame ≤ 1% of Godot MP's frame time",
                ow <= gf * 0.01 if have(ow, gf) else None,
                f"{fnum(ow, 'f2')} µs vs {fnum(gf, 'f1')} µs frame ({fnum(gw, 'f1')} µs in poll) = "
                f"{(ow / gf * 100) if have(ow, gf) and gf else float('nan'):.2g}%"))
    rss = med(S, "idle_5000", "ours_mp", "rss_per_conn_bytes")
    grss = med(S, "idle_5000", "godot_mp", "rss_per_conn_bytes")
    out.append(("Idle 5,000: ours ≤ 8 kB RSS per idle connection",
                rss <= 8000 if rss is not None else None,
                f"{fnum(rss)} B per connection (Godot MP {fnum(grss)} B)"))
    # 1x1 latency flat out: p50 <= 1.5x Godot MP
    o, g = med(S, "echo_1x1_64", "ours_mp", "p50_us"), med(S, "echo_1x1_64", "godot_mp", "p50_us")
    ou, gu = (med(S, "echo_1x1_64_unpinned", "ours_mp", "p50_us"),
              med(S, "echo_1x1_64_unpinned", "godot_mp", "p50_us"))
    extra = (f" (not pinned, informational: {fnum(ou)} vs {fnum(gu)} µs = {fratio(ratio(ou, gu))})"
             if have(ou, gu) else "")
    out.append(("Echo 1 × 1 flat out: ours p50 ≤ 1.5× Godot MP's p50",
                o <= 1.5 * g if have(o, g) else None,
                f"{fnum(o)} vs {fnum(g)} µs = {fratio(ratio(o, g))}{extra}"))
    # ours >= 0.5x core on echo
    parts = []
    mets = []
    for scen in ("echo_1x1_64", "echo_100x8_64", "echo_100x1_16k"):
        o, c = med(S, scen, "ours_mp", "msgs_per_sec"), med(S, scen, "core", "msgs_per_sec")
        if have(o, c):
            mets.append(o >= 0.5 * c)
            parts.append(f"{scen} {fnum(o)} vs {fnum(c)} = {fratio(ratio(o, c))}")
    out.append(("Echo: ours ≥ 0.5× the bare core (core-server) msgs/s",
                all(mets) if mets else None, "; ".join(parts) or "not measured"))
    return out


# ----------------------------------------------------------------------------- SVG

def svg_chart(results: dict, summary: dict) -> str:
    """Grouped bars: each scenario's primary figure relative to Godot 4 WebSocketMultiplayerPeer
    (higher is better; for idle the inverse of the poll cost), log scale."""
    scens = [s for s in ordered_scenarios(results, summary) if "godot_mp" in summary[s]]
    systems = ordered_systems({sy for s in scens for sy in summary[s]})
    groups = []
    for scen in scens:
        stype = scenario_type(results, scen)
        key = PRIMARY[stype]
        ref = med(summary, scen, "godot_mp", key)
        bars = []
        for sy in systems:
            v = med(summary, scen, sy, key)
            r = None
            if v is not None and ref:
                r = (ref / v if v else None) if stype == "idle" else v / ref
            bars.append((sy, r))
        groups.append((scen, bars))
    rs = [r for _, b in groups for _, r in b if r]
    lo = 10 ** math.floor(math.log10(min(rs + [0.5])))
    hi = 10 ** math.ceil(math.log10(max(rs + [2.0])))
    W, H = 1100, 520
    left, right, top, bottom = 70, 20, 60, 140
    pw, ph = W - left - right, H - top - bottom

    def y(v):
        return top + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
           f'{e("Relative to Godot 4 WebSocketMultiplayerPeer (= 1×, higher is better, log scale)")}</text>',
           f'<text x="{W / 2}" y="40" text-anchor="middle" fill="#555">'
           f'{e("echo: msgs/s · broadcast: delivered msgs/s · connect: conn/s · idle: 1 ÷ main-thread poll cost per frame")}</text>']
    dec = lo
    while dec <= hi * 1.0001:
        for mult in (1, 2, 5):
            v = dec * mult
            if v < lo or v > hi * 1.0001:
                continue
            yy = y(v)
            major = mult == 1
            out.append(f'<line x1="{left}" x2="{W - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
                       f'stroke="{"#bbb" if major else "#eee"}"/>')
            out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#444">{v:g}×</text>')
        dec *= 10
    y1 = y(1)
    out.append(f'<line x1="{left}" x2="{W - right}" y1="{y1:.1f}" y2="{y1:.1f}" stroke="#d62728" stroke-width="1.5"/>')
    gw = pw / max(1, len(groups))
    bw = min(22, (gw - 16) / max(1, len(systems)))
    for gi, (scen, bars) in enumerate(groups):
        gx = left + gi * gw + (gw - bw * len(systems)) / 2
        for bi, (sy, r) in enumerate(bars):
            x = gx + bi * bw
            if r is None:
                out.append(f'<text x="{x + bw / 2:.1f}" y="{y1 - 3:.1f}" text-anchor="middle" fill="#999">–</text>')
                continue
            rr = min(max(r, lo), hi)
            yt, yb = (y(rr), y1) if rr >= 1 else (y1, y(rr))
            out.append(f'<rect x="{x + 1:.1f}" y="{yt:.1f}" width="{bw - 2:.1f}" height="{max(1, yb - yt):.1f}" '
                       f'fill="{COLORS.get(sy, "#999")}"><title>{e(SYSTEM_SHORT.get(sy, sy))}: {r:.3g}×</title></rect>')
            label = f"{r:.2g}" if r < 10 else (f"{r:.0f}" if r < 1000 else f"{r / 1000:.0f}k")
            ly = yt - 3 if rr >= 1 else yb + 10
            out.append(f'<text x="{x + bw / 2:.1f}" y="{ly:.1f}" text-anchor="middle" font-size="9">{label}</text>')
        cx = left + gi * gw + gw / 2
        lines = scen.replace("_", " ").split(" ")
        out.append(f'<text x="{cx:.1f}" y="{top + ph + 16}" text-anchor="middle" font-weight="bold">{e(lines[0])}</text>')
        out.append(f'<text x="{cx:.1f}" y="{top + ph + 30}" text-anchor="middle">{e(" ".join(lines[1:]))}</text>')
    lx, ly = left, H - 60
    for i, sy in enumerate(systems):
        x = lx + (i % 3) * 340
        yy = ly + (i // 3) * 18
        out.append(f'<rect x="{x}" y="{yy - 9}" width="12" height="12" fill="{COLORS.get(sy, "#999")}"/>')
        out.append(f'<text x="{x + 18}" y="{yy + 1}">{e(results["meta"]["systems"].get(sy, sy))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- markdown

def markdown(results: dict, results_path: str, svg_name: str) -> str:
    meta = results["meta"]
    mach = meta.get("machine", {})
    summary = summarize(results)
    scens = ordered_scenarios(results, summary)
    systems = ordered_systems({sy for s in summary.values() for sy in s})
    L = []
    date = meta.get("started", "")[:10]
    L.append("# Benchmarks")
    L.append("")
    L.append(f"Generated by `scripts/bench.sh` (harness in [`bench/`](../bench/README.md)) on {date}. "
             "Every figure below was measured in one run on one machine, side by side; compare the "
             "systems with each other (ratios), not with figures from other machines.")
    L.append("")
    L.append("## Machine and settings")
    L.append("")
    L.append(f"- **Machine**: {mach.get('cpu_model', '?')}, {mach.get('nproc', '?')} CPUs "
             f"({mach.get('memory', '?')} RAM), {mach.get('os', '')}, Linux {mach.get('kernel', '?')}; "
             f"load average at start {', '.join(f'{x:.2f}' for x in mach.get('load_avg_at_start', []))}, "
             f"at end {', '.join(f'{x:.2f}' for x in meta.get('load_avg_at_end', []))}")
    L.append(f"- **Godot**: {mach.get('godot4_version', 'n/a')} (Debian's editor build, `--headless`); "
             f"Godot 3: {mach.get('godot3_version', 'not installed')} (Debian `godot3-server`)")
    L.append(f"- **Code**: commit {mach.get('git_commit', '?')}{' with local changes' if mach.get('git_dirty') else ''}; "
             f"{mach.get('rustc', '')}; the extension's **release** library "
             "(`bench/godot4/websocket_server_release.gdextension`)")
    L.append(f"- **Date**: {meta.get('started', '')} – {meta.get('finished', '')} "
             f"({meta.get('wall_s', 0) / 60:.0f} min)")
    L.append(f"- **Command**: `scripts/bench.sh` → `{meta.get('command', '')}`; raw results: `{results_path}`")
    pin = meta.get("pinning")
    L.append("- **Pinning**: " + (f"server on CPU {pin['server_cpu']} (all its threads, including our "
                                  f"network thread), wsload on CPU {pin['wsload_cpu']} (`taskset -c`)"
                                  if pin else "none"))
    L.append(f"- **Frame pacing**: flat out — {meta.get('flat_out', '')}. A flat-out Godot spins its "
             "main thread at 100% of a CPU by construction, so the per-frame cost inside poll() and "
             "the drain loop is reported instead of CPU %.")
    L.append(f"- **Repeats**: {meta.get('repeats')} per system × scenario, interleaved; medians with "
             f"(min–max). Echo runs: {meta.get('duration_s'):g} s measured after {meta.get('warmup_s'):g} s "
             f"warm-up; broadcast: {meta.get('duration_s'):g} s; idle connections held "
             f"{meta.get('idle_hold_s'):g} s.")
    L.append(f"- **Buffers**: {meta.get('buffers', '')}")
    L.append("- **Loop**: every Godot server runs the same GDScript loop shape per frame: `poll()`, then "
             "`while get_available_packet_count() > 0: read; send back to the sender`; broadcast sends one "
             "64-byte binary message (send time in the first 8 bytes) per tick to every client.")
    L.append("")
    L.append("Systems:")
    L.append("")
    for sy in systems:
        L.append(f"- `{sy}`: {meta['systems'].get(sy, sy)}")
    L.append("")

    # status of targets
    L.append("## Targets")
    L.append("")
    L.append("\"ours\" is our WebSocketMultiplayerServer (`ours_mp`) unless stated; \"Godot MP\" is "
             "Godot 4's `WebSocketMultiplayerPeer` (`godot_mp`). Medians.")
    L.append("")
    for name, met, nums in targets(summary):
        mark = "**met**" if met else ("not measured" if met is None else "**not met**")
        L.append(f"- {mark} — {name}: {nums}")
    L.append("")

    failed = [r for r in results["runs"] if not r.get("ok")]
    if failed:
        L.append("## Failed runs")
        L.append("")
        L.append("Left out of the medians (the raw results and logs are under `target/bench/`):")
        L.append("")
        for r in failed:
            L.append(f"- `{r['scenario']}` × `{r['system']}` repeat {r['repeat']}: {r.get('error')}")
        L.append("")

    # overview table: primary metric per scenario x system
    L.append("## Overview (primary figure per scenario)")
    L.append("")
    L.append("| scenario | figure | " + " | ".join(SYSTEM_SHORT.get(s, s) for s in systems) + " |")
    L.append("|---|---|" + "---|" * len(systems))
    for scen in scens:
        stype = scenario_type(results, scen)
        key = PRIMARY[stype]
        title = next(c[1] for c in METRICS[stype] if c[0] == key)
        kind = next(c[3] for c in METRICS[stype] if c[0] == key)
        L.append(f"| {meta['scenarios'].get(scen, {}).get('label', scen)} | {title} | "
                 + " | ".join(cell(summary[scen].get(s), key, kind) for s in systems) + " |")
    L.append("")
    L.append(f"![Relative to Godot 4 WebSocketMultiplayerPeer]({svg_name})")
    L.append("")

    # ratios
    L.append("## Ratios")
    L.append("")
    L.append("Primary figure of each system ÷ Godot 4 WebSocketMultiplayerPeer's (higher is better; idle: "
             "Godot MP's poll cost ÷ the system's), and ÷ the bare core's where it ran.")
    L.append("")
    L.append("| scenario | " + " | ".join(f"{SYSTEM_SHORT.get(s, s)} ÷ Godot MP" for s in systems if s != "godot_mp")
             + " | ours MP ÷ core | ours raw ÷ core |")
    L.append("|---|" + "---|" * (len([s for s in systems if s != "godot_mp"]) + 2))
    for scen in scens:
        stype = scenario_type(results, scen)
        key = PRIMARY[stype]
        ref = med(summary, scen, "godot_mp", key)
        core = med(summary, scen, "core", key)
        row = []
        for s in systems:
            if s == "godot_mp":
                continue
            v = med(summary, scen, s, key)
            row.append(fratio(ratio(ref, v) if stype == "idle" else ratio(v, ref)))
        oc = fratio(ratio(med(summary, scen, "ours_mp", key), core)) if stype != "idle" else "–"
        orc = fratio(ratio(med(summary, scen, "ours_raw", key), core)) if stype != "idle" else "–"
        L.append(f"| {scen} | " + " | ".join(row) + f" | {oc} | {orc} |")
    L.append("")

    # per-scenario detail tables
    L.append("## Details per scenario")
    L.append("")
    for scen in scens:
        stype = scenario_type(results, scen)
        cols = METRICS[stype]
        L.append(f"### {meta['scenarios'].get(scen, {}).get('label', scen)} (`{scen}`)")
        L.append("")
        L.append("| system | " + " | ".join(c[1] for c in cols) + " | runs |")
        L.append("|---|" + "---|" * (len(cols) + 1))
        for s in ordered_systems(summary[scen]):
            e = summary[scen][s]
            runs = f"{e['_n']} ok" + (f", {e['_failed_runs']} failed" if e["_failed_runs"] else "")
            L.append(f"| {SYSTEM_SHORT.get(s, s)} | " + " | ".join(cell(e, c[0], c[3]) for c in cols)
                     + f" | {runs} |")
        notes = []
        for s in ordered_systems(summary[scen]):
            e = summary[scen][s]
            if e["_errors"]:
                notes.append(f"{SYSTEM_SHORT.get(s, s)} failed: " + "; ".join(sorted({str(x)[:200] for x in e['_errors']})))
            if e["_warnings"]:
                notes.append(f"{SYSTEM_SHORT.get(s, s)} (some runs): " + ", ".join(e["_warnings"][:6]))
        if notes:
            L.append("")
            for n in notes:
                L.append(f"- {n}")
        L.append("")

    if results.get("skipped"):
        L.append("Skipped: " + "; ".join(sorted({f"{x['system']} ({x['reason']})" for x in results["skipped"]})))
        L.append("")
    L.append("## How to read this")
    L.append("")
    L.append("- **msgs/s** (echo): round trips completed per second over all connections; p50/p99/p99.9: "
             "round-trip time of one message. **fairness**: fewest ÷ most messages completed by one "
             "connection (1 = every connection served equally).")
    L.append("- **main thread µs/msg**: time the Godot main thread spent in `poll()` and the GDScript "
             "drain/echo loop, per echoed message (empty polls included: meaningful when the server is "
             "saturated, not for 1 × 1). **poll+drain µs/frame**: the same per frame. **frames/s**: frames "
             "the flat-out loop ran.")
    L.append("- **wsload CPU share**: the load generator's CPU time ÷ wall time; close to 100% means "
             "wsload (on its one CPU), not the server, limited that figure (this matters most for `core`).")
    L.append("- **broadcast**: messages the server sends to every client per tick; delivered/s counts "
             "messages received by all clients; latency = receive time − the send time the server wrote "
             "into the message.")
    L.append("- **connect**: `conn_per_sec` is completed WebSocket handshakes per second with 100 "
             "handshakes in flight; \"not connected\" = still not open after the timeout.")
    L.append("- **idle**: the main thread's time per frame in `poll()` (+ an empty drain loop) with 5,000 "
             "open, silent connections; frame time = wall time ÷ frames. RSS/conn = (VmRSS with the "
             "connections − VmRSS before) ÷ connections.")
    L.append("- All server threads share CPU 0. Our server inside a flat-out Godot runs its reactor on "
             "the main thread, in poll(), and its network thread stays parked (ARCHITECTURE.md, \"Who runs "
             "the reactor\"); poll+drain then includes the socket work, as it does for the engine servers.")
    L.append("")
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="a results-<timestamp>.json of bench/run_matrix.py")
    ap.add_argument("--md", default=str(REPO / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--svg", default=str(REPO / "docs" / "benchmarks.svg"))
    ap.add_argument("--text", action="store_true", help="print the summary table only")
    args = ap.parse_args()
    path = Path(args.results)
    results = json.loads(path.read_text())
    if args.text:
        print(text_table(results))
        return 0
    md_path, svg_path = Path(args.md), Path(args.svg)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    svg_path.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    svg_path.write_text(svg_chart(results, summary))
    try:
        rel = path.resolve().relative_to(REPO)
    except ValueError:
        rel = path
    try:
        svg_ref = svg_path.resolve().relative_to(md_path.resolve().parent)
    except ValueError:
        svg_ref = svg_path.resolve()
    md_path.write_text(markdown(results, str(rel), str(svg_ref)))
    print(f"wrote {md_path} and {svg_path}")
    print(text_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
