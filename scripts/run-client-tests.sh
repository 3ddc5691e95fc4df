#!/usr/bin/env bash
# Third-party clients against the WebSocketServer running inside a headless Godot 4
# (godot-project/tests/servers/echo_server.gd):
#   - Python `websockets` (godot-project/tests/clients/python_client.py): wss:// with a test CA
#     and a CA-signed "localhost" certificate, then plain ws:// against a second server;
#   - Python `websockets` (tests/clients/admission_client.py) against admission control and
#     trusted proxies in both classes (tests/servers/admission_server.gd);
#   - `openssl s_client`: TLS 1.3 and 1.2, certificate verification, ALPN, the full chain;
#   - a plain-TCP client speaking HTTP to the wss:// server is dropped.
#
#   scripts/run-client-tests.sh
#
# Needs the extension built (scripts/build.sh), python3 >= 3.11 with its venv module, openssl.
# The Python packages go into .cache/venv (made on first use). Server logs and client outputs
# go to target/client-test-logs/. Prints one line per check and "client-tests: N passed,
# M failed"; exits non-zero if anything failed. The Godot servers are always stopped on exit.
#
# Environment:
#   GDRUST_GODOT_BIN, GODOT4_BIN   the Godot 4 binary (see scripts/get-godot.sh)
#   PYTHON                         the Python used to create the venv (default python3)
#   CLIENT_TESTS_CAFILE            make the clients trust this CA file instead of the test CA
#                                  (to see the TLS checks fail)
#   CLIENT_TESTS_STARTUP_TIMEOUT   seconds a Godot server has to print LISTENING (default 60)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/python-checks.sh
source "$repo/scripts/lib/python-checks.sh"
cd "$repo"

# websockets 17.x needs Python >= 3.11 (Debian 12 ships 3.11.2).
WEBSOCKETS_VERSION=17.4
venv="$repo/.cache/venv"
project="$repo/godot-project"
logs="$repo/target/client-test-logs"
startup_timeout=${CLIENT_TESTS_STARTUP_TIMEOUT:-60}
lifetime=300  # the servers quit by themselves after this many seconds, whatever happens here
CA_CN="WebSocketServer Test CA"

passed=0
failed=0
started_at=$SECONDS
pids=()
tmp=""

