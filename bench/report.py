#!/usr/bin/env python3
"""Turns a results file of bench/run_matrix.py into docs/BENCHMARKS.md and docs/benchmarks.svg.

    bench/report.py target/bench/results-<timestamp>.json [--md docs/BENCHMARKS.md] [--svg docs/benchmarks.svg]
    bench/report.py RESULTS --text        # only print the summary table

Medians over the repeats, with min-max; ratios against Godot 4's WebSocketMultiplayerPeer
(godot_mp) and against the bare core (core-server); a met / not met line per target. A ratio A ÷ B
pairs repeat r of A with repeat r of B (the runner interleaves them: repeat → scenario → system)
and is quoted as the median of those per-repeat ratios with their min–max, e.g. "5.20× (4.80–5.90×)".
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

SYSTEM_ORDER = ["ours_mp", "ours_raw", "ours_g3", "ours_g3_untyped", "godot_mp", "godot_tcp",
                "godot3", "godot3_mp", "godot_mp_raised", "godot_tcp_raised", "godot3_raised", "core"]
SYSTEM_SHORT = {
    "ours_mp": "ours MP", "ours_raw": "ours raw", "ours_g3": "ours G3-style",
    "ours_g3_untyped": "ours G3-style untyped", "godot_mp": "Godot 4 MP",
    "godot_tcp": "Godot 4 TCP+WSPeer", "godot3": "Godot 3.2.3", "godot3_mp": "Godot 3.2.3 MP",
    "godot_mp_raised": "Godot 4 MP (raised buffers)",
    "godot_tcp_raised": "Godot 4 TCP+WSPeer (raised buffers)",
    "godot3_raised": "Godot 3.2.3 (raised buffers)",
    "core": "core (no Godot)",
}
COLORS = {
    "ours_mp": "#1f77b4", "ours_raw": "#6baed6", "ours_g3": "#9467bd", "ours_g3_untyped": "#c5b0d5",
    "godot_mp": "#d62728", "godot_tcp": "#ff9896", "godot3": "#7f7f7f", "godot3_mp": "#bdbdbd",
    "godot_mp_raised": "#8c564b", "godot_tcp_raised": "#e377c2", "godot3_raised": "#c49c94",
    "core": "#2ca02c",
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


def per_repeat(results: dict) -> dict:
    """{scenario: {system: {repeat: metrics}}} of the runs that worked."""
    out: dict = {}
    for rec in results["runs"]:
        if not rec.get("ok"):
            continue
        stype = scenario_type(results, rec["scenario"])
        out.setdefault(rec["scenario"], {}).setdefault(rec["system"], {})[rec.get("repeat", 1)] = \
            metrics(rec, stype)
    return out


class Ratio:
    """Per-repeat ratios of one pair: median, min, max over the repeats both systems ran."""

    def __init__(self, values: list[float]):
        self.values = values
        self.med = statistics.median(values)
        self.lo = min(values)
        self.hi = max(values)
        self.n = len(values)

    def __str__(self) -> str:
        return fratio_range(self)


def paired_ratio(runs: dict, scen: str, a: str, b: str, key: str, key_b: str | None = None,
                 invert: bool = False) -> Ratio | None:
    """A ÷ B (B ÷ A with invert) for each repeat r both ran, from per_repeat(); None when no
    repeat has both figures."""
    ra = runs.get(scen, {}).get(a, {})
    rb = runs.get(scen, {}).get(b, {})
    key_b = key_b or key
    vals = []
    for r in sorted(set(ra) & set(rb)):
        x, y = ra[r].get(key), rb[r].get(key_b)
        if x is None or y is None:
            continue
        if invert:
            x, y = y, x
        if y:
            vals.append(x / y)
    return Ratio(vals) if vals else None


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
    if not ranges or entry["_n"] < 2 or fnum(lo, kind) == fnum(hi, kind):
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


def fratio_range(r: Ratio | None, kind: str = "x") -> str:
    """'5.20× (4.80–5.90×)': median per-repeat ratio with min–max; kind "pct" for percentages."""
    if r is None:
        return "–"
    if kind == "pct":
        f = lambda v: f"{v * 100:.2g}%"  # noqa: E731
    else:
        f = fratio
    if r.n < 2:
        return f(r.med)
    return f"{f(r.med)} ({f(r.lo).rstrip('×%')}–{f(r.hi)})"


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
        w = max([12] + [len(s) for s in summary[scen]])
        header = f"{'system':{w}}" + "".join(f" {c[1]:>26}" for c in cols[:5])
        lines.append(header)
        for system in ordered_systems(summary[scen]):
            e = summary[scen][system]
            if e["_n"] == 0:
                lines.append(f"{system:{w}} FAILED: {'; '.join(str(x) for x in e['_errors'])}")
                continue
            lines.append(f"{system:{w}}" + "".join(f" {cell(e, c[0], c[3]):>26}" for c in cols[:5]))
    measured = [t for t in targets(results, summary) if t[1] is not None]
    if measured:
        lines.append("")
        lines.append("== targets (ratios: median of the per-repeat ratios, min–max)")
        for name, met, nums in measured:
            lines.append(f"{'met    ' if met else 'NOT MET'} {name}: {nums}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- targets

def targets(results: dict, summary: dict) -> list[tuple[str, bool | None, str]]:
    """(target, met (None = not measured), numbers). Every ratio is the median of the per-repeat
    ratios (repeat r ÷ repeat r) with their min–max; "met" judges the median."""
    out = []
    S = summary
    R = per_repeat(results)
    # results of older runs had raised buffers in every server (their settings say so)
    defaults = str(results["meta"].get("buffers", "")).startswith("every server at its own default")
    at_buffers = "both at default buffers" if defaults else "buffers as in the settings"

    def have(*vals):
        return all(v is not None for v in vals)

    def at_least(scen, a, b, key, factor, what):
        """a's key ≥ factor × b's (b = Godot MP at its default buffers unless stated)."""
        r = paired_ratio(R, scen, a, b, key)
        va, vb = med(S, scen, a, key), med(S, scen, b, key)
        return (r.med >= factor if r else None,
                f"{SYSTEM_SHORT.get(a, a)} {fnum(va)} vs {fnum(vb)} {what} = {fratio_range(r)}")

    # Godot 3-style scripts on our server vs Godot MP, echo 100x8x64
    for sy in ("ours_g3", "ours_g3_untyped"):
        met, nums = at_least("echo_100x8_64", sy, "godot_mp", "msgs_per_sec", 2, "msgs/s")
        out.append((f"Echo 100 × 8 × 64 B: {SYSTEM_SHORT[sy]} (`{sy}`) ≥ 2× Godot MP msgs/s "
                    f"({at_buffers})", met, nums))
    met, nums = at_least("echo_100x8_64", "ours_mp", "godot_mp", "msgs_per_sec", 4, "msgs/s")
    raised = paired_ratio(R, "echo_100x8_64", "ours_mp", "godot_mp_raised", "msgs_per_sec")
    if raised:
        nums += f" (÷ Godot MP with raised buffers: {fratio_range(raised)})"
    out.append(("Echo 100 × 8 × 64 B: ours MP ≥ 4× Godot MP msgs/s", met, nums))

    # 1x1 latency, flat out and paced: ours p50 ≤ Godot MP's p50. Flat out, the round trip is
    # timed by Godot 4's own client polling flat out (echo_1x1_64_godot_client); wsload's, which
    # sleeps in epoll_wait between messages, is reported beside it ("How to read this" in markdown() says why).
    for scen, title in (("echo_1x1_64_godot_client",
                         "Echo 1 × 1 × 64 B flat out, timed by a Godot 4 client polling flat out"),
                        ("echo_1x1_64_paced", "Echo 1 × 1 × 64 B with Godot's default frame pacing")):
        parts, mets = [], []
        for sy in ("ours_mp", "ours_raw", "ours_g3"):
            r = paired_ratio(R, scen, sy, "godot_mp", "p50_us")
            if r:
                mets.append(r.med <= 1.0)
                parts.append(f"{SYSTEM_SHORT[sy]} {fnum(med(S, scen, sy, 'p50_us'))} µs = {fratio_range(r)}")
        g = med(S, scen, "godot_mp", "p50_us")
        extra = ""
        if scen == "echo_1x1_64_godot_client":
            wparts = []
            for sy in ("ours_mp", "ours_raw", "ours_g3", "godot3"):
                r = paired_ratio(R, "echo_1x1_64", sy, "godot_mp", "p50_us")
                if r:
                    wparts.append(f"{SYSTEM_SHORT.get(sy, sy)} {fratio_range(r)}")
            if wparts:
                extra = (f". Timed by wsload instead (it sleeps between messages; not the target): "
                         f"Godot MP {fnum(med(S, 'echo_1x1_64', 'godot_mp', 'p50_us'))} µs; "
                         + ", ".join(wparts))
            ou, gu = (med(S, "echo_1x1_64_unpinned", "ours_mp", "p50_us"),
                      med(S, "echo_1x1_64_unpinned", "godot_mp", "p50_us"))
            if have(ou, gu):
                extra += f" (wsload, not pinned, informational: ours MP {fnum(ou)} vs {fnum(gu)} µs = {fratio(ratio(ou, gu))})"
        out.append((f"{title}: ours MP, ours raw and ours G3-style p50 each ≤ Godot MP's p50 (ratio ≤ 1.0)",
                    all(mets) if mets else None,
                    (f"Godot MP {fnum(g)} µs; " + "; ".join(parts) + extra) if parts else "not measured"))

    # echo 100x1x16k: >= 3x and p99 <= 1/3
    r = paired_ratio(R, "echo_100x1_16k", "ours_mp", "godot_mp", "msgs_per_sec")
    rp = paired_ratio(R, "echo_100x1_16k", "ours_mp", "godot_mp", "p99_us")
    o, g = med(S, "echo_100x1_16k", "ours_mp", "msgs_per_sec"), med(S, "echo_100x1_16k", "godot_mp", "msgs_per_sec")
    op, gp = med(S, "echo_100x1_16k", "ours_mp", "p99_us"), med(S, "echo_100x1_16k", "godot_mp", "p99_us")
    raised = paired_ratio(R, "echo_100x1_16k", "ours_mp", "godot_mp_raised", "msgs_per_sec")
    out.append(("Echo 100 × 1 × 16 KiB: ours MP ≥ 3× Godot MP msgs/s and p99 ≤ ⅓ of Godot MP's",
                (r.med >= 3 and rp.med <= 1 / 3) if r and rp else None,
                f"{fnum(o)} vs {fnum(g)} msgs/s = {fratio_range(r)}; p99 {fnum(op)} vs {fnum(gp)} µs "
                f"= {fratio_range(rp)}" + (f" (msgs/s ÷ Godot MP with raised buffers: {fratio_range(raised)})"
                                           if raised else "")))

    # wss
    for sy in ("ours_mp", "ours_g3"):
        met, nums = at_least("wss_echo_100x8_64", sy, "godot_mp", "msgs_per_sec", 3, "msgs/s")
        out.append((f"wss echo 100 × 8 × 64 B: {SYSTEM_SHORT[sy]} ≥ 3× Godot MP msgs/s "
                    "(Godot MP: create_server with TLSOptions.server)", met, nums))
    for scen, cert in (("wss_ecdsa_connect_2000_100", "ECDSA P-256 certificate"),
                       ("wss_connect_2000_100", "RSA-2048 certificate")):
        met, nums = at_least(scen, "ours_mp", "godot_mp", "conn_per_sec", 10, "conn/s")
        gnc = med(S, scen, "godot_mp", "not_connected_after_timeout")
        onc = med(S, scen, "ours_mp", "not_connected_after_timeout")
        if have(gnc, onc):
            nums += f"; not connected after the timeout: ours {fnum(onc)}, Godot MP {fnum(gnc)} (medians)"
        core = med(S, scen, "core", "conn_per_sec")
        if core is not None:
            nums += f"; the bare core: {fnum(core)} conn/s"
            if "RSA" in cert:
                nums += " (an RSA-2048 signature per handshake is most of what one costs the server)"
        out.append((f"wss connect 2,000, 100 at once, full TLS handshakes, {cert}: ours MP ≥ 10× "
                    "Godot MP conn/s", met, nums))

    # fairness >= 0.5 on the multi-connection runs
    fs = [(scen, S[scen]["ours_mp"])
          for scen in ("echo_100x8_64", "echo_100x1_16k", "broadcast_1000_60hz", "broadcast_1000_flat",
                       "wss_echo_100x8_64", "wss_echo_100x1_16k")
          if med(S, scen, "ours_mp", "fairness") is not None]
    out.append(("Fairness (min ÷ max messages per connection) ≥ 0.5 for ours MP (worst repeat)",
                all(e["fairness"][1] >= 0.5 for _, e in fs) if fs else None,
                ", ".join(f"{scen} {cell(e, 'fairness', 'f2')}" for scen, e in fs) or "not measured"))
    # broadcast 1000 >= 5x Godot MP delivered/s (flat out; 60 Hz shown)
    r = paired_ratio(R, "broadcast_1000_flat", "ours_mp", "godot_mp", "delivered_per_sec")
    r60 = paired_ratio(R, "broadcast_1000_60hz", "ours_mp", "godot_mp", "delivered_per_sec")
    o, g = med(S, "broadcast_1000_flat", "ours_mp", "delivered_per_sec"), med(S, "broadcast_1000_flat", "godot_mp", "delivered_per_sec")
    o60, g60 = med(S, "broadcast_1000_60hz", "ours_mp", "delivered_per_sec"), med(S, "broadcast_1000_60hz", "godot_mp", "delivered_per_sec")
    out.append(("Broadcast to 1,000 clients: ours MP ≥ 5× Godot MP delivered msgs/s (every frame)",
                r.med >= 5 if r else None,
                f"every frame {fnum(o)} vs {fnum(g)}/s = {fratio_range(r)}; at 60 Hz "
                f"{fnum(o60)} vs {fnum(g60)}/s = {fratio_range(r60)} (60 Hz sends only 60,000/s)"))
    # connect 2000/100 >= 20x with 0 not connected
    r = paired_ratio(R, "connect_2000_100", "ours_mp", "godot_mp", "conn_per_sec")
    o, g = med(S, "connect_2000_100", "ours_mp", "conn_per_sec"), med(S, "connect_2000_100", "godot_mp", "conn_per_sec")
    ncmax = None
    e = S.get("connect_2000_100", {}).get("ours_mp")
    if e and "not_connected_after_timeout" in e:
        ncmax = e["not_connected_after_timeout"][2]
    gnc = med(S, "connect_2000_100", "godot_mp", "not_connected_after_timeout")
    out.append(("Connect 2,000, 100 at once: ours MP ≥ 20× Godot MP conn/s, 0 not connected",
                (r.med >= 20 and ncmax == 0) if r and ncmax is not None else None,
                f"{fnum(o)} vs {fnum(g)} conn/s = {fratio_range(r)}; not connected: ours "
                f"{fnum(ncmax)} (worst run), Godot MP {fnum(gnc)} (median)"))
    # idle 5000: poll+drain <= 1% of Godot MP frame time; <= 8 kB RSS per connection
    r = paired_ratio(R, "idle_5000", "ours_mp", "godot_mp", "work_per_frame_us", key_b="frame_us")
    ow, gf = med(S, "idle_5000", "ours_mp", "work_per_frame_us"), med(S, "idle_5000", "godot_mp", "frame_us")
    gw = med(S, "idle_5000", "godot_mp", "work_per_frame_us")
    out.append(("Idle 5,000: ours MP poll+drain per frame ≤ 1% of Godot MP's frame time",
                r.med <= 0.01 if r else None,
                f"{fnum(ow, 'f2')} µs vs {fnum(gf, 'f1')} µs frame ({fnum(gw, 'f1')} µs in poll) = "
                f"{fratio_range(r, 'pct')}"))
    e = S.get("idle_5000", {}).get("ours_mp")
    rss = med(S, "idle_5000", "ours_mp", "rss_per_conn_bytes")
    grss = med(S, "idle_5000", "godot_mp", "rss_per_conn_bytes")
    out.append(("Idle 5,000: ours MP ≤ 8 kB RSS per idle connection",
                rss <= 8000 if rss is not None else None,
                f"{cell(e, 'rss_per_conn_bytes')} B per connection (Godot MP {fnum(grss)} B)"))
    # ours >= 0.5x core on echo
    parts = []
    mets = []
    for scen in ("echo_1x1_64", "echo_100x8_64", "echo_100x1_16k"):
        r = paired_ratio(R, scen, "ours_mp", "core", "msgs_per_sec")
        if r:
            mets.append(r.med >= 0.5)
            parts.append(f"{scen} {fnum(med(S, scen, 'ours_mp', 'msgs_per_sec'))} vs "
                         f"{fnum(med(S, scen, 'core', 'msgs_per_sec'))} = {fratio_range(r)}")
    out.append(("Echo: ours MP ≥ 0.5× the bare core (core-server) msgs/s",
                all(mets) if mets else None, "; ".join(parts) or "not measured"))
    return [(name, met, nums if met is not None else "not measured") for name, met, nums in out]


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
    # wide enough for ~10 px per bar; the legend below has 3 systems per row
    W = max(1100, 90 + len(groups) * (len(systems) * 10 + 16))
    legend_rows = (len(systems) + 2) // 3
    H = 440 + legend_rows * 18
    left, right, top, bottom = 70, 20, 60, 80 + legend_rows * 18
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
    lx, ly = left, top + ph + 62
    for i, sy in enumerate(systems):
        x = lx + (i % 3) * ((W - left - right) // 3)
        yy = ly + (i // 3) * 18
        out.append(f'<rect x="{x}" y="{yy - 9}" width="12" height="12" fill="{COLORS.get(sy, "#999")}"/>')
        out.append(f'<text x="{x + 18}" y="{yy + 1}">{e(results["meta"]["systems"].get(sy, sy))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- markdown

def breakdown_section(data: dict, path: str) -> list[str]:
    """The per-message breakdown of raw mode (bench/breakdown.py's JSON) as a markdown section."""
    import breakdown  # bench/breakdown.py, beside this file
    L = ["## Where one raw-mode message's time goes", ""]
    L.append("`bench/breakdown.py` runs `bench/godot4/breakdown.gd`: one WebSocketServer and one Godot "
             "4 `WebSocketPeer` client in one flat-out Godot process pinned to one CPU. The client sends "
             "batches of 64-byte messages; only the server's side is timed, one step at a time, and "
             "divided by the batch size. The last row but one is the whole path a Godot 3-style script "
             "takes (`data_received` → `get_peer(id)` → `while get_available_packet_count() > 0: "
             "put_packet(get_packet())`), including the socket reads and writes.")
    if len(data.get("runs", {})) > 1:
        L.append("")
        L.append("\"baseline\" is the release library before the raw-mode work of this version "
                 "(`BENCH_BASELINE_LIB`); what changed: `poll()` makes a run of messages readable, then "
                 "emits their `data_received` signals under one `base_mut()` guard (it took one per "
                 "message, about as costly as the emission itself) and asks whether the signal has "
                 "listeners with `Object.has_connections()` (Godot 4.4+) instead of building the "
                 "connection list; the replies written by the handlers leave together when `poll()` "
                 "ends (before, each handler's drain loop ended with a flush: one `sendmsg` per "
                 "message); messages are queued into the peer's inbox without binding the peer object.")
    L.append("")
    L.append(breakdown.markdown_table(data))
    L.append("")
    L.append(f"Command: `{data.get('command', 'bench/breakdown.py')}`; raw figures: `{path}`. To compare "
             "with an older build: `git worktree add /tmp/base <commit> && (cd /tmp/base && cargo build "
             "--release -p websocket-server-godot)`, then `BENCH_BASELINE_LIB=/tmp/base/target/release/"
             "libwebsocket_server.so scripts/bench.sh`.")
    L.append("")
    return L


def markdown(results: dict, results_path: str, svg_name: str,
             breakdown: tuple[dict, str] | None = None) -> str:
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
    L.append(f"- **Repeats**: {meta.get('repeats')} per system × scenario, interleaved (each repeat runs "
             "every scenario on every system before the next repeat starts); medians with (min–max) over "
             "the repeats. A ratio A ÷ B pairs repeat r of A with repeat r of B and is given as the median "
             f"of those per-repeat ratios with their (min–max). Echo runs: {meta.get('duration_s'):g} s measured after {meta.get('warmup_s'):g} s "
             f"warm-up; broadcast: {meta.get('duration_s'):g} s; idle connections held "
             f"{meta.get('idle_hold_s'):g} s.")
    sup = meta.get("supplement")
    if sup:
        L.append(f"- **Second run**: {', '.join(f'`{x}`' for x in sup['scenarios'])} from a separate run "
                 f"(`{sup['command']}`, started {sup['started']}, commit {sup['git_commit']}, raw results "
                 f"`{sup['file']}`)" + (f": {sup['reason']}" if sup.get("reason") else ""))
    L.append(f"- **Buffers**: {meta.get('buffers', '')}")
    if meta.get("tls"):
        L.append(f"- **wss**: {meta['tls']}")
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
    L.append("\"ours MP\" is our WebSocketMultiplayerServer (`ours_mp`), \"ours raw\" our WebSocketServer "
             "(`ours_raw`), \"ours G3-style\" our WebSocketServer driven by a Godot 3-style script "
             "(`ours_g3`, `ours_g3_untyped`); \"Godot MP\" is Godot 4's `WebSocketMultiplayerPeer` "
             "(`godot_mp`) at its default buffer sizes. Figures are medians; every ratio is the median of "
             "the per-repeat ratios with their (min–max); met / not met judges the median.")
    L.append("")
    for name, met, nums in targets(results, summary):
        mark = "**met**" if met else ("not measured" if met is None else "**not met**")
        L.append(f"- {mark} — {name}" + (f": {nums}" if met is not None else ""))
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

    if breakdown is not None:
        L += breakdown_section(*breakdown)

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
    L.append("Primary figure of each system ÷ Godot 4 WebSocketMultiplayerPeer's at its default buffers "
             "(higher is better; idle: Godot MP's poll cost ÷ the system's), and ÷ the bare core's where "
             "it ran. Median of the per-repeat ratios (repeat r ÷ repeat r) with (min–max).")
    L.append("")
    L.append("| scenario | " + " | ".join(f"{SYSTEM_SHORT.get(s, s)} ÷ Godot MP" for s in systems if s != "godot_mp")
             + " | ours MP ÷ core | ours raw ÷ core |")
    L.append("|---|" + "---|" * (len([s for s in systems if s != "godot_mp"]) + 2))
    runs = per_repeat(results)
    for scen in scens:
        stype = scenario_type(results, scen)
        key = PRIMARY[stype]
        row = []
        for s in systems:
            if s == "godot_mp":
                continue
            row.append(fratio_range(paired_ratio(runs, scen, s, "godot_mp", key, invert=stype == "idle")))
        oc = fratio_range(paired_ratio(runs, scen, "ours_mp", "core", key)) if stype != "idle" else "–"
        orc = fratio_range(paired_ratio(runs, scen, "ours_raw", "core", key)) if stype != "idle" else "–"
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
             "handshakes in flight; \"not connected\" = still not open after the timeout. wss: every "
             "connection makes a full TLS handshake (wsload never resumes a session) against the server's "
             "self-signed RSA-2048 certificate (ECDSA P-256 in the `wss_ecdsa_*` scenario). Our servers' "
             "cryptography is AWS-LC on Linux (rustls with aws-lc-rs), Godot's is mbedTLS; wsload uses "
             "the same rustls and AWS-LC as our servers.")
    L.append("- **idle**: the main thread's time per frame in `poll()` (+ an empty drain loop) with 5,000 "
             "open, silent connections; frame time = wall time ÷ frames. RSS/conn = (VmRSS with the "
             "connections − VmRSS before) ÷ connections.")
    L.append("- **1 × 1 round trips, two clients.** `echo_1x1_64` is timed by wsload, which sleeps in "
             "`epoll_wait` between messages, so each round trip also holds the time the kernel takes to "
             "wake its thread on an idle CPU. On a virtual machine that wake-up is an exit to the host and "
             "can be most of the round trip; how much of it a server's reply pays depends on when the reply "
             "comes, not only on how soon (compare Godot 3.2.3, a server no one here wrote, against Godot 4 "
             "MP in the two rows). `echo_1x1_64_godot_client` times the same echo with Godot 4's own `WebSocketPeer` "
             "(`WebSocketMultiplayerPeer` for the multiplayer servers) polling flat out in its frame loop, "
             "as a game's client does (`bench/godot4/latency_client.gd`, pinned to CPU 1, "
             "`Time.get_ticks_usec()` resolution): its CPU never sleeps, so the round trip is the two "
             "processes' work. The latency target is judged on that row; the wsload row is shown beside it.")
    L.append("- All server threads share CPU 0. Our server inside a flat-out Godot runs its reactor on "
             "the main thread, in poll(), and its network thread stays parked (ARCHITECTURE.md, \"Who runs "
             "the reactor\"); poll+drain then includes the socket work, as it does for the engine servers.")
    L.append("")
    return "\n".join(L)


