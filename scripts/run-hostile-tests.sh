#!/usr/bin/env bash
# The hostile-input suite: malformed, oversized, slow and numerous clients against the server
# running inside a headless Godot 4 (godot-project/tests/servers/hostile_server.gd), driven by
# godot-project/tests/clients/hostile_client.py. Three servers: WebSocketServer over ws:// and
# wss://, WebSocketMultiplayerServer over ws://, each with handshake_timeout 2 s. Every case
# checks its stated outcome, that a well-behaved client keeps getting its echoes throughout, and
# that the Godot process's memory and file descriptors stay bounded (see hostile_client.py).
#
#   scripts/run-hostile-tests.sh [--only SUBSTRING]
#
# Needs the extension built (scripts/build.sh), python3 >= 3.11 with its venv module, openssl.
# Uses the Python venv of scripts/run-client-tests.sh (.cache/venv, made here if missing).
# Prints one line per case (case | mode | outcome | bound | echo gap max ms | RSS before/peak/after
# MiB | fds before/after), the table again at the end and "hostile-tests: N passed, M failed";
# writes the table to target/hostile/results.json and the logs to target/hostile/.
#
# Environment:
#   HOSTILE_CLIENTS               clients of the "clients connecting at once" case (default 3000)
#   HOSTILE_STARTUP_TIMEOUT       seconds a Godot server has to print LISTENING (default 60)
#   GDRUST_GODOT_BIN, GODOT4_BIN  the Godot 4 binary (see scripts/get-godot.sh)
#   PYTHON                        the Python used to create the venv (default python3)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/python-checks.sh
source "$repo/scripts/lib/python-checks.sh"
cd "$repo"

WEBSOCKETS_VERSION=17.4  # the version scripts/run-client-tests.sh installs
HANDSHAKE_TIMEOUT=2
venv="$repo/.cache/venv"
project="$repo/godot-project"
logs="$repo/target/hostile"
startup_timeout=${HOSTILE_STARTUP_TIMEOUT:-60}
clients=${HOSTILE_CLIENTS:-3000}
lifetime=900  # the servers quit by themselves after this many seconds, whatever happens here
only=""
if [[ "${1:-}" == "--only" && -n "${2:-}" ]]; then
  only=$2
fi

passed=0
failed=0
started_at=$SECONDS
pids=()
tmp=""

