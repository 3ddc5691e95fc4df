#!/usr/bin/env bash
# The chat demo's browser page (godot-project/demo/web/chat.html) in headless Chromium, against
# the chat server, the page server and a bot on Godot's WebSocketPeer, all in a headless Godot 4
# (godot-project/tests/servers/browser_chat_server.gd). tests/browser/chat_test.mjs drives the
# page with playwright-core: it types lines that must reach the Godot bot as "[id] text", reads
# the bot's answers in the page, follows the peer list through joins and leaves, checks unicode,
# escaping and a clean close as the server saw it, and the page server's HTTP answers.
#
#   scripts/run-browser-test.sh                 the test
#   scripts/run-browser-test.sh --screenshot    the test, and the README's picture of the page:
#                                               docs/images/browser-chat.png (900x600; installs
#                                               emoji and CJK fonts for it when missing)
#
# Installs what it needs when missing, with apt-get as root or through password-less sudo
# (Debian/Ubuntu): chromium (used as /usr/bin/chromium), and nodejs and npm when there is no
# Node.js >= 18. playwright-core (pinned in tests/browser/package-lock.json; it downloads no
# browser) goes into .cache/node with `npm ci`, once: later runs need no network.
# Needs the extension built (scripts/build.sh).
#
# Prints one line per check ("ok ..." / "FAIL ...") and "browser-test: N passed, M failed"; exits
# non-zero if anything failed. Logs, and the page's picture of every run, in target/browser-test/.
# Godot and Chromium are always stopped on exit.
#
# Environment:
#   GDRUST_GODOT_BIN, GODOT4_BIN     the Godot 4 binary (see scripts/get-godot.sh)
#   BROWSER_TEST_STARTUP_TIMEOUT     seconds Godot has to print LISTENING (default 60)
#   BROWSER_TEST_TIMEOUT             seconds the browser part may take (default 240)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

screenshot=0
for arg in "$@"; do
  case $arg in
    --screenshot) screenshot=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) printf 'run-browser-test: unknown argument %s (see --help)\n' "$arg" >&2; exit 2 ;;
  esac
done

chromium=/usr/bin/chromium
project="$repo/godot-project"
tests="$repo/tests/browser"
node_dir="$repo/.cache/node"
out="$repo/target/browser-test"
startup_timeout=${BROWSER_TEST_STARTUP_TIMEOUT:-60}
browser_timeout=${BROWSER_TEST_TIMEOUT:-240}
lifetime=$((browser_timeout + 60))  # Godot quits by itself after this, whatever happens here

passed=0
failed=0
started_at=$SECONDS
godot_pid=""
node_pid=""
tail_pid=""

die() { printf 'run-browser-test: error: %s\n' "$*" >&2; exit 1; }
pass() { passed=$((passed + 1)); printf 'ok %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
section() { printf -- '-- %s (t=%ss)\n' "$*" "$((SECONDS - started_at))"; }

# running PID: the process exists and is not a zombie waiting to be reaped (read from /proc:
# minimal Debian images have no ps).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ -n "$stat" && "${stat%% *}" != Z ]]
}
# stop_pid PID: TERM (`timeout` passes it on), then KILL after 5 s.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    running "$pid" || break
    sleep 0.1
  done
  running "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap '' INT TERM  # a second signal must not cut the clean-up short
  # Node first: on TERM, playwright closes the Chromium it started.
  [[ -n "$node_pid" ]] && stop_pid "$node_pid"
  [[ -n "$tail_pid" ]] && stop_pid "$tail_pid"
  [[ -n "$godot_pid" ]] && stop_pid "$godot_pid"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ what it needs
as_root=()
apt_install() {
  if (( EUID != 0 )); then
    sudo -n true 2>/dev/null ||
      die "needs $* from apt-get: run as root, with password-less sudo, or install them first (sudo apt-get install $*)"
    as_root=(sudo -n)
  fi
  command -v apt-get >/dev/null 2>&1 || die "needs $* and there is no apt-get: install them by hand"
  echo "installing $* with apt-get" >&2
  timeout 600 "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
    timeout 900 "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
    die "apt-get install $* failed"
}

