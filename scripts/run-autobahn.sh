#!/usr/bin/env bash
# The Autobahn|Testsuite fuzzingclient (the WebSocket conformance suite) against the
# WebSocketServer running inside a headless Godot 4 (godot-project/tests/servers/echo_server.gd),
# over ws:// and then wss://.
#
#   scripts/run-autobahn.sh
#
# Autobahn|Testsuite 0.8.2 (`wstest`) is Python 2 only. It runs in a Debian 11 "bullseye" minbase
# chroot (the last Debian with python2.7) provisioned once into .cache/autobahn/root with
# debootstrap (~750 MB; debootstrap is installed with apt-get if missing), with the Python packages
# pinned in tests/autobahn/requirements-py27.txt. The chroot shares the host's network, so wstest
# reaches the Godot server on 127.0.0.1. Needs root (or password-less sudo) for debootstrap and
# chroot, and the extension built (scripts/build.sh).
#
# Reports: target/autobahn/<agent>/index.html (index.json, one <agent>_case_*.json/html per case)
# for the agents godot_ws and godot_wss; logs in target/autobahn/logs/. Prints the counts per
# behavior and the FAILED cases for each agent, then "autobahn: N passed, M failed"; exits non-zero
# if a case FAILED, is missing from the report, or a run did not finish. The Godot servers are
# always stopped on exit.
#
# Environment:
#   GDRUST_GODOT_BIN, GODOT4_BIN   the Godot 4 binary (see scripts/get-godot.sh)
#   AUTOBAHN_ROOT                  the chroot (default .cache/autobahn/root)
#   AUTOBAHN_MIRROR                Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   AUTOBAHN_CASES                 JSON list of case patterns (default ["*"])
#   AUTOBAHN_EXCLUDE               JSON list of excluded case patterns (default [])
#   AUTOBAHN_TIMEOUT               seconds allowed for each wstest run (default 600)
#   AUTOBAHN_AGENTS                which runs, in order (default "ws wss")
#   AUTOBAHN_SERVER                ours (default): the WebSocketServer (agents godot_ws, godot_wss);
#                                  godot4: Godot 4's own TCPServer + WebSocketPeer, for comparison
#                                  (tests/servers/godot4_echo_server.gd; agents godot4_ws, godot4_wss)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

root=${AUTOBAHN_ROOT:-$repo/.cache/autobahn/root}
mirror=${AUTOBAHN_MIRROR:-http://deb.debian.org/debian}
cases=${AUTOBAHN_CASES:-'["*"]'}
exclude=${AUTOBAHN_EXCLUDE:-'[]'}
run_timeout=${AUTOBAHN_TIMEOUT:-600}
agents=${AUTOBAHN_AGENTS:-ws wss}
case ${AUTOBAHN_SERVER:-ours} in
  ours) agent_prefix=godot_ ;;
  godot4) agent_prefix=godot4_ ;;
  *) echo "run-autobahn: error: AUTOBAHN_SERVER must be ours or godot4" >&2; exit 1 ;;
esac
requirements="$repo/tests/autobahn/requirements-py27.txt"
reports="$repo/target/autobahn"
logs="$reports/logs"
startup_timeout=60
lifetime=$((run_timeout + 120))  # the Godot server quits by itself after this, whatever happens here

started_at=$SECONDS
server_pid=""
wstest_pid=""
tmp=""

die() { printf 'run-autobahn: error: %s\n' "$*" >&2; exit 1; }
section() { printf -- '-- %s (t=%ss)\n' "$*" "$((SECONDS - started_at))"; }