die() { printf 'run-hostile-tests: error: %s\n' "$*" >&2; exit 1; }
pass() { passed=$((passed + 1)); printf 'ok %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
section() { printf -- '-- %s (t=%ss)\n' "$*" "$((SECONDS - started_at))"; }

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  [[ -n "$tmp" ]] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ prerequisites
for tool in openssl timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed but not installed"
done
shopt -s nullglob
libs=("$repo"/addons/websocket_server/bin/libwebsocket_server.linux.*.so)
shopt -u nullglob
(( ${#libs[@]} > 0 )) || die "the extension is not built: run scripts/build.sh first"
godot=$("$repo/scripts/get-godot.sh") || die "no Godot 4 (see scripts/get-godot.sh)"
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs/results.json"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hostile-tests.XXXXXX")

# Thousands of connections at once, on both ends (the servers inherit this limit).
want_fds=$((clients * 2 + 2048))
if (( $(ulimit -n) < want_fds )); then
  hard=$(ulimit -Hn)
  if [[ "$hard" == unlimited ]] || (( hard >= want_fds )); then
    ulimit -n "$want_fds"
  else
    ulimit -n "$hard"
  fi
fi
(( $(ulimit -n) >= want_fds )) ||
  die "open-file limit $(ulimit -n) (hard $(ulimit -Hn)) is below the $want_fds that $clients clients need: raise it or set HOSTILE_CLIENTS"

# ------------------------------------------------------------------ Python venv
venv_ready() {
  [[ -x "$venv/bin/python" ]] &&
    "$venv/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null
}
section "Python venv (.cache/venv, websockets $WEBSOCKETS_VERSION)"
if ! venv_ready; then
  # scripts/run-client-tests.sh knows how to make it (python3-venv on Debian included); its
  # checks run too, which costs a minute once.
  echo "no venv with websockets $WEBSOCKETS_VERSION: making it with scripts/run-client-tests.sh"
  "$repo/scripts/run-client-tests.sh" >"$logs/make-venv.log" 2>&1 || true
  venv_ready || { tail -n 20 "$logs/make-venv.log" >&2; die "could not make the Python venv (log: $logs/make-venv.log)"; }
fi
py="$venv/bin/python"
echo "$("$py" --version), websockets $WEBSOCKETS_VERSION, ulimit -n $(ulimit -n)"

# ------------------------------------------------------------------ certificate
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$logs/openssl.log" 2>&1 ||
  { cat "$logs/openssl.log" >&2; die "openssl could not make a certificate"; }

# ------------------------------------------------------------------ Godot servers
# start_server NAME ARGS...: sets server_port and server_pid (the Godot process, from its
# LISTENING line); returns 1 (reported) if it does not start.
start_server() {
  local name=$1; shift
  local log="$logs/server-$name.log" deadline=$((SECONDS + startup_timeout)) line
  timeout --kill-after=5 $((lifetime + 30)) "$godot" --headless --path "$project" \
    --script res://tests/servers/hostile_server.gd -- --lifetime "$lifetime" \
    --handshake-timeout "$HANDSHAKE_TIMEOUT" "$@" >"$log" 2>&1 </dev/null &
  pids+=("$!")
  local wrapper=$!
  server_port=""
  server_pid=""
  while :; do
    line=$(grep -m1 '^LISTENING [0-9]* PID [0-9]*$' "$log" || true)
    if [[ -n "$line" ]]; then
      read -r _ server_port _ server_pid <<<"$line"
      break
    fi
    if ! kill -0 "$wrapper" 2>/dev/null || (( SECONDS >= deadline )); then
      fail "$name server starts (no LISTENING line; log: $log)"
      tail -n 15 "$log" | sed 's/^/      /'
      return 1
    fi
    sleep 0.1
  done
  pass "$name server listening on 127.0.0.1:$server_port (Godot pid $server_pid)"
}

section "Starting the Godot servers (handshake_timeout $HANDSHAKE_TIMEOUT s)"
specs=()
names=()
server_pids=()
if start_server ws-raw --mode raw; then
  specs+=(--server "ws-raw=ws://127.0.0.1:$server_port,$server_pid,raw"); names+=(ws-raw); server_pids+=("$server_pid")
fi
if start_server wss-raw --mode raw --key "$tmp/key.pem" --cert "$tmp/cert.pem"; then
  specs+=(--server "wss-raw=wss://127.0.0.1:$server_port,$server_pid,raw"); names+=(wss-raw); server_pids+=("$server_pid")
fi
if start_server ws-mp --mode mp; then
  specs+=(--server "ws-mp=ws://127.0.0.1:$server_port,$server_pid,mp"); names+=(ws-mp); server_pids+=("$server_pid")
fi

# ------------------------------------------------------------------ the cases
if (( ${#specs[@]} > 0 )); then
  section "Hostile clients ($clients clients in the crowd case)"
  run_python_checks hostile 900 "$project/tests/clients/hostile_client.py" "${specs[@]}" \
    --handshake-timeout "$HANDSHAKE_TIMEOUT" --clients "$clients" --only "$only" --json "$logs/results.json"
fi

# ------------------------------------------------------------------ the servers survived
section "The servers after the cases"
for i in "${!names[@]}"; do
  name=${names[$i]}
  log="$logs/server-$name.log"
  if kill -0 "${server_pids[$i]}" 2>/dev/null; then
    pass "$name server still running after every case"
  else
    fail "$name server still running after every case: it exited (log: $log)"
  fi
  if grep -Eq 'SCRIPT ERROR|ERROR: \[panic|panicked' "$log"; then
    fail "$name server log has no SCRIPT ERROR or panic (log: $log)"
    grep -E 'SCRIPT ERROR|panic' "$log" | head -n 5 | sed 's/^/      /'
  else
    pass "$name server log has no SCRIPT ERROR or panic"
  fi
done

echo "hostile-tests: $passed passed, $failed failed ($((SECONDS - started_at)) s; results in ${logs#"$repo"/}/results.json)"
(( failed == 0 ))
