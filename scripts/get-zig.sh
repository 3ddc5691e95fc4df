#!/usr/bin/env bash
# Installs zig and cargo-zigbuild (binary wheels from PyPI) into .cache/zig once, and prints that
# folder; its bin/ holds cargo-zigbuild, and `bin/python -m ziglang` runs zig. Nothing is installed
# system-wide. Used by build-target.sh (Linux libraries against glibc 2.28, cross links) and
# check-cross-builds.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.cache/zig
wanted="ziglang==0.17.1 cargo-zigbuild==0.24.1"
if [[ ! -x "$venv/bin/cargo-zigbuild" || "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]]; then
  echo "get-zig: installing $wanted into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086  # $wanted is a list of requirements
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: $wanted
  echo "$wanted" >"$venv/.installed"
fi
echo "$venv"