die() { printf 'run-client-tests: error: %s\n' "$*" >&2; exit 1; }
pass() { passed=$((passed + 1)); printf 'ok %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
section() { printf -- '-- %s (t=%ss)\n' "$*" "$((SECONDS - started_at))"; }

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
    fi
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
(( ${#libs[@]} > 0 )) || die "the extension is not built (no addons/websocket_server/bin/libwebsocket_server.linux.*.so): run scripts/build.sh first"
godot=$("$repo/scripts/get-godot.sh") || die "no Godot 4 (see scripts/get-godot.sh)"
mkdir -p "$logs"
rm -f "$logs"/*.log
tmp=$(mktemp -d "${TMPDIR:-/tmp}/client-tests.XXXXXX")

# ------------------------------------------------------------------ Python venv
venv_ready() {
  [[ -x "$venv/bin/python" ]] &&
    "$venv/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null
}

make_venv() {
  local py=${PYTHON:-python3}
  command -v "$py" >/dev/null 2>&1 ||
    die "'$py' not found: Python >= 3.11 is needed (Debian/Ubuntu: apt-get install python3 python3-venv)"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "websockets $WEBSOCKETS_VERSION needs Python >= 3.11; '$py' is $("$py" --version 2>&1)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! "$py" -m venv "$venv" >"$logs/venv.log" 2>&1; then
    rm -rf "$venv"
    # Debian and Ubuntu ship the venv module's ensurepip separately, in python3-venv.
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "'$py -m venv' failed (Debian/Ubuntu ship it in python3-venv): installing python3-venv with apt-get" >&2
      apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 ||
        die "apt-get install python3-venv failed"
      "$py" -m venv "$venv" >"$logs/venv.log" 2>&1 || {
        rm -rf "$venv"; cat "$logs/venv.log" >&2
        die "'$py -m venv' still fails after installing python3-venv (is '$py' Debian's python3?)"
      }
    else
      cat "$logs/venv.log" >&2
      die "cannot create a Python venv: '$py -m venv' failed (above). The venv module (with ensurepip) is missing: on Debian/Ubuntu run 'sudo apt-get install python3-venv', then run this script again"
    fi
  fi
  echo "installing websockets==$WEBSOCKETS_VERSION into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "websockets==$WEBSOCKETS_VERSION" >&2 ||
    die "pip install websockets==$WEBSOCKETS_VERSION failed"
  venv_ready || die "websockets $WEBSOCKETS_VERSION does not import in $venv"
}

section "Python venv (.cache/venv, websockets $WEBSOCKETS_VERSION)"
venv_ready || make_venv
py="$venv/bin/python"
echo "$("$py" --version), websockets $("$py" -c 'import websockets; print(websockets.__version__)')"

# ------------------------------------------------------------------ test PKI
section "Test CA and a CA-signed certificate for localhost (openssl $(openssl version | cut -d' ' -f2))"
(
  cd "$tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ca.key -out ca.pem -subj "/CN=$CA_CN" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=localhost"
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext -out leaf.pem
  openssl verify -CAfile ca.pem leaf.pem
) >"$logs/pki.log" 2>&1 || { cat "$logs/pki.log" >&2; die "openssl could not make the test certificates"; }
cafile=${CLIENT_TESTS_CAFILE:-$tmp/ca.pem}
[[ -n "${CLIENT_TESTS_CAFILE:-}" ]] && echo "NOTE: the clients trust $cafile instead of the test CA"

# ------------------------------------------------------------------ Godot servers
# start_server NAME ARGS...: starts echo_server.gd in a headless Godot; sets server_pid and
# server_port once it printed "LISTENING <port>". Returns 1 (reported) if it does not.
server_pid=""
server_port=""
start_server() {
  local name=$1; shift
  local log="$logs/server-$name.log" deadline=$((SECONDS + startup_timeout))
  timeout --kill-after=5 $((lifetime + 30)) "$godot" --headless --path "$project" \
    --script res://tests/servers/echo_server.gd -- --port 0 --lifetime "$lifetime" "$@" \
    >"$log" 2>&1 </dev/null &
  server_pid=$!
  pids+=("$server_pid")
  server_port=""
  while :; do
    server_port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$log" | head -n1)
    [[ -n "$server_port" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      fail "$name echo server starts: Godot exited without printing LISTENING (log: $log)"
      tail -n 15 "$log" | sed 's/^/      /'
      return 1
    fi
    if (( SECONDS >= deadline )); then
      fail "$name echo server starts: no LISTENING line within ${startup_timeout}s (log: $log)"
      tail -n 15 "$log" | sed 's/^/      /'
      return 1
    fi
    sleep 0.1
  done
  pass "$name echo server listening on 127.0.0.1:$server_port (Godot pid $server_pid)"
}

# python_client LOGNAME ARGS...: runs the Python client, shows its lines, counts them.
python_client() {
  local name=$1; shift
  run_python_checks "python-$name" 180 "$project/tests/clients/python_client.py" "$@"
}

section "Starting the Godot echo servers"
tls_pid=""; tls_port=""; plain_pid=""; plain_port=""
if start_server wss --key "$tmp/leaf.key" --cert "$tmp/leaf.pem" --chain "$tmp/ca.pem"; then
  tls_pid=$server_pid; tls_port=$server_port
fi
if start_server ws; then
  plain_pid=$server_pid; plain_port=$server_port
fi

# ------------------------------------------------------------------ Python websockets
if [[ -n "$tls_port" ]]; then
  section "Python websockets $WEBSOCKETS_VERSION, wss://127.0.0.1:$tls_port"
  python_client wss --url "wss://127.0.0.1:$tls_port" --cafile "$cafile"
fi
if [[ -n "$plain_port" ]]; then
  section "Python websockets $WEBSOCKETS_VERSION, ws://127.0.0.1:$plain_port (server without TLS)"
  python_client ws --url "ws://127.0.0.1:$plain_port"
fi

# ------------------------------------------------------------------ openssl s_client
# s_client_check NAME LOG WANT...: passes if every extended regexp WANT matches LOG.
s_client_check() {
  local name=$1 log=$2; shift 2
  local want missing=()
  for want in "$@"; do
    grep -Eq -- "$want" "$log" || missing+=("$want")
  done
  if (( ${#missing[@]} == 0 )); then
    pass "$name"
  else
    fail "$name: output lacks $(printf "'%s' " "${missing[@]}")(log: $log)"
    grep -E 'depth=|verify error|Verify return|Protocol|New,|ALPN|^ *[0-9] s:|errno|error|alert' "$log" | head -n 12 | sed 's/^/      /'
  fi
}

if [[ -n "$tls_port" ]]; then
  section "openssl s_client against wss://127.0.0.1:$tls_port"
  log13="$logs/s_client-tls13.log"
  timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$cafile" \
    -alpn http/1.1 -showcerts </dev/null >"$log13" 2>&1 || true
  s_client_check "openssl s_client: TLS 1.3 negotiated" "$log13" 'Protocol +: TLSv1\.3|New, TLSv1\.3'
  s_client_check "openssl s_client: certificate chain verified against the test CA" "$log13" \
    '^ *Verify return code: 0 \(ok\)'
  s_client_check "openssl s_client: ALPN http/1.1 selected" "$log13" '^ALPN protocol: http/1\.1$'
  s_client_check "openssl s_client: full chain sent (depth 0 localhost, depth 1 the CA)" "$log13" \
    '^ 0 s: ?CN ?= ?localhost' "^ 1 s: ?CN ?= ?$CA_CN" "^depth=1 CN ?= ?$CA_CN" '^depth=0 CN ?= ?localhost'
  certs=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$log13" || true)
  if [[ "$certs" == 2 ]] && ! grep -q '^ 2 s:' "$log13"; then
    pass "openssl s_client: exactly 2 certificates in the chain"
  else
    fail "openssl s_client: exactly 2 certificates in the chain: got $certs (log: $log13)"
  fi

  log12="$logs/s_client-tls12.log"
  timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost -CAfile "$cafile" \
    -alpn http/1.1 -tls1_2 </dev/null >"$log12" 2>&1 || true
  s_client_check "openssl s_client -tls1_2: TLS 1.2 negotiated and verified" "$log12" \
    'Protocol +: TLSv1\.2|New, TLSv1\.2' '^ *Verify return code: 0 \(ok\)' '^ALPN protocol: http/1\.1$'

  section "A plain-TCP client speaking HTTP to the wss:// server"
  set +e
  raw=$(timeout 10 "$py" - "$tls_port" <<'EOF' 2>&1
import socket, sys, time
port = int(sys.argv[1])
started = time.monotonic()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
got, how = b"", "EOF"
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
except ConnectionResetError:
    how = "reset"
except socket.timeout:
    how = "still open"
ms = (time.monotonic() - started) * 1000
print(f"{how} after {ms:.0f} ms, {len(got)} bytes received: {got[:16]!r}")
sys.exit(0 if how != "still open" and not got.startswith(b"HTTP/") else 1)
EOF
)
  rc=$?
  set -e
  if (( rc == 0 )); then
    pass "plain HTTP upgrade request to the wss:// port is dropped without an HTTP answer ($raw)"
  else
    fail "plain HTTP upgrade request to the wss:// port is dropped without an HTTP answer: $raw"
  fi

  section "The wss:// server still serves after the bad clients"
  python_client wss-after --url "wss://127.0.0.1:$tls_port" --cafile "$cafile" --quick
  python_client wss-localhost --url "wss://127.0.0.1:$tls_port" --cafile "$cafile" --quick --hostname localhost
fi

# ------------------------------------------------------------------ admission control, proxies
# tests/servers/admission_server.gd runs four servers (raw and multiplayer, trusting 127.0.0.1 as
# a proxy or not); tests/clients/admission_client.py checks the HTTP status of rejected and
# unanswered clients and what forwarding headers do.
section "Admission control and trusted proxies (Python websockets against admission_server.gd)"
admission_log="$logs/server-admission.log"
timeout --kill-after=5 $((lifetime + 30)) "$godot" --headless --path "$project" \
  --script res://tests/servers/admission_server.gd -- --lifetime "$lifetime" \
  >"$admission_log" 2>&1 </dev/null &
admission_pid=$!
pids+=("$admission_pid")
admission_ports=""
deadline=$((SECONDS + startup_timeout))
while [[ -z "$admission_ports" ]] && kill -0 "$admission_pid" 2>/dev/null && (( SECONDS < deadline )); do
  admission_ports=$(sed -n 's/^LISTENING \(raw-trusted=.*\)$/\1/p' "$admission_log" | head -n1)
  [[ -z "$admission_ports" ]] && sleep 0.1
done
if [[ -z "$admission_ports" ]]; then
  fail "admission server starts: no LISTENING line (log: $admission_log)"
  tail -n 15 "$admission_log" | sed 's/^/      /'
else
  pass "admission servers listening: $admission_ports"
  admission_client() {
    local name=$1; shift
    # shellcheck disable=SC2086 # the port list is meant to split into words
    run_python_checks "python-$name" 180 "$project/tests/clients/admission_client.py" --ports $admission_ports "$@"
  }
  admission_client admission
  admission_client admission-shutdown --shutdown
  rc=0
  deadline=$((SECONDS + 10))
  while kill -0 "$admission_pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
  if kill -0 "$admission_pid" 2>/dev/null; then
    fail "admission server quits on \"shutdown\": still running after 10 s"
  else
    wait "$admission_pid" || rc=$?
    if (( rc == 0 )); then pass "admission server quits on \"shutdown\" with exit code 0"
    else fail "admission server quits with exit code 0: exit code $rc (log: $admission_log)"; fi
  fi
  if grep -Eq 'SCRIPT ERROR|ERROR: \[panic|panicked' "$admission_log"; then
    fail "admission server log has no SCRIPT ERROR or panic (log: $admission_log)"
    grep -E 'SCRIPT ERROR|panic' "$admission_log" | head -n 5 | sed 's/^/      /'
  else
    pass "admission server log has no SCRIPT ERROR or panic"
  fi
fi

# ------------------------------------------------------------------ shutdown and server logs
section "Shutting the servers down with a \"shutdown\" message"
# wait_exit NAME PID: the server process ends with exit code 0 within 10 s.
wait_exit() {
  local name=$1 pid=$2 rc=0 deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$name echo server quits on \"shutdown\": still running after 10 s"
    return
  fi
  wait "$pid" || rc=$?
  if (( rc == 0 )); then
    pass "$name echo server quits on \"shutdown\" with exit code 0"
  else
    fail "$name echo server quits on \"shutdown\" with exit code 0: exit code $rc (log: $logs/server-$name.log)"
  fi
}
if [[ -n "$tls_port" ]]; then
  python_client wss-shutdown --url "wss://127.0.0.1:$tls_port" --cafile "$cafile" --shutdown
  wait_exit wss "$tls_pid"
fi
if [[ -n "$plain_port" ]]; then
  python_client ws-shutdown --url "ws://127.0.0.1:$plain_port" --shutdown
  wait_exit ws "$plain_pid"
fi
for name in wss ws; do
  log="$logs/server-$name.log"
  [[ -f "$log" ]] || continue
  if grep -Eq 'SCRIPT ERROR|ERROR: \[panic|panicked' "$log"; then
    fail "$name echo server log has no SCRIPT ERROR or panic (log: $log)"
    grep -E 'SCRIPT ERROR|panic' "$log" | head -n 5 | sed 's/^/      /'
  else
    pass "$name echo server log has no SCRIPT ERROR or panic"
  fi
done

echo "client-tests: $passed passed, $failed failed ($((SECONDS - started_at)) s; logs in ${logs#"$repo"/}/)"
(( failed == 0 ))
