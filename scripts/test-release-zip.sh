#!/usr/bin/env bash
# The release zip, tried as a user would try it: build the Linux x86_64 libraries exactly as the
# release workflow does (glibc 2.28 floor), package them with scripts/package.sh, unpack the zip
# into a brand-new Godot project that holds nothing else from this repository, open it the way
# the editor does (an import), and pass an echo round trip with Godot's own WebSocketPeer there,
# once with the debug library and once with the release library.
#   scripts/test-release-zip.sh [--no-build]   (--no-build: package what bin/ holds now)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
godot=$(scripts/get-godot.sh)
bin=addons/websocket_server/bin

if [[ "${1:-}" != "--no-build" ]]; then
  scripts/build-target.sh linux-x86_64 debug
  scripts/build-target.sh linux-x86_64 release
fi
for flavour in debug release; do
  scripts/check-glibc.sh "$bin/libwebsocket_server.linux.$flavour.x86_64.so" 2.28
done
scripts/package.sh
version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
zip="$repo/dist/websocket_server-$version.zip"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "test-release-zip: FAIL: $*" >&2; exit 1; }

# One fresh project per library: Debian's Godot is an editor build and loads the .gdextension's
# linux.debug.x86_64 entry, so the release library is tried by pointing that entry at it.
for flavour in debug release; do
  project="$work/$flavour/my_game"
  mkdir -p "$project"
  printf 'config_version=5\n\n[application]\n\nconfig/name="my_game"\n' >"$project/project.godot"
  (cd "$project" && python3 -m zipfile -e "$zip" .)
  addon="$project/addons/websocket_server"
  for file in websocket_server.gdextension LICENSE THIRDPARTY.txt README.md CHANGELOG.md \
      bin/libwebsocket_server.linux.debug.x86_64.so bin/libwebsocket_server.linux.release.x86_64.so; do
    [[ -s "$addon/$file" ]] || fail "the zip has no addons/websocket_server/$file"
  done
  grep -q '^  tungstenite ' "$addon/THIRDPARTY.txt" || fail "THIRDPARTY.txt does not list tungstenite"
  if [[ $flavour == release ]]; then
    sed -i 's|^linux.debug.x86_64 = .*|linux.debug.x86_64 = "bin/libwebsocket_server.linux.release.x86_64.so"|' \
      "$addon/websocket_server.gdextension"
  fi

  # The first import finds the extension and writes .godot/extension_list.cfg, as opening the
  # project in the editor does. Godot 4.6 can crash while exiting from that first headless import
  # of a project with a GDExtension (godotengine/godot#111048, inside the engine); the second
  # import must then succeed.
  rc=0
  timeout 120 "$godot" --headless --path "$project" --import >"$work/$flavour-import.log" 2>&1 </dev/null || rc=$?
  grep -qx 'res://addons/websocket_server/websocket_server.gdextension' "$project/.godot/extension_list.cfg" 2>/dev/null ||
    fail "the import did not register the extension (exit $rc); log: $(tail -5 "$work/$flavour-import.log")"
  if (( rc != 0 )); then
    echo "test-release-zip: first import exited $rc (engine bug at exit); importing again"
    timeout 120 "$godot" --headless --path "$project" --import >"$work/$flavour-import2.log" 2>&1 </dev/null ||
      fail "the second import exited $? too: $(tail -5 "$work/$flavour-import2.log")"
  fi

  cat >"$project/echo_test.gd" <<'EOF'
extends SceneTree
# A user's first script: a WebSocketServer on a free port, Godot's WebSocketPeer as the client,
# one text echoed back.
var server
var client := WebSocketPeer.new()
var echoed := ""

func _initialize() -> void:
	if not ClassDB.class_exists("WebSocketServer"):
		printerr("FAIL: the class WebSocketServer is not registered: the library did not load")
		quit(1)
		return
	server = WebSocketServer.new()
	server.data_received.connect(func(id: int):
		var peer = server.get_peer(id)
		peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT)
		peer.put_packet(("echo: " + peer.get_packet().get_string_from_utf8()).to_utf8_buffer()))
	var err: Error = server.listen(0)
	if err != OK:
		printerr("FAIL: listen(0): ", error_string(err))
		quit(1)
		return
	client.connect_to_url("ws://127.0.0.1:%d" % server.get_local_port())
	_run.call_deferred()

func _run() -> void:
	var deadline := Time.get_ticks_msec() + 10000
	var sent := false
	while echoed.is_empty() and Time.get_ticks_msec() < deadline:
		server.poll()
		client.poll()
		if not sent and client.get_ready_state() == WebSocketPeer.STATE_OPEN:
			client.send_text("hello")
			sent = true
		while client.get_available_packet_count() > 0:
			echoed = client.get_packet().get_string_from_utf8()
		await process_frame
	if echoed == "echo: hello":
		print("PASS: echo round trip through the zip's library: ", echoed)
		quit(0)
	else:
		printerr("FAIL: expected \"echo: hello\", got \"%s\" (client state %d)" % [echoed, client.get_ready_state()])
		quit(1)
EOF
  log="$work/$flavour-echo.log"
  rc=0
  timeout 60 "$godot" --headless --path "$project" --script res://echo_test.gd >"$log" 2>&1 </dev/null || rc=$?
  why=""
  (( rc == 0 )) || why="exit code $rc"
  grep -q '^PASS' "$log" || why="${why:+$why; }no PASS line"
  ! grep -q 'SCRIPT ERROR' "$log" || why="${why:+$why; }SCRIPT ERROR"
  ! grep -q 'ERROR: \[panic' "$log" || why="${why:+$why; }Rust panic"
  ! grep -qi 'dynamic library not found\|Error loading extension\|Can.t open dynamic library' "$log" || why="${why:+$why; }library not loaded"
  [[ -z "$why" ]] || fail "$flavour library: $why; log:"$'\n'"$(cat "$log")"
  echo "test-release-zip: $flavour library: $(grep -m1 '^PASS' "$log")"
done
echo "test-release-zip: $(basename "$zip") works in a fresh project (debug and release libraries)"