def merge_supplement(results: dict, path: Path, reason: str) -> None:
    """Replaces the runs of the scenarios measured in `path` (another run_matrix.py results file)."""
    extra = json.loads(path.read_text())
    scens = sorted({r["scenario"] for r in extra["runs"]})
    results["runs"] = [r for r in results["runs"] if r["scenario"] not in scens] + extra["runs"]
    results["meta"]["scenarios"].update(extra["meta"]["scenarios"])
    for k, v in extra["meta"]["systems"].items():
        results["meta"]["systems"].setdefault(k, v)
    try:
        shown = str(path.resolve().relative_to(REPO))
    except ValueError:
        shown = str(path)
    results["meta"]["supplement"] = {"scenarios": scens, "command": extra["meta"].get("command", ""),
                                     "started": extra["meta"].get("started", ""),
                                     "git_commit": extra["meta"].get("machine", {}).get("git_commit", "?"),
                                     "file": shown, "reason": reason}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="a results-<timestamp>.json of bench/run_matrix.py")
    ap.add_argument("--md", default=str(REPO / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--svg", default=str(REPO / "docs" / "benchmarks.svg"))
    ap.add_argument("--text", action="store_true", help="print the summary table only")
    ap.add_argument("--breakdown", help="a JSON file of bench/breakdown.py --json: adds its section")
    ap.add_argument("--supplement", help="a second results file whose scenarios replace those of the "
                                         "first (the report says which, and why: --supplement-reason)")
    ap.add_argument("--supplement-reason", default="", help="why the second run was needed")
    args = ap.parse_args()
    path = Path(args.results)
    results = json.loads(path.read_text())
    if args.supplement:
        merge_supplement(results, Path(args.supplement), args.supplement_reason)
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
    breakdown = None
    if args.breakdown:
        bpath = Path(args.breakdown)
        try:
            brel = str(bpath.resolve().relative_to(REPO))
        except ValueError:
            brel = str(bpath)
        breakdown = (json.loads(bpath.read_text()), brel)
    md_path.write_text(markdown(results, str(rel), str(svg_ref), breakdown))
    print(f"wrote {md_path} and {svg_path}")
    print(text_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