stop_server() {
  if [[ -n "$server_pid" ]]; then
    stop_pid "$server_pid"
    server_pid=""
  fi
}
# running PID: the process exists and is not a zombie waiting to be reaped.
running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z* ]]
}
# stop_pid PID: TERM, then KILL (to its process group: `timeout` leads one) after 5 s.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    running "$pid" || break
    sleep 0.1
  done
  if running "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap '' INT TERM  # a second signal must not cut the clean-up short
  if [[ -n "$wstest_pid" ]]; then
    stop_pid "$wstest_pid"
    wstest_pid=""
  fi
  stop_server
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Root for debootstrap and chroot: directly, or through password-less sudo (GitHub's runners).
as_root=()
if [[ $(id -u) != 0 ]]; then
  sudo -n true 2>/dev/null || die "needs root (or password-less sudo) for debootstrap and chroot"
  as_root=(sudo -n)
fi

# "${root_cmd[@]}" CMD... (or in_root CMD...): runs CMD inside the chroot with a clean environment.
root_cmd=("${as_root[@]}" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
  chroot "$root")
in_root() { "${root_cmd[@]}" "$@"; }

# ------------------------------------------------------------------ prerequisites
for tool in openssl timeout python3; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed but not installed"
done
[[ -f "$requirements" ]] || die "missing $requirements"
shopt -s nullglob
libs=("$repo"/addons/websocket_server/bin/libwebsocket_server.linux.*.so)
shopt -u nullglob
(( ${#libs[@]} > 0 )) || die "the extension is not built (no addons/websocket_server/bin/libwebsocket_server.linux.*.so): run scripts/build.sh first"
godot=$("$repo/scripts/get-godot.sh") || die "no Godot 4 (see scripts/get-godot.sh)"
mkdir -p "$logs" "$(dirname "$root")"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/autobahn.XXXXXX")

# ------------------------------------------------------------------ the wstest chroot
req_sum=$(sha256sum "$requirements" | cut -d' ' -f1)
stamp="$root/.autobahn-requirements.sha256"

chroot_ready() {
  [[ -x "$root/usr/local/bin/wstest" && "$(cat "$stamp" 2>/dev/null)" == "$req_sum" ]] &&
    in_root wstest --autobahnversion >/dev/null 2>&1
}

provision() {
  local log="$logs/provision.log"
  : >"$log"
  if ! command -v debootstrap >/dev/null 2>&1; then
    section "installing debootstrap with apt-get"
    { "${as_root[@]}" apt-get update -q &&
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; } >>"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; die "apt-get install debootstrap failed (log: $log)"; }
  fi
  # A root whose debootstrap did not finish is started again; a finished one is kept.
  if [[ ! -x "$root/usr/bin/python2.7" || ! -f "$root/.autobahn-debootstrap-done" ]]; then
    section "debootstrap: Debian 11 bullseye minbase with python2.7 into ${root#"$repo"/} (~750 MB, once)"
    "${as_root[@]}" rm -rf "$root"
    mkdir -p "$root"
    "${as_root[@]}" debootstrap --variant=minbase --include=python2.7 bullseye "$root" "$mirror" >>"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; die "debootstrap failed (log: $log)"; }
    "${as_root[@]}" touch "$root/.autobahn-debootstrap-done"
  fi
  # The host's DNS set-up and extra CA certificates (proxies that re-sign TLS need them).
  "${as_root[@]}" cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  "${as_root[@]}" mkdir -p "$root/usr/local/share/ca-certificates"
  local crt
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [[ -f "$crt" ]] && "${as_root[@]}" cp "$crt" "$root/usr/local/share/ca-certificates/"
  done
  "${as_root[@]}" cp "$requirements" "$root/tmp/requirements-py27.txt"
  section "apt-get and pip inside the chroot (wstest and its pinned Python 2.7 packages)"
  in_root sh -euxc '
    apt-get update -q
    apt-get install -y -q --no-install-recommends ca-certificates python-pip-whl python2-dev \
      gcc libc6-dev libffi-dev libssl-dev
    update-ca-certificates
    # Debian'"'"'s pip wheel cannot build sdists: bootstrap with it, then replace it from PyPI.
    python2.7 /usr/share/python-wheels/pip-20.3.4-py2.py3-none-any.whl/pip install -q --no-index \
      /usr/share/python-wheels/pip-20.3.4-py2.py3-none-any.whl
    python2.7 -m pip install -q --force-reinstall pip==20.3.4 setuptools==44.1.1 wheel==0.37.1
    python2.7 -m pip install -q -r /tmp/requirements-py27.txt
    apt-get clean
  ' >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "setting up wstest in the chroot failed (log: $log)"; }
  printf '%s\n' "$req_sum" | "${as_root[@]}" tee "$stamp" >/dev/null
}

section "Autobahn|Testsuite chroot (${root#"$repo"/})"
exec 9>"$(dirname "$root")/.lock"
flock 9  # one run at a time: provisioning and the report folders in the chroot are shared
if chroot_ready; then
  echo "cached: $(in_root wstest --autobahnversion 2>&1 | tail -n1)"
else
  provision
  chroot_ready || die "wstest does not run in the chroot after provisioning (log: $logs/provision.log)"
  echo "provisioned: $(in_root wstest --autobahnversion 2>&1 | tail -n1)"
fi

# ------------------------------------------------------------------ a self-signed certificate
(
  cd "$tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout key.pem -out cert.pem -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
) >"$logs/pki.log" 2>&1 || { cat "$logs/pki.log" >&2; die "openssl could not make the test certificate"; }

# ------------------------------------------------------------------ one run per agent
server_port=""
start_server() {
  local name=$1; shift
  local log="$logs/server-$name.log" deadline=$((SECONDS + startup_timeout))
  local server_script=(--script res://tests/servers/echo_server.gd -- --port 0 --lifetime "$lifetime"
    --buffers 16384,4096,16384,4096 --flat-out --no-shutdown)
  if [[ "$agent_prefix" == godot4_ ]]; then
    server_script=(--script res://tests/servers/godot4_echo_server.gd -- --port 0 --lifetime "$lifetime")
  fi
  timeout --kill-after=5 $((lifetime + 30)) "$godot" --headless --path "$repo/godot-project" \
    "${server_script[@]}" "$@" >"$log" 2>&1 </dev/null &
  server_pid=$!
  server_port=""
  while :; do
    server_port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$log" | head -n1)
    [[ -n "$server_port" ]] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      tail -n 15 "$log" >&2
      die "the Godot echo server exited without printing LISTENING (log: $log)"
    fi
    (( SECONDS < deadline )) || { tail -n 15 "$log" >&2; die "no LISTENING line within ${startup_timeout}s (log: $log)"; }
    sleep 0.1
  done
}

run_failed=()
for scheme in $agents; do
  agent="$agent_prefix$scheme"
  case $scheme in
    ws) server_args=() ;;
    wss) server_args=(--key "$tmp/key.pem" --cert "$tmp/cert.pem") ;;
    *) die "unknown agent '$scheme' in AUTOBAHN_AGENTS (ws or wss)" ;;
  esac
  section "$agent: Godot echo server ($scheme://), wstest -m fuzzingclient, cases $cases excluding $exclude"
  start_server "$agent" "${server_args[@]}"
  echo "Godot pid $server_pid listening on $scheme://127.0.0.1:$server_port"
  "${as_root[@]}" rm -rf "$root/ab/reports/$agent"
  "${as_root[@]}" mkdir -p "$root/ab/reports"
  cat >"$tmp/spec-$agent.json" <<EOF
{
  "outdir": "/ab/reports/$agent",
  "servers": [{"agent": "$agent", "url": "$scheme://127.0.0.1:$server_port"}],
  "cases": $cases,
  "exclude-cases": $exclude,
  "exclude-agent-cases": {}
}
EOF
  "${as_root[@]}" cp "$tmp/spec-$agent.json" "$root/ab/spec-$agent.json"
  # The case ids this spec selects, resolved by wstest's own code: a case missing from the
  # report (a run cut short) counts as failed.
  in_root python2.7 -W ignore -c '
import json, sys
from autobahntestsuite.caseset import CaseSet
from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories, CaseSetname, CaseBasename
spec = json.load(open(sys.argv[1]))
print(json.dumps(CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories).parseSpecCases(spec)))
' "/ab/spec-$agent.json" >"$tmp/expected-$agent.json" 2>"$logs/expected-$agent.log" ||
    { cat "$logs/expected-$agent.log" >&2; die "cannot resolve the case patterns of $tmp/spec-$agent.json"; }
  run_started=$SECONDS
  rc=0
  # wstest 0.8.2 waits forever when a closing handshake never completes: a time limit per run.
  # In the background, so that a signal to this script is handled at once (cleanup stops both);
  # not through a function, so that $! is the process itself (env and chroot exec), not a subshell.
  "${root_cmd[@]}" timeout --kill-after=10 "$run_timeout" wstest -m fuzzingclient -s "/ab/spec-$agent.json" \
    >"$logs/wstest-$agent.log" 2>&1 </dev/null &
  wstest_pid=$!
  wait "$wstest_pid" || rc=$?
  wstest_pid=""
  echo "wstest exit code $rc after $((SECONDS - run_started)) s (log: ${logs#"$repo"/}/wstest-$agent.log)"
  if (( rc == 124 || rc == 137 )); then
    run_failed+=("$agent: wstest did not finish within ${run_timeout}s")
  fi
  stop_server
  rm -rf "${reports:?}/$agent"
  if [[ -d "$root/ab/reports/$agent" ]]; then
    cp -r "$root/ab/reports/$agent" "$reports/$agent"
  fi
  [[ -f "$reports/$agent/index.json" ]] || run_failed+=("$agent: no report (index.json) was written")
  if grep -Eq 'SCRIPT ERROR|ERROR: \[panic|panicked' "$logs/server-$agent.log"; then
    run_failed+=("$agent: the Godot server log has a SCRIPT ERROR or panic (${logs#"$repo"/}/server-$agent.log)")
    grep -E 'SCRIPT ERROR|panic' "$logs/server-$agent.log" | head -n 5 | sed 's/^/      /'
  fi
done

# ------------------------------------------------------------------ the results
section "Results (reports: ${reports#"$repo"/}/<agent>/index.html)"
summary_rc=0
python3 - "$reports" "$tmp" "$agent_prefix" $agents <<'EOF' 2>&1 | tee "$reports/summary.txt" || summary_rc=$?
import json, os, sys

reports, tmp, prefix, schemes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
ORDER = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
PASS = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}
CLOSE_PASS = {"OK", "INFORMATIONAL", "UNIMPLEMENTED"}

