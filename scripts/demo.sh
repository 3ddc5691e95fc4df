#!/usr/bin/env bash
# Builds the extension (debug) and runs the WebSocket chat demo headless: a chat server and
# three bots in one Godot process (godot-project/demo/run_chat_demo.gd).
#   scripts/demo.sh              any free port
#   scripts/demo.sh --port 9080  a given port
# Exits with the demo's status: 0 when every bot heard every other bot and left cleanly.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/build.sh >/dev/null
godot=$(scripts/get-godot.sh)
status=0
"$godot" --headless --path godot-project --script res://demo/run_chat_demo.gd -- "$@" || status=$?
exit "$status"
