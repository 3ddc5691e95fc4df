#!/usr/bin/env bash
# The whole test suite: Rust unit and loopback tests of the core, then the GDScript integration
# tests in a headless Godot 4 (provisioned into .cache/ unless GDRUST_GODOT_BIN or a `godot` 4.x
# on PATH is given).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

echo "== Rust tests (core against real clients on loopback)"
cargo test --workspace

echo "== Building the extension"
scripts/build.sh

echo "== GDScript integration tests in headless Godot 4"
scripts/run-godot-tests.sh

echo "== Third-party clients (Python websockets, openssl s_client) against the server in Godot"
scripts/run-client-tests.sh
