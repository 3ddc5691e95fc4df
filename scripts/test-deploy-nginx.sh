#!/usr/bin/env bash
# Runs what docs/DEPLOYING.md tells a game developer to deploy, on this machine:
#   - docs/deploy/game_server.gd exported as a dedicated server .pck with the preset of
#     docs/deploy/export_presets.cfg, run as "game.x86_64" (this Godot binary) beside game.pck and
#     the addon's library, the way an exported server runs;
#   - docs/deploy/nginx-game.conf in front of it, with only its ports and certificate paths
#     changed, in an nginx run as a plain process on 127.0.0.1 (nginx -c CONF -p DIR);
#   - Python `websockets`, Godot's WebSocketPeer and WebSocketMultiplayerPeer through it, over
#     ws:// and wss:// (TLS ends at nginx; the clients trust only a throwaway root CA whose
#     intermediate signed the certificate, laid out as Let's Encrypt's privkey.pem, cert.pem,
#     chain.pem and fullchain.pem), idle connections against a short proxy_read_timeout, and an
#     nginx reload with a player connected;
#   - the same server serving wss:// itself from those files (no proxy), copied by
#     docs/deploy/certbot-deploy-hook.sh and read by an unprivileged user (when run as root);
#   - docs/deploy/game-server.service through `systemd-analyze verify` (when systemd is there).
#
#   scripts/test-deploy-nginx.sh
#
# Installs Debian's nginx with apt-get if missing (as root, or through password-less sudo; where
# an init system runs, Debian's package also starts the system's nginx service, which this test
# does not use). Needs the extension built (scripts/build.sh), openssl, python3 >= 3.11 with its
# venv module (the venv is .cache/venv, shared with scripts/run-client-tests.sh and its pinned
# websockets). Logs go to target/deploy-test-logs/. Prints one line per check and
# "deploy-nginx: N passed, M failed"; exits non-zero if anything failed. Every process it starts
# is stopped on exit.
#
# Environment:
#   GDRUST_GODOT_BIN, GODOT4_BIN   the Godot 4 binary (see scripts/get-godot.sh)
#   DEPLOY_TEST_BREAK=upgrade      drop the "proxy_set_header Upgrade" line from the tested copy
#                                  of nginx-game.conf, to see the test fail
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/python-checks.sh
source "$repo/scripts/lib/python-checks.sh"
cd "$repo"

# The same websockets as scripts/run-client-tests.sh, which owns the pin.
WEBSOCKETS_VERSION=$(sed -n 's/^WEBSOCKETS_VERSION=\([0-9.]*\).*/\1/p' scripts/run-client-tests.sh)
venv="$repo/.cache/venv"
project="$repo/godot-project"
logs="$repo/target/deploy-test-logs"
doc_conf="$repo/docs/deploy/nginx-game.conf"
startup_timeout=60
lifetime=300       # every server quits after this many seconds, whatever happens here
short_timeout=2    # proxy_read_timeout of the copy that shows the idle cut-off
break_what=${DEPLOY_TEST_BREAK:-}

passed=0
failed=0
started_at=$SECONDS
pids=()
tmp=""

