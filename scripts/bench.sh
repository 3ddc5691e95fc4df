#!/usr/bin/env bash
# Benchmarks our WebSocketServer against Godot 4's and Godot 3's servers and the bare core.
#   scripts/bench.sh            full matrix (about 55 min) and bench/breakdown.py, then writes
#                               docs/BENCHMARKS.md and docs/benchmarks.svg from the results
#                               (BENCH_BASELINE_LIB=path/to/old/libwebsocket_server.so adds an
#                               older build to the breakdown, as "baseline")
#   scripts/bench.sh --quick    CI smoke test (about 2 min of runs): prints the table, leaves docs/ alone;
#                               fails only on errors (crash, no LISTENING, wsload failing), never on slowness
#   scripts/bench.sh [run_matrix.py options]   e.g. --systems ours_mp,godot_mp --scenarios echo_1x1_64 --repeats 5
#
# Steps: release build of the extension (scripts/build.sh --release) and of the load generator
# (cargo build --release -p websocket-server-bench), Godot 4 via scripts/get-godot.sh, Godot 3
# (Debian's godot3-server, installed with apt-get when running as root; otherwise Godot 3 is
# skipped), `ulimit -n` raised to the hard limit, then bench/run_matrix.py "$@" and, for runs that
# are not --quick, bench/report.py on the results. Raw results: target/bench/results-*.json.
# A partial selection (--systems/--scenarios) writes docs/ too; use bench/report.py --text to only look.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

quick=0
for a in "$@"; do
  [[ "$a" == "--quick" ]] && quick=1
done
log() { printf 'bench: %s\n' "$*" >&2; }

start=$(date +%s)
log "building the release library and the load generator ..."
scripts/build.sh --release >/dev/null
cargo build --release -p websocket-server-bench >&2

godot=$(scripts/get-godot.sh)
log "Godot 4: $godot"

if ! command -v godot3-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing Godot 3 (Debian package godot3-server) ..."
    if ! { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends godot3-server >&2; }; then
      log "note: could not install godot3-server; Godot 3 is skipped"
    fi
  else
    log "note: godot3-server is not installed and this is not root: Godot 3 is skipped"
  fi
fi

hard=$(ulimit -Hn)
ulimit -n "$hard" 2>/dev/null || log "note: could not raise ulimit -n to $hard"
log "ulimit -n: $(ulimit -n)"

stamp=$(date +%Y%m%d-%H%M%S)
results="target/bench/results-$stamp.json"
mkdir -p target/bench
rc=0
python3 bench/run_matrix.py --godot "$godot" --out "$results" "$@" || rc=$?
if (( rc == 2 )) || [[ ! -f "$results" ]]; then
  log "run_matrix.py could not run (exit code $rc)"
  exit "${rc/#0/1}"
fi
if (( quick == 0 )); then
  # The per-message breakdown of raw mode (bench/breakdown.py); BENCH_BASELINE_LIB names an older
  # release build to compare with (docs/BENCHMARKS.md says how to build one).
  breakdown="target/bench/breakdown-$stamp.json"
  libs=(--library "this build=target/release/libwebsocket_server.so")
  if [[ -n "${BENCH_BASELINE_LIB:-}" ]]; then
    libs=(--library "baseline=$BENCH_BASELINE_LIB" "${libs[@]}")
  fi
  log "per-message breakdown -> $breakdown"
  python3 bench/breakdown.py --godot "$godot" "${libs[@]}" --runs 10 --json "$breakdown" >/dev/null || rc=1
  python3 bench/report.py "$results" --breakdown "$breakdown" >/dev/null
  log "wrote docs/BENCHMARKS.md and docs/benchmarks.svg from $results and $breakdown"
fi
log "done in $(( $(date +%s) - start )) s (exit code $rc)"
exit "$rc"
