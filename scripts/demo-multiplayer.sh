#!/usr/bin/env bash
# The multiplayer demo: a lobby served by WebSocketServer (multiplayer mode) in one headless Godot,
# joined by three bot players that are stock Godot 4 clients (WebSocketMultiplayerPeer) in three
# other Godot processes. Prints the game as it happens and a SUMMARY line; exits non-zero when the
# game did not complete (40 s timeout).
#   scripts/demo-multiplayer.sh [PORT]      (default: any free port)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/build.sh" >/dev/null
godot=$("$repo/scripts/get-godot.sh")
args=(--headless --path "$repo/godot-project" --script res://demo/run_mp_demo.gd)
if [[ $# -gt 0 ]]; then
  args+=(-- "$1")
fi
exec "$godot" "${args[@]}"
