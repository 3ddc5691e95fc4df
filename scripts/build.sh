#!/usr/bin/env bash
# Builds the extension and puts the library where addons/websocket_server/*.gdextension looks.
#   scripts/build.sh            debug build  -> bin/libwebsocket_server.linux.debug.x86_64.so
#   scripts/build.sh --release  release build -> bin/libwebsocket_server.linux.release.x86_64.so
# Godot editor builds (and Debian's godot) load the "debug" entry, export templates the "release" one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
profile=debug
# The debug library (what the tests load) carries the test-only fault-injection hook
# (rust/godot/src/fault_injection.rs); release builds never do.
cargo_flags=(--features fault-injection)
if [[ "${1:-}" == "--release" ]]; then
  profile=release
  cargo_flags=(--release)
fi
arch=$(uname -m)
[[ "$arch" == "aarch64" ]] && arch=arm64
cd "$repo"
cargo build -p websocket-server-godot "${cargo_flags[@]}" >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p addons/websocket_server/bin
dest="addons/websocket_server/bin/libwebsocket_server.linux.$profile.$arch.so"
# Copy to a temporary name and rename: a running Godot keeps its mapped copy intact.
cp "$target_dir/$profile/libwebsocket_server.so" "$dest.$$.tmp"
mv -f "$dest.$$.tmp" "$dest"
echo "$repo/$dest"