shopt -s nullglob
libs=("$repo"/addons/websocket_server/bin/libwebsocket_server.linux.*.so)
shopt -u nullglob
(( ${#libs[@]} > 0 )) || die "the extension is not built (no addons/websocket_server/bin/libwebsocket_server.linux.*.so): run scripts/build.sh first"
godot=$("$repo/scripts/get-godot.sh") || die "no Godot 4 (see scripts/get-godot.sh)"

section "Chromium ($chromium)"
[[ -x "$chromium" ]] || apt_install chromium
[[ -x "$chromium" ]] || die "$chromium is still missing after installing Debian's chromium package"
timeout 30 "$chromium" --version 2>/dev/null || echo "(chromium --version printed nothing)"
if (( screenshot )); then
  # The picture shows emoji and CJK text: without these fonts they are drawn as empty boxes.
  fonts=()
  for p in fonts-noto-color-emoji fonts-droid-fallback; do
    dpkg -s "$p" >/dev/null 2>&1 || fonts+=("$p")
  done
  (( ${#fonts[@]} == 0 )) || apt_install "${fonts[@]}"
fi

section "Node.js and playwright-core (.cache/node)"
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
}
if ! node_ok; then
  if ! command -v node >/dev/null 2>&1; then
    apt_install nodejs npm
  elif ! command -v npm >/dev/null 2>&1; then
    apt_install npm
  fi
  node_ok || die "Node.js >= 18 with npm is needed; found node $(node --version 2>/dev/null || echo none), npm $(npm --version 2>/dev/null || echo none)"
fi
# The pinned set is installed again only when package.json or the lock file changed.
want=$(cat "$tests/package.json" "$tests/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$node_dir/.installed" 2>/dev/null)" == "$want" && -f "$node_dir/node_modules/playwright-core/package.json" ]]; then
  echo "cached"
else
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  cp "$tests/package.json" "$tests/package-lock.json" "$node_dir/"
  (cd "$node_dir" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) >&2 ||
    die "npm ci in $node_dir failed (tests/browser/package-lock.json)"
  printf '%s\n' "$want" >"$node_dir/.installed"
fi
echo "node $(node --version), playwright-core $(node -p "require('$node_dir/node_modules/playwright-core/package.json').version")"

# ------------------------------------------------------------------ Godot: chat, page, bot
mkdir -p "$out"
rm -f "$out"/*.log "$out/quit"
godot_log="$out/godot.log"
section "Headless Godot: chat server, page server and bot (log: ${godot_log#"$repo"/})"
timeout --kill-after=5 "$lifetime" "$godot" --headless --path "$project" \
  --script res://tests/servers/browser_chat_server.gd -- --lifetime "$lifetime" --quit-file "$out/quit" \
  >"$godot_log" 2>&1 </dev/null &
godot_pid=$!
deadline=$((SECONDS + startup_timeout))
listening=""
while :; do
  listening=$(grep -m1 -E '^LISTENING ws=[0-9]+ http=[0-9]+$' "$godot_log" || true)
  [[ -n "$listening" ]] && break
  if ! running "$godot_pid"; then
    tail -n 20 "$godot_log" | sed 's/^/      /'
    die "Godot exited without printing LISTENING (log: $godot_log)"
  fi
  (( SECONDS < deadline )) || { tail -n 20 "$godot_log" | sed 's/^/      /'; die "no LISTENING line within ${startup_timeout}s (log: $godot_log)"; }
  sleep 0.1
done
ws_port=${listening#LISTENING ws=}; ws_port=${ws_port%% *}
http_port=${listening##*http=}
page="http://127.0.0.1:$http_port/?ws=$ws_port"
pass "Godot listening: chat server ws://127.0.0.1:$ws_port, page $page (pid $godot_pid)"

# ------------------------------------------------------------------ the browser
section "Headless Chromium and the page (tests/browser/chat_test.mjs)"
node_log="$out/chat_test.log"
shot="$out/browser-chat.png"
rm -f "$shot"
: >"$node_log"
# In the background, so that a signal to this script is handled at once (cleanup stops it).
timeout --kill-after=10 "$browser_timeout" node "$tests/chat_test.mjs" --page "$page" --http-port "$http_port" \
  --godot-log "$godot_log" --web-dir "$project/demo/web" --modules "$node_dir" --screenshot "$shot" \
  >"$node_log" 2>&1 </dev/null &
node_pid=$!
tail -n +1 -f --pid="$node_pid" "$node_log" &
tail_pid=$!
node_rc=0
wait "$node_pid" || node_rc=$?
node_pid=""
wait "$tail_pid" 2>/dev/null || true
tail_pid=""
ok_lines=$(grep -c '^ok ' "$node_log" || true)
fail_lines=$(grep -c '^FAIL ' "$node_log" || true)
passed=$((passed + ok_lines))
failed=$((failed + fail_lines))
if (( node_rc == 124 || node_rc == 137 )); then
  fail "the browser part did not finish within ${browser_timeout}s (log: ${node_log#"$repo"/})"
elif (( node_rc != 0 && fail_lines == 0 )); then
  fail "chat_test.mjs exited with code $node_rc without a FAIL line (log: ${node_log#"$repo"/})"
elif (( node_rc == 0 && ok_lines == 0 )); then
  fail "chat_test.mjs ran no check (log: ${node_log#"$repo"/})"
fi

# ------------------------------------------------------------------ Godot's end and its log
section "Godot quits: the bot leaves cleanly"
touch "$out/quit"
deadline=$((SECONDS + 15))
while running "$godot_pid" && (( SECONDS < deadline )); do sleep 0.1; done
if running "$godot_pid"; then
  fail "Godot quits within 15 s of being asked"
  stop_pid "$godot_pid"
else
  godot_rc=0
  wait "$godot_pid" || godot_rc=$?
  if (( godot_rc == 0 )); then
    pass "Godot quits with exit code 0"
  else
    fail "Godot quits with exit code 0: exit code $godot_rc (log: ${godot_log#"$repo"/})"
  fi
fi
godot_pid=""
if grep -qx 'BOT CLOSED code=1000 reason=bye' "$godot_log"; then
  pass "the Godot bot closed with 1000"
else
  fail "the Godot bot closed with 1000: no 'BOT CLOSED code=1000 reason=bye' line (log: ${godot_log#"$repo"/})"
fi
if grep -Eq 'SCRIPT ERROR|ERROR: \[panic|panicked|leaked at exit|Unicode parsing error|^(USER )?(WARNING|ERROR):' "$godot_log"; then
  fail "the Godot log has no error, warning, panic or leak (log: ${godot_log#"$repo"/})"
  grep -E -A2 'SCRIPT ERROR|panic|leaked|Unicode|^(USER )?(WARNING|ERROR):' "$godot_log" | head -n 12 | sed 's/^/      /'
else
  pass "the Godot log has no error, warning, panic or leak"
fi

if (( screenshot )); then
  if [[ -s "$shot" ]]; then
    mkdir -p "$repo/docs/images"
    cp "$shot" "$repo/docs/images/browser-chat.png"
    echo "wrote docs/images/browser-chat.png"
  else
    fail "--screenshot: the browser test wrote no picture ($shot)"
  fi
fi

echo "browser-test: $passed passed, $failed failed ($((SECONDS - started_at)) s; logs in ${out#"$repo"/}/)"
(( failed == 0 ))
