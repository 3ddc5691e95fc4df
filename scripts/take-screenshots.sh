#!/usr/bin/env bash
# Takes the README's pictures of the demo scenes (docs/images/chat-demo.png and
# docs/images/multiplayer-demo.png): the scenes run in the provisioned Godot with a real renderer
# (OpenGL 3 on Mesa's software rasteriser) in a virtual X display, and save their window.
# The browser page's picture comes from scripts/run-browser-test.sh --screenshot.
#
#   scripts/take-screenshots.sh
#
# Not part of the test suite: it needs Xvfb and Mesa from Debian (installed here when missing,
# with root or password-less sudo), and pictures are reviewed by eye before they are committed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

# The Godot that scripts/get-godot.sh provisions leaves out the GL drivers (headless never loads
# them); with these Debian packages it finds the system's Mesa instead.
packages=(xvfb xauth libgl1 libglx-mesa0 libgl1-mesa-dri)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if (( ${#missing[@]} > 0 )); then
  sudo=()
  (( EUID == 0 )) || sudo=(sudo -n)
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

scripts/build.sh >/dev/null
godot=$(scripts/get-godot.sh)
mkdir -p docs/images
run() {  # run OUT.png ARGS...: one Godot with a window in its own virtual display
  local out=$1
  shift
  timeout 120 xvfb-run -a -s "-screen 0 1280x800x24" \
    "$godot" --rendering-driver opengl3 --audio-driver Dummy --resolution 1152x648 \
    --path godot-project "$@" </dev/null
  [[ -s "$out" ]] || { echo "take-screenshots: $out was not written" >&2; return 1; }
  echo "wrote $out"
}
run docs/images/chat-demo.png --script res://demo/screenshot_chat.gd -- "$repo/docs/images/chat-demo.png"
run docs/images/multiplayer-demo.png res://demo/multiplayer/multiplayer_demo.tscn \
  -- --name Host --host 9080 --bots Ann,Ben --screenshot "$repo/docs/images/multiplayer-demo.png"