def case_key(case_id):
    return [int(p) if p.isdigit() else p for p in case_id.split(".")]

def details(agent, r):
    path = os.path.join(reports, agent, r.get("reportfile") or "-")
    if not os.path.exists(path):
        return "(no case report)"
    with open(path) as f:
        c = json.load(f)
    desc = " ".join(c.get("description", "").split())
    if len(desc) > 150:
        desc = desc[:147] + "..."
    return "%s | result: %s | resultClose: %s" % (desc, c.get("result", ""), c.get("resultClose", ""))

passed = failed = 0
for scheme in schemes:
    agent = prefix + scheme
    with open(os.path.join(tmp, "expected-%s.json" % agent)) as f:
        expected = json.load(f)
    path = os.path.join(reports, agent, "index.json")
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f).get(agent, {})
    counts = dict((b, 0) for b in ORDER)
    close_counts = {}
    failed_lines, close_lines, non_strict_lines = [], [], []
    for case_id in sorted(results, key=case_key):
        r = results[case_id]
        behavior, close = r.get("behavior", "?"), r.get("behaviorClose", "?")
        counts[behavior] = counts.get(behavior, 0) + 1
        close_counts[close] = close_counts.get(close, 0) + 1
        line = "%s (behavior %s, behaviorClose %s, %s ms): %s" % (case_id, behavior, close, r.get("duration"), details(agent, r))
        if behavior in PASS:
            passed += 1
        else:
            failed += 1
            failed_lines.append("  FAILED " + line)
        if close not in CLOSE_PASS:
            close_lines.append("  CLOSE %s " % close + line)
        if behavior == "NON-STRICT":
            non_strict_lines.append("  NON-STRICT " + line)
    missing = [c for c in expected if c not in results]
    failed += len(missing)
    print("%s: %d of %d cases: %s%s" % (agent, len(results), len(expected),
          ", ".join("%s %d" % (b, counts[b]) for b in counts),
          ", MISSING %d" % len(missing) if missing else ""))
    print("%s: behaviorClose: %s" % (agent, ", ".join("%s %d" % kv for kv in sorted(close_counts.items()))))
    for line in failed_lines + close_lines + non_strict_lines:
        print(line)
    if missing:
        print("  MISSING (not in the report): %s" % " ".join(missing))
print("autobahn: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF

for msg in "${run_failed[@]}"; do
  echo "FAIL $msg"
done
echo "run-autobahn: done in $((SECONDS - started_at)) s"
(( summary_rc == 0 && ${#run_failed[@]} == 0 ))
