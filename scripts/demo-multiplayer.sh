#!/usr/bin/env bash
# The multiplayer demo, headless: the demo scene (godot-project/demo/multiplayer/multiplayer_demo.tscn)
# hosts with WebSocketMultiplayerServer in one Godot, and three bots join it: the same scene in three
# other Godot processes, each a stock Godot 4 client (WebSocketMultiplayerPeer). Every player walks a
# path and waves; the MultiplayerSpawner, the MultiplayerSynchronizer and an @rpc carry it to every
# peer; the bots then leave one by one. Prints the game as the host sees it and a SUMMARY line; exits
# 0 when every peer saw everything and every bot exited cleanly, 1 otherwise (60 s limit inside,
# 90 s for the whole process).
#   scripts/demo-multiplayer.sh [PORT]      (default: any free port)
# To play it with a window instead, open the scene in the editor (see its script's header).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/build.sh" >/dev/null
godot=$("$repo/scripts/get-godot.sh")
args=(--headless --path "$repo/godot-project" --script res://demo/run_mp_demo.gd)
if [[ $# -gt 0 ]]; then
  args+=(-- "$1")
fi
exec timeout --kill-after=5 90 "$godot" "${args[@]}"
