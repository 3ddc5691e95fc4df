#!/usr/bin/env bash
# The whole test suite: Rust unit and loopback tests of the core, the GDScript integration tests in
# a headless Godot 4 (provisioned into .cache/ unless GDRUST_GODOT_BIN or a `godot` 4.x on PATH is
# given), third-party clients and hostile clients against the server in Godot, the Autobahn
# conformance suite, and the release zip unpacked into a fresh Godot project.
# Every stage runs even when an earlier one fails; the summary at the end says which failed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1

failed=()
stages=0
stage() {
  local name=$1
  shift
  stages=$((stages + 1))
  echo
  echo "== $name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

stage "Rust tests (core against real clients on loopback)" cargo test --workspace
stage "Building the extension" scripts/build.sh
stage "GDScript integration tests in headless Godot 4" scripts/run-godot-tests.sh
stage "Every GDScript snippet of the documentation, run in headless Godot 4" scripts/check-doc-snippets.py
stage "Third-party clients (Python websockets, openssl s_client) against the server in Godot" scripts/run-client-tests.sh
stage "The chat demo's browser page in headless Chromium (playwright-core)" scripts/run-browser-test.sh
stage "The deployment guide: the exported server behind nginx, ws:// and wss:// (docs/DEPLOYING.md)" scripts/test-deploy-nginx.sh
stage "Hostile clients against the server inside Godot: malformed, oversized, slow, many (memory and fds bounded)" scripts/run-hostile-tests.sh
stage "Autobahn|Testsuite against the server inside Godot" scripts/run-autobahn.sh
stage "The release zip (Linux libraries, glibc 2.28) in a fresh Godot project" scripts/test-release-zip.sh

echo
if (( ${#failed[@]} > 0 )); then
  printf 'failed stage: %s\n' "${failed[@]}"
fi
echo "stages: $((stages - ${#failed[@]})) passed, ${#failed[@]} failed"
(( ${#failed[@]} == 0 ))
