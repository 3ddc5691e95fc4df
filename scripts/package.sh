#!/usr/bin/env bash
# Assembles the release zip: dist/websocket_server-<version>.zip holding addons/websocket_server/
# (the .gdextension, bin/ with every library the .gdextension names that has been built, LICENSE,
# THIRDPARTY.txt, README.md, CHANGELOG.md), ready to unpack into a Godot project's folder.
#   scripts/package.sh                 whatever libraries bin/ holds now (at least one)
#   scripts/package.sh --require-all   fail unless every [libraries] entry has its file (releases)
# The version is the workspace's (Cargo.toml [workspace.package]); the script refuses to package
# when CHANGELOG.md or the addon's README.md speak of another one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
require_all=false
[[ "${1:-}" == "--require-all" ]] && require_all=true

version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
grep -q "^## \[$version\]" CHANGELOG.md ||
  { echo "package: CHANGELOG.md has no '## [$version]' section" >&2; exit 1; }
grep -q "^Version $version\b" addons/websocket_server/README.md ||
  { echo "package: addons/websocket_server/README.md does not say 'Version $version'" >&2; exit 1; }
cmp -s LICENSE addons/websocket_server/LICENSE ||
  { echo "package: LICENSE and addons/websocket_server/LICENSE differ" >&2; exit 1; }

addon=addons/websocket_server
gdextension=$addon/websocket_server.gdextension
stage=dist/stage
rm -rf "$stage"
mkdir -p "$stage/$addon/bin"

# The library paths named in [libraries], relative to the .gdextension.
mapfile -t libraries < <(sed -n '/^\[libraries\]/,/^\[/{s/^[a-z0-9_.]* *= *"\(.*\)"/\1/p}' "$gdextension")
(( ${#libraries[@]} > 0 )) || { echo "package: no [libraries] in $gdextension" >&2; exit 1; }
packed=0 missing=()
for library in "${libraries[@]}"; do
  if [[ -f "$addon/$library" ]]; then
    cp "$addon/$library" "$stage/$addon/$library"
    packed=$((packed + 1))
  else
    missing+=("$library")
  fi
done
if (( ${#missing[@]} > 0 )); then
  if $require_all; then
    printf 'package: not built: %s\n' "${missing[@]}" >&2
    exit 1
  fi
  printf 'package: leaving out (not built here): %s\n' "${missing[@]}" >&2
fi
(( packed > 0 )) || { echo "package: $addon/bin/ holds none of the libraries; build one first (scripts/build-target.sh)" >&2; exit 1; }

cp "$gdextension" "$addon/README.md" "$addon/LICENSE" "$stage/$addon/"
cp CHANGELOG.md "$stage/$addon/"
python3 scripts/third_party_notices.py "$stage/$addon/THIRDPARTY.txt"

zip="dist/websocket_server-$version.zip"
rm -f "$zip"
# Python's zipfile rather than zip(1): the release job and every OS have it.
(cd "$stage" && python3 -m zipfile -c "../$(basename "$zip")" addons)
rm -rf "$stage"
echo "package: $zip ($packed of ${#libraries[@]} libraries)"
python3 -m zipfile -l "$zip"
