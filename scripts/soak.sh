#!/usr/bin/env bash
# Soak test: our server inside headless Godot under many checked echo clients for a long time.
#   scripts/soak.sh [--mode raw|mp] [--tls] [--duration SECS=600] [--clients N=80] [--stayers K]
#                   [--rate MSGS_PER_SEC=2000] [--window W=8] [--max-body BYTES=32768]
#                   [--churn DISCONNECTS_PER_SEC=1] [--seed S=1] [--no-build] [--soak-bin PATH]
#
# Steps: release build of the extension (scripts/build.sh --release, as the benchmarks use) and of
# the soak program (cargo build --release -p websocket-server-bench --bin soak); with --tls a
# throw-away CA and a "localhost" certificate (openssl); the server bench/godot4/soak_server.gd in
# headless Godot (WebSocketServer for raw, WebSocketMultiplayerServer for mp; default frame
# pacing) on an ephemeral port; target/release/soak against it with --server-pid, so it watches the
# server's VmRSS and descriptors; then the server is stopped and its log checked for Rust panics and
# GDScript errors. What soak checks and prints: rust/bench/README.md ("soak").
#
# Result: target/soak/<mode>-<scheme>.json (one JSON object), the server's log beside it, a
# one-paragraph summary on stderr. Exit code: soak's (0 passed, 1 a check failed, 2 bad
# arguments), 1 as well when the server logged a panic or a script error, 3 when the server did
# not start.
# --no-build skips both builds; --soak-bin runs another copy of the soak program (e.g. one copied
# aside so that rebuilding does not touch a long run's binary).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf 'soak.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 3; }

mode=raw tls=0 build=1 soak_bin="" duration=600 clients=80 stayers="" rate=2000 window=8
max_body=32768 churn=1 seed=1
while (( $# )); do
  case "$1" in
    --mode) mode=$2; shift 2 ;;
    --tls) tls=1; shift ;;
    --no-build) build=0; shift ;;
    --soak-bin) soak_bin=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --stayers) stayers=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --max-body) max_body=$2; shift 2 ;;
    --churn) churn=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown option $1 (see --help)"; exit 2 ;;
  esac
done
[[ "$mode" == raw || "$mode" == mp ]] || { log "--mode must be raw or mp"; exit 2; }
scheme=ws; (( tls )) && scheme=wss

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if (( build )); then
  log "building the release library and the soak program ..."
  scripts/build.sh --release >/dev/null
  cargo build --release -p websocket-server-bench --bin soak >&2
fi
soak_bin=${soak_bin:-$target_dir/release/soak}
[[ -x "$soak_bin" ]] || die "no soak program at $soak_bin (run without --no-build)"
lib="addons/websocket_server/bin/libwebsocket_server.linux.release.$(uname -m | sed 's/aarch64/arm64/').so"
[[ -f "$lib" ]] || die "no release library at $lib (run without --no-build)"
godot=$(scripts/get-godot.sh)

out_dir="$target_dir/soak"
mkdir -p "$out_dir"
json="$out_dir/$mode-$scheme.json"
server_log="$out_dir/$mode-$scheme.server.log"
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

server_args=(--mode "$mode" --lifetime "$(( ${duration%.*} + 600 ))")
client_args=()
host=127.0.0.1
if (( tls )); then
  command -v openssl >/dev/null || die "--tls needs openssl"
  # A CA and a leaf it signs: rustls does not accept a self-signed end-entity certificate as its
  # own trust anchor.
  (
    cd "$tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ca.key -out ca.pem -subj "/CN=soak test CA"
    openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext -out leaf.pem
  ) >"$tmp/pki.log" 2>&1 || { cat "$tmp/pki.log" >&2; die "openssl could not make the certificates"; }
  server_args+=(--key "$tmp/leaf.key" --cert "$tmp/leaf.pem")
  client_args+=(--ca "$tmp/ca.pem")
  host=localhost
fi

log "starting the $mode server ($scheme) in $godot"
"$godot" --headless --path bench/godot4 --script res://soak_server.gd -- "${server_args[@]}" >"$server_log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/^LISTENING \([0-9]*\)$/\1/p' "$server_log" | head -n1)
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port" ]]; then
  tail -n 20 "$server_log" >&2
  die "the server did not print LISTENING (log: $server_log)"
fi
grep -q "libwebsocket_server.linux.release" "/proc/$server_pid/maps" \
  || die "the release library is not mapped in the Godot process (pid $server_pid)"
# Let the engine finish starting up before the baseline descriptor count is taken.
sleep 2
log "server pid $server_pid listening on $port; soak for $duration s"

soak_args=(--url "$scheme://$host:$port" --duration "$duration" --clients "$clients" --rate "$rate"
  --window "$window" --max-body "$max_body" --churn "$churn" --seed "$seed"
  --server-pid "$server_pid" --json "$json" "${client_args[@]}")
[[ -n "$stayers" ]] && soak_args+=(--stayers "$stayers")
[[ "$mode" == mp ]] && soak_args+=(--mp)
rc=0
"$soak_bin" "${soak_args[@]}" >/dev/null || rc=$?

kill -TERM "$server_pid" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if grep -Eq "ERROR: \[panic|panicked at|SCRIPT ERROR|Parse Error" "$server_log"; then
  grep -Em5 "ERROR: \[panic|panicked at|SCRIPT ERROR|Parse Error" "$server_log" >&2
  log "the server logged a panic or a script error (log: $server_log)"
  (( rc == 0 )) && rc=1
fi
log "result: $json (server log: $server_log); exit code $rc"
exit "$rc"