die() { printf 'test-deploy-nginx: error: %s\n' "$*" >&2; exit 1; }
pass() { passed=$((passed + 1)); printf 'ok %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
note() { printf 'note: %s\n' "$*"; }
section() { printf -- '-- %s (t=%ss)\n' "$*" "$((SECONDS - started_at))"; }
summary() {
  echo "deploy-nginx: $passed passed, $failed failed ($((SECONDS - started_at)) s; logs in ${logs#"$repo"/}/)"
  (( failed == 0 ))
}

cleanup() {
  trap '' INT TERM
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
for tool in openssl timeout awk sed; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed but not installed"
done
[[ -n "$WEBSOCKETS_VERSION" ]] || die "no WEBSOCKETS_VERSION= line in scripts/run-client-tests.sh"
case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no Linux library of the addon for $(uname -m)" ;;
esac
gdextension="$repo/addons/websocket_server/websocket_server.gdextension"
# The library an editor or debug build loads (the export below runs this Godot binary).
lib_rel=$(sed -n "s/^linux\.debug\.$arch *= *\"\(.*\)\"/\1/p" "$gdextension")
[[ -n "$lib_rel" ]] || die "no linux.debug.$arch entry in $gdextension"
lib="$repo/addons/websocket_server/$lib_rel"
[[ -f "$lib" ]] || die "the extension is not built ($lib is missing): run scripts/build.sh first"
godot=$("$repo/scripts/get-godot.sh") || die "no Godot 4 (see scripts/get-godot.sh)"
mkdir -p "$logs"
rm -f "$logs"/*.log
tmp=$(mktemp -d "${TMPDIR:-/tmp}/deploy-test.XXXXXX")
# nginx's workers run as nobody when nginx starts as root: they must reach the ACME webroot.
chmod 711 "$tmp"
# Godot's user:// and editor settings stay in here, as XDG_DATA_HOME does in the systemd unit.
export XDG_DATA_HOME="$tmp/xdg/data" XDG_CONFIG_HOME="$tmp/xdg/config" XDG_CACHE_HOME="$tmp/xdg/cache"

section "nginx"
as_root=()
if [[ $(id -u) != 0 ]] && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
fi
nginx_bin=$(command -v nginx 2>/dev/null || true)
[[ -z "$nginx_bin" && -x /usr/sbin/nginx ]] && nginx_bin=/usr/sbin/nginx
if [[ -z "$nginx_bin" ]]; then
  [[ $(id -u) == 0 || ${#as_root[@]} -gt 0 ]] ||
    die "nginx is not installed, and installing it needs root or password-less sudo: apt-get install nginx"
  command -v apt-get >/dev/null 2>&1 || die "nginx is not installed and there is no apt-get to install it"
  echo "installing Debian's nginx with apt-get" >&2
  { timeout 600 "${as_root[@]}" apt-get update -q &&
    timeout 600 "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx
  } >"$logs/apt-nginx.log" 2>&1 </dev/null || { tail -n 20 "$logs/apt-nginx.log" >&2; die "apt-get install nginx failed"; }
  nginx_bin=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
  [[ -x "$nginx_bin" ]] || die "nginx is still missing after apt-get install"
fi
echo "$("$nginx_bin" -v 2>&1)"

# ------------------------------------------------------------------ Python venv
venv_ready() {
  [[ -x "$venv/bin/python" ]] &&
    "$venv/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null
}
section "Python venv (.cache/venv, websockets $WEBSOCKETS_VERSION)"
if ! venv_ready; then
  # The same venv as scripts/run-client-tests.sh (which also knows how to install python3-venv).
  py=${PYTHON:-python3}
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    die "websockets $WEBSOCKETS_VERSION needs Python >= 3.11 ('$py')"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  timeout 300 "$py" -m venv "$venv" >"$logs/venv.log" 2>&1 ||
    { rm -rf "$venv"; die "'$py -m venv' failed (see $logs/venv.log; Debian/Ubuntu: apt-get install python3-venv, or run scripts/run-client-tests.sh once)"; }
  timeout 300 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "websockets==$WEBSOCKETS_VERSION" >>"$logs/venv.log" 2>&1 ||
    die "pip install websockets==$WEBSOCKETS_VERSION failed (see $logs/venv.log)"
  venv_ready || die "websockets $WEBSOCKETS_VERSION does not import in $venv"
fi
py="$venv/bin/python"
echo "$("$py" --version), websockets $WEBSOCKETS_VERSION"

# ------------------------------------------------------------------ the systemd unit
section "docs/deploy/game-server.service"
if command -v systemd-analyze >/dev/null 2>&1 && [[ -d /usr/lib/systemd/system || -d /lib/systemd/system ]]; then
  # verify wants the unit's executable to exist: a root with the system's units and a stand-in
  # for /opt/game-server/game.x86_64.
  sdroot="$tmp/systemd-root"
  mkdir -p "$sdroot/etc/systemd/system" "$sdroot/usr/lib/systemd" "$sdroot/opt/game-server"
  cp -a "$(readlink -f /usr/lib/systemd/system 2>/dev/null || echo /lib/systemd/system)" "$sdroot/usr/lib/systemd/system"
  cp /bin/true "$sdroot/opt/game-server/game.x86_64"
  cp "$repo/docs/deploy/game-server.service" "$sdroot/etc/systemd/system/"
  sd_out=$(timeout 60 systemd-analyze verify --root="$sdroot" game-server.service 2>&1) && sd_rc=0 || sd_rc=$?
  if (( sd_rc == 0 )) && [[ -z "$sd_out" ]]; then
    pass "systemd-analyze verify: game-server.service has no errors or warnings ($(systemd-analyze --version | head -n1))"
  else
    fail "systemd-analyze verify game-server.service (exit code $sd_rc):"
    printf '%s\n' "$sd_out" | head -n 10 | sed 's/^/      /'
  fi
  exposure=$(timeout 60 systemd-analyze security --offline=yes --root="$sdroot" game-server.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for game-server.service: *//p' || true)
  [[ -n "$exposure" ]] && note "systemd-analyze security rates game-server.service: $exposure"
else
  note "systemd-analyze is not installed: docs/deploy/game-server.service not verified"
fi

# ------------------------------------------------------------------ certificates
# A root CA, an intermediate that signs the server certificate (an ECDSA P-256 key, as certbot
# makes by default), and the four files of /etc/letsencrypt/live/DOMAIN/.
section "Throwaway root CA, intermediate and certificate for localhost (openssl $(openssl version | cut -d' ' -f2))"
live="$tmp/live/game.example.com"
mkdir -p "$tmp/pki" "$live"
(
  cd "$tmp/pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout root.key -out root.pem \
    -subj "/CN=Deploy Test Root CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout intermediate.key -out intermediate.csr \
    -subj "/CN=Deploy Test Intermediate"
  printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >intermediate.ext
  openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root.key -CAcreateserial -days 2 \
    -extfile intermediate.ext -out intermediate.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$live/privkey.pem" -out leaf.csr -subj "/CN=localhost"
  printf '%s\n' "subjectAltName=DNS:localhost,DNS:game.example.com,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >leaf.ext
  openssl x509 -req -in leaf.csr -CA intermediate.pem -CAkey intermediate.key -CAcreateserial -days 2 \
    -extfile leaf.ext -out "$live/cert.pem"
  cp intermediate.pem "$live/chain.pem"
  cat "$live/cert.pem" "$live/chain.pem" >"$live/fullchain.pem"
  chmod 600 root.key intermediate.key "$live/privkey.pem"
  openssl verify -CAfile root.pem -untrusted "$live/chain.pem" "$live/cert.pem"
) >"$logs/pki.log" 2>&1 || { cat "$logs/pki.log" >&2; die "openssl could not make the test certificates"; }
ca="$tmp/pki/root.pem"

# As root, the server that serves wss:// itself runs as an unprivileged user (nobody), as the
# systemd unit's User= does, from the copies docs/deploy/certbot-deploy-hook.sh makes for it.
tls_user=()
why_not_nobody="not root"
if [[ $(id -u) == 0 ]] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
  nobody_group=$(id -gn nobody)
  as_nobody=(setpriv --reuid=nobody --regid="$nobody_group" --clear-groups --no-new-privs)
  why_not_nobody=""
  # A clone inside a folder closed to other users (mktemp -d makes them 0700) keeps nobody from
  # the Godot binary (and from the loader it names, for the provisioned one).
  if ! "${as_nobody[@]}" "$godot" --version >/dev/null 2>&1; then
    why_not_nobody="nobody cannot run $godot (a folder above it is closed to other users)"
  fi
fi
if [[ -z "$why_not_nobody" ]]; then
  mkdir -p "$tmp/xdg-nobody"
  chown nobody "$tmp/xdg-nobody"
  tls_user=("${as_nobody[@]}" env XDG_DATA_HOME="$tmp/xdg-nobody")
  if RENEWED_LINEAGE="$live" GAME_TLS_DIR="$tmp/game-tls" GAME_TLS_GROUP="$nobody_group" \
    GAME_SERVER_RESTART=true sh "$repo/docs/deploy/certbot-deploy-hook.sh" >"$logs/deploy-hook.log" 2>&1 &&
    [[ "$(stat -c '%a %U %G' "$tmp/game-tls" "$tmp/game-tls/privkey.pem" "$tmp/game-tls/cert.pem" "$tmp/game-tls/chain.pem")" == \
      "$(printf '%s\n' "750 root $nobody_group" "640 root $nobody_group" "640 root $nobody_group" "640 root $nobody_group")" ]]; then
    pass "docs/deploy/certbot-deploy-hook.sh copies privkey.pem, cert.pem, chain.pem as root:$nobody_group 0640 into a 0750 folder"
  else
    fail "docs/deploy/certbot-deploy-hook.sh (log: $logs/deploy-hook.log)"
    ls -la "$tmp/game-tls" 2>&1 | sed 's/^/      /'
  fi
else
  note "$why_not_nobody: the deploy hook and an unprivileged server user are not tried; the files are copied as they are"
  mkdir -p "$tmp/game-tls"
  cp "$live/privkey.pem" "$live/cert.pem" "$live/chain.pem" "$tmp/game-tls/"
fi

# ------------------------------------------------------------------ export
section "Exporting docs/deploy/game_server.gd as a dedicated server (.pck)"
export_ok=1
game_project="$tmp/project"
server_dir="$tmp/server"
mkdir -p "$game_project/addons/websocket_server/$(dirname "$lib_rel")" "$server_dir"
cp "$gdextension" "$game_project/addons/websocket_server/"
# One copy of the library: the working tree's may be rebuilt while this runs.
lib_copy="$server_dir/$(basename "$lib_rel")"
cp "$lib" "$lib_copy"
ln -s "$lib_copy" "$game_project/addons/websocket_server/$lib_rel"
cp "$repo/docs/deploy/game_server.gd" "$game_project/game_server.gd"
sed "s/^binary_format\/architecture=.*/binary_format\/architecture=\"$arch\"/" \
  "$repo/docs/deploy/export_presets.cfg" >"$game_project/export_presets.cfg"
# The project settings docs/DEPLOYING.md recommends for a server.
cat >"$game_project/project.godot" <<'EOF'
config_version=5

[application]

config/name="Deploy Test Server"
run/main_scene="res://main.tscn"
run/flush_stdout_on_print=true
EOF
cat >"$game_project/main.tscn" <<'EOF'
[gd_scene load_steps=2 format=3]

[ext_resource type="Script" path="res://game_server.gd" id="1"]

[node name="GameServer" type="Node"]
script = ExtResource("1")
EOF
# The first headless import of a project with a GDExtension can crash while Godot 4.6 exits
# (godotengine/godot#111048, as in scripts/test-release-zip.sh) after it did its work; the export
# that follows does not (both are tried again all the same). The subshells keep bash's
# "Aborted" notice out of the output.
import_project() {
  (timeout 180 "$godot" --headless --path "$game_project" --import >>"$logs/export.log" 2>&1 </dev/null; exit $?) 2>/dev/null || true
}
export_pack() {
  grep -qx 'res://addons/websocket_server/websocket_server.gdextension' "$game_project/.godot/extension_list.cfg" 2>/dev/null &&
    (timeout 180 "$godot" --headless --path "$game_project" --export-pack "Linux Server" "$server_dir/game.pck" \
      >>"$logs/export.log" 2>&1 </dev/null; exit $?) 2>/dev/null && [[ -s "$server_dir/game.pck" ]]
}
import_project
if export_pack || { import_project && export_pack; }; then
  pass "godot --export-pack \"Linux Server\" wrote game.pck ($(wc -c <"$server_dir/game.pck") bytes)"
else
  fail "godot --export-pack \"Linux Server\" (log: $logs/export.log)"
  tail -n 15 "$logs/export.log" | sed 's/^/      /'
  export_ok=0
fi
# An exported server is an export template named like its .pck (which it then loads by itself)
# with the addon's library beside it (copied there above); this Godot binary stands in for the
# template. A hard link where possible: the binary is large.
ln -f "$godot" "$server_dir/game.x86_64" 2>/dev/null || cp "$godot" "$server_dir/game.x86_64"

# start_server NAME ARGS...: starts the exported server (as "${run_as[@]}" when set); sets
# server_pid and server_port once it printed "game server listening on IP:PORT". Returns 1
# (reported) if it does not.
server_pid=""
server_port=""
run_as=()
start_server() {
  local name=$1; shift
  local log="$logs/server-$name.log" deadline=$((SECONDS + startup_timeout))
  (cd "$server_dir" && exec timeout --kill-after=5 "$lifetime" "${run_as[@]}" ./game.x86_64 --headless -- "$@") \
    >"$log" 2>&1 </dev/null &
  server_pid=$!
  pids+=("$server_pid")
  server_port=""
  while :; do
    server_port=$(sed -n 's/^game server listening on [0-9.:a-f]*:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n1)
    [[ -n "$server_port" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null || (( SECONDS >= deadline )); then
      fail "$name game server starts (log: $log)"
      tail -n 15 "$log" | sed 's/^/      /'
      return 1
    fi
    sleep 0.1
  done
  pass "$name game server: the exported game.x86_64 + game.pck listening on 127.0.0.1:$server_port${run_as:+ (as ${run_as[1]#--reuid=})}"
}

section "Starting the exported server: behind the proxy, and with its own TLS"
game_port=""
tls_game_port=""
if (( export_ok )); then
  start_server proxied --port 0 --bind 127.0.0.1 && game_port=$server_port
  run_as=("${tls_user[@]}")
  start_server tls --port 0 --bind 127.0.0.1 --tls "$tmp/game-tls" && tls_game_port=$server_port
  if (( ${#tls_user[@]} > 0 )); then
    # Straight from /etc/letsencrypt/live/DOMAIN/, privkey.pem (0600 root) is out of reach.
    rc=0
    (cd "$server_dir" && exec timeout 60 "${tls_user[@]}" ./game.x86_64 --headless -- --port 0 --tls "$live") \
      >"$logs/server-unreadable-key.log" 2>&1 </dev/null || rc=$?
    if (( rc == 1 )) && grep -q 'cannot load privkey.pem' "$logs/server-unreadable-key.log"; then
      pass "as nobody, the server cannot read the live privkey.pem (0600 root): it says so and exits with code 1"
    else
      fail "as nobody, the server cannot read the live privkey.pem: exit code $rc (log: $logs/server-unreadable-key.log)"
    fi
  fi
  run_as=()
fi

# ------------------------------------------------------------------ nginx configuration
# free_ports N: N distinct free TCP ports on 127.0.0.1 (free when asked; nginx binds them next).
free_ports() {
  "$py" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
# wait_port PORT: true once something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
  local deadline=$((SECONDS + 10))
  while (( SECONDS < deadline )); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

section "nginx with docs/deploy/nginx-game.conf"
nginx_ok=0
ngx="$tmp/nginx"
mkdir -p "$ngx/temp" "$tmp/www/.well-known/acme-challenge"
acme_token=deploy-test-token
echo -n "acme-challenge-content" >"$tmp/www/.well-known/acme-challenge/$acme_token"
chmod -R a+rX "$tmp/www"
read -r http_port https_port ws_port short_port mp_proxy_port mp_port < <(free_ports 6)

# The doc's file must still have the lines this test replaces; otherwise update both together.
template_ok=1
expect_lines() {
  local count
  count=$(grep -cE -- "$2" "$doc_conf" || true)
  if [[ "$count" != "$1" ]]; then
    fail "docs/deploy/nginx-game.conf has $1 line(s) matching '$2' (found $count): update this test with the doc"
    template_ok=0
  fi
}
expect_lines 1 '^ *listen 80;$'
expect_lines 1 '^ *listen \[::\]:80;$'
expect_lines 1 '^ *listen 443 ssl;$'
expect_lines 1 '^ *listen \[::\]:443 ssl;$'
expect_lines 2 '/etc/letsencrypt/live/game\.example\.com/'
expect_lines 1 '^ *root /var/www/html;$'
expect_lines 1 '^ *proxy_pass http://127\.0\.0\.1:9080/;$'
expect_lines 1 '^ *location /game/ \{$'
expect_lines 1 '^ *proxy_read_timeout [0-9]+s;$'
expect_lines 1 '^ *proxy_send_timeout [0-9]+s;$'

# DEPLOYING.md quotes the file: every directive of its nginx excerpt must be in the file.
excerpt_missing=$(awk '/^```nginx$/ { inside = 1; next } /^```$/ { inside = 0 } inside' "$repo/docs/DEPLOYING.md" |
  sed -e 's/#.*//' -e 's/^ *//' -e 's/ *$//' -e '/^$/d' | sort -u |
  while IFS= read -r line; do
    sed -e 's/#.*//' -e 's/^ *//' -e 's/ *$//' "$doc_conf" | grep -qxF -- "$line" || printf '%s\n' "$line"
  done)
excerpt_lines=$(awk '/^```nginx$/ { inside = 1; next } /^```$/ { inside = 0 } inside' "$repo/docs/DEPLOYING.md" | grep -c ';' || true)
if [[ -z "$excerpt_missing" ]] && (( excerpt_lines > 0 )); then
  pass "docs/DEPLOYING.md's nginx excerpt ($excerpt_lines directives) is word for word in docs/deploy/nginx-game.conf"
else
  fail "docs/DEPLOYING.md's nginx excerpt is word for word in docs/deploy/nginx-game.conf; not found there:"
  printf '%s\n' "${excerpt_missing:-(no nginx excerpt in docs/DEPLOYING.md)}" | sed 's/^/      /'
fi

if (( template_ok )) && [[ -n "$game_port" ]]; then
  break_sed=()
  if [[ "$break_what" == upgrade ]]; then
    note "DEPLOY_TEST_BREAK=upgrade: the tested copy has no 'proxy_set_header Upgrade' line; checks must fail"
    break_sed=(-e '/proxy_set_header Upgrade /d')
  elif [[ -n "$break_what" ]]; then
    die "DEPLOY_TEST_BREAK=$break_what: only 'upgrade' is known"
  fi
  # Only addresses, ports and paths change.
  sed -e "s|^\( *\)listen 80;$|\1listen 127.0.0.1:$http_port;|" \
    -e '/^ *listen \[::\]:80;$/d' \
    -e "s|^\( *\)listen 443 ssl;$|\1listen 127.0.0.1:$https_port ssl;|" \
    -e '/^ *listen \[::\]:443 ssl;$/d' \
    -e "s|/etc/letsencrypt/live/game\.example\.com/|$live/|" \
    -e "s|^\( *\)root /var/www/html;$|\1root $tmp/www;|" \
    -e "s|proxy_pass http://127\.0\.0\.1:9080/;|proxy_pass http://127.0.0.1:$game_port/;|" \
    "${break_sed[@]}" "$doc_conf" >"$ngx/game.conf"
  # The doc's location block, as tested, for test-only servers: plain ws:// (production serves
  # it over TLS only), and copies with short timeouts to watch idle connections (one of them in
  # front of a multiplayer server).
  awk '/^ *location \/game\/ \{$/ { inside = 1 } inside { print } inside && /^ *\}$/ { exit }' \
    "$ngx/game.conf" >"$ngx/location.conf"
  sed -E -e "s/^( *)proxy_read_timeout [0-9]+s;/\1proxy_read_timeout ${short_timeout}s;/" \
    -e "s/^( *)proxy_send_timeout [0-9]+s;/\1proxy_send_timeout ${short_timeout}s;/" \
    "$ngx/location.conf" >"$ngx/location-short.conf"
  sed -e "s|proxy_pass http://127\.0\.0\.1:$game_port/;|proxy_pass http://127.0.0.1:$mp_port/;|" \
    "$ngx/location-short.conf" >"$ngx/location-short-mp.conf"
  cat >"$ngx/test-servers.conf" <<EOF
server {
    listen 127.0.0.1:$ws_port;
    include $ngx/location.conf;
}
server {
    listen 127.0.0.1:$short_port ssl;
    ssl_certificate     $live/fullchain.pem;
    ssl_certificate_key $live/privkey.pem;
    include $ngx/location-short.conf;
}
server {
    listen 127.0.0.1:$mp_proxy_port;
    include $ngx/location-short-mp.conf;
}
EOF
  user_line=""
  if [[ $(id -u) == 0 ]]; then
    user_line="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
  fi
  cat >"$ngx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
$user_line
pid $ngx/nginx.pid;
error_log $ngx/error.log info;
events { worker_connections 512; }
http {
    access_log $ngx/access.log;
    client_body_temp_path $ngx/temp/body;
    proxy_temp_path $ngx/temp/proxy;
    fastcgi_temp_path $ngx/temp/fastcgi;
    uwsgi_temp_path $ngx/temp/uwsgi;
    scgi_temp_path $ngx/temp/scgi;
    include $ngx/game.conf;
    include $ngx/test-servers.conf;
}
EOF
  cp "$ngx/game.conf" "$logs/nginx-game.tested.conf"
  nginx_args=(-c "$ngx/nginx.conf" -p "$ngx/")
  # -e (nginx >= 1.19.5): the error log before the configuration is read, instead of the
  # compiled-in /var/log/nginx/error.log.
  nginx_help=$("$nginx_bin" -h 2>&1 || true)
  [[ "$nginx_help" == *"-e filename"* ]] && nginx_args+=(-e "$ngx/error.log")
  if timeout 30 "$nginx_bin" -t "${nginx_args[@]}" >"$logs/nginx-t.log" 2>&1; then
    pass "nginx -t accepts docs/deploy/nginx-game.conf (ports and paths replaced)"
    timeout --kill-after=5 "$lifetime" "$nginx_bin" "${nginx_args[@]}" >"$logs/nginx-stdout.log" 2>&1 </dev/null &
    pids+=("$!")
    if wait_port "$https_port" && wait_port "$http_port" && wait_port "$ws_port" && wait_port "$short_port" &&
      wait_port "$mp_proxy_port" &&
      [[ -s "$ngx/nginx.pid" ]]; then
      nginx_ok=1
      pass "nginx listening: doc's :80 block on $http_port, :443 block on $https_port; test-only ws:// on $ws_port, ${short_timeout} s timeouts on $short_port (wss) and $mp_proxy_port (multiplayer)"
    else
      fail "nginx starts (error log: $logs/nginx-error.log)"
    fi
  else
    fail "nginx -t accepts docs/deploy/nginx-game.conf (log: $logs/nginx-t.log)"
    tail -n 5 "$logs/nginx-t.log" | sed 's/^/      /'
  fi
fi

# ------------------------------------------------------------------ clients through nginx
# client NAME ARGS...: runs the Python client, shows its lines, counts them.
client() {
  local name=$1; shift
  run_python_checks "client-$name" 120 "$project/tests/deploy/proxy_client.py" "$@"
}

# godot_client_start NAME SCRIPT ARGS...: starts a client script of godot-project in headless
# Godot, in the background (the idle checks wait several seconds each: they run side by side).
# godot_client_finish NAME: waits for it, shows and counts its ok/FAIL lines.
declare -A godot_client_pids=()
godot_client_start() {
  local name=$1 script=$2; shift 2
  timeout --kill-after=5 120 "$godot" --headless --path "$project" --script "$script" -- "$@" \
    >"$logs/godot-$name.log" 2>&1 </dev/null &
  godot_client_pids[$name]=$!
  pids+=("$!")
}
godot_client_finish() {
  local name=$1
  local log="$logs/godot-$name.log" rc=0 ok_lines fail_lines
  wait "${godot_client_pids[$name]}" || rc=$?
  grep -E '^(ok|FAIL) ' "$log" || true
  ok_lines=$(grep -c '^ok ' "$log" || true)
  fail_lines=$(grep -c '^FAIL ' "$log" || true)
  passed=$((passed + ok_lines))
  failed=$((failed + fail_lines))
  if (( fail_lines == 0 && (rc != 0 || ok_lines == 0) )); then
    fail "Godot client $name ran (exit code $rc, log: $log)"
    tail -n 10 "$log" | sed 's/^/      /'
  fi
}

if (( nginx_ok )); then
  section "Python websockets $WEBSOCKETS_VERSION through nginx, ws://127.0.0.1:$ws_port/game/"
  client ws echo --url "ws://127.0.0.1:$ws_port/game/" --proto http --label "ws:// via nginx"
  client ws-redirect redirect --url "ws://127.0.0.1:$ws_port/game" --label "ws:// via nginx"

  section "Python websockets through nginx with TLS (the doc's :443 block), wss://127.0.0.1:$https_port/game/"
  client wss echo --url "wss://127.0.0.1:$https_port/game/" --cafile "$ca" --proto https --label "wss:// via nginx"
  client http http --url "http://127.0.0.1:$http_port" --acme-token "$acme_token" \
    --acme-body "acme-challenge-content" --label "nginx :80 block"

  section "Idle connections against proxy_read_timeout ${short_timeout} s: Python (wss://127.0.0.1:$short_port/game/), Godot's WebSocketPeer (the same, TLSOptions.client with the test root CA) and multiplayer (ws://127.0.0.1:$mp_proxy_port/game/)"
  godot_client_start heartbeat res://tests/deploy/heartbeat_client.gd --url "wss://127.0.0.1:$short_port/game/" \
    --ca "$ca" --idle $((short_timeout * 2 + 1)) --heartbeat 0.5
  godot_client_start multiplayer res://tests/deploy/mp_heartbeat.gd --listen-port "$mp_port" \
    --url "ws://127.0.0.1:$mp_proxy_port/game/" --idle $((short_timeout * 2 + 1))
  client idle idle --url "wss://127.0.0.1:$short_port/game/" --cafile "$ca" --timeout "$short_timeout" \
    --label "wss:// via nginx"
  godot_client_finish heartbeat
  godot_client_finish multiplayer

  section "nginx -s reload with a player connected"
  client reload reload --url "wss://127.0.0.1:$https_port/game/" --cafile "$ca" \
    --nginx-pid "$(cat "$ngx/nginx.pid")" --label "wss:// via nginx"
fi

# ------------------------------------------------------------------ TLS in Godot, no proxy
if [[ -n "$tls_game_port" ]]; then
  section "The server's own wss:// from privkey.pem, cert.pem and chain.pem, wss://127.0.0.1:$tls_game_port/"
  client direct echo --url "wss://127.0.0.1:$tls_game_port/" --cafile "$ca" --direct --label "wss:// to Godot"
  s_log="$logs/s_client-direct.log"
  timeout 10 openssl s_client -connect "127.0.0.1:$tls_game_port" -servername localhost -CAfile "$ca" \
    -showcerts </dev/null >"$s_log" 2>&1 || true
  if grep -q '^ *Verify return code: 0 (ok)' "$s_log" && grep -q '^ 1 s: *CN *= *Deploy Test Intermediate' "$s_log" &&
    ! grep -q '^ 2 s:' "$s_log"; then
    pass "openssl s_client: the server sends certificate + intermediate, verified against the root alone"
  else
    fail "openssl s_client: the server sends certificate + intermediate, verified against the root alone (log: $s_log)"
    grep -E '^ *[0-9] s:|Verify return' "$s_log" | sed 's/^/      /'
  fi
  # fullchain.pem in one X509Certificate (DEPLOYING.md says what happens): the count is reported.
  fc_log="$logs/server-fullchain.log"
  timeout --kill-after=5 60 "$godot" --headless --path "$project" --script res://tests/servers/echo_server.gd -- \
    --port 0 --lifetime 20 --key "$live/privkey.pem" --cert "$live/fullchain.pem" >"$fc_log" 2>&1 </dev/null &
  fc_pid=$!
  pids+=("$fc_pid")
  fc_port=""
  for _ in $(seq 1 300); do
    fc_port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$fc_log" | head -n1)
    [[ -n "$fc_port" ]] && break
    kill -0 "$fc_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -n "$fc_port" ]]; then
    fc_s_log="$logs/s_client-fullchain.log"
    timeout 10 openssl s_client -connect "127.0.0.1:$fc_port" -servername localhost -CAfile "$ca" \
      -showcerts </dev/null >"$fc_s_log" 2>&1 || true
    fc_sent=$(grep -c '^ *[0-9] s:' "$fc_s_log" || true)
    note "ssl_certificate loaded from fullchain.pem: the server sends $fc_sent certificate(s), verify: $(sed -n 's/^ *Verify return code: //p' "$fc_s_log" | head -n1)"
    # An engine that loses the intermediate must not do so silently: listen() warns.
    if (( fc_sent >= 2 )) || grep -q 'ssl_certificate holds 2 certificates, but this Godot version hands over only the first' "$fc_log"; then
      pass "fullchain.pem in ssl_certificate: the whole chain is sent, or listen() warned that it cannot be"
    else
      fail "fullchain.pem in ssl_certificate: only $fc_sent certificate sent and no warning from listen() (log: $fc_log)"
    fi
  fi
  kill "$fc_pid" 2>/dev/null || true
fi

# ------------------------------------------------------------------ logs
section "Server and nginx logs"
proxied_log="$logs/server-proxied.log"
if [[ -n "$game_port" && $nginx_ok == 1 ]]; then
  n=$(grep -c '^player [0-9]* connected from 127\.0\.0\.2, path /' "$proxied_log" || true)
  if (( n > 0 )); then
    pass "the server's log names the player's address (127.0.0.2) for $n connection(s) through nginx"
  else
    fail "the server's log names the player's address (127.0.0.2) (log: $proxied_log)"
  fi
  n=$(grep -c '^player [0-9]* left (clean: true)$' "$proxied_log" || true)
  if (( n > 0 )); then
    pass "the server saw $n clean close(s) through nginx"
  else
    fail "the server saw clean closes through nginx (log: $proxied_log)"
  fi
  # The two silent clients (Python's and Godot's) cut by the 2 s timeout, and nothing else.
  n=$(grep -c '^player [0-9]* left (clean: false)$' "$proxied_log" || true)
  if (( n == 2 )); then
    pass "the server saw the 2 connections cut by the proxy's timeout as client_disconnected(id, false)"
  else
    fail "the server saw the 2 connections cut by the proxy's timeout as client_disconnected(id, false): $n unclean (log: $proxied_log)"
  fi
  if grep -q 'upstream timed out .* while proxying upgraded connection' "$ngx/error.log"; then
    pass "nginx's error log (level info) names the idle cut-off: \"upstream timed out ... while proxying upgraded connection\""
  else
    fail "nginx's error log names the idle cut-off (log: $logs/nginx-error.log)"
  fi
fi
for log in "$logs"/server-*.log; do
  [[ -f "$log" ]] || continue
  if grep -Eq 'SCRIPT ERROR|panicked|handle_crash' "$log"; then
    fail "$(basename "$log" .log): no SCRIPT ERROR, panic or crash"
    grep -E 'SCRIPT ERROR|panic|handle_crash' "$log" | head -n 5 | sed 's/^/      /'
  else
    pass "$(basename "$log" .log): no SCRIPT ERROR, panic or crash"
  fi
done
[[ -f "$ngx/error.log" ]] && cp "$ngx/error.log" "$logs/nginx-error.log"
[[ -f "$ngx/access.log" ]] && cp "$ngx/access.log" "$logs/nginx-access.log"
if [[ -f "$ngx/error.log" ]] && grep -Eq '\[(emerg|alert|crit)\]' "$ngx/error.log"; then
  fail "nginx's error log has no emerg/alert/crit lines (log: $logs/nginx-error.log)"
  grep -E '\[(emerg|alert|crit)\]' "$ngx/error.log" | head -n 5 | sed 's/^/      /'
fi

summary
