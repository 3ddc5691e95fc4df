#!/usr/bin/env bash
# Builds the extension (debug) and runs the WebSocket chat demo headless: the chat scene
# (godot-project/demo/chat_demo.tscn) hosts, and three bots chat with it in the same Godot process
# (godot-project/demo/run_chat_demo.gd).
#   scripts/demo.sh                   any free port; exits with the demo's status: 0 when every
#                                     bot heard every other bot and left cleanly
#   scripts/demo.sh --port 9080       a given port
#   scripts/demo.sh --serve [PORT]    host the chat on PORT (default 9080) until Ctrl-C, and serve
#                                     the browser chat page on PORT+1: open the printed link
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/build.sh >/dev/null
godot=$(scripts/get-godot.sh)
if [[ "${1:-}" == "--serve" ]]; then
  exec "$godot" --headless --path godot-project -- --host "${2:-9080}"
fi
status=0
"$godot" --headless --path godot-project --script res://demo/run_chat_demo.gd -- "$@" || status=$?
exit "$status"
