#!/usr/bin/env bash
# Builds one library of the release zip, the way the release workflow does, and copies it to the
# path that addons/websocket_server/websocket_server.gdextension names for it (so names can never
# drift between the two).
#   scripts/build-target.sh PLATFORM FLAVOUR
#   PLATFORM: linux-x86_64 linux-arm64 windows-x86_64 macos-universal android-arm64 android-x86_64
#   FLAVOUR:  debug   -> the .gdextension's "debug" entry (editor, debug exports): cargo profile
#                        release-checked (optimised, with debug assertions)
#             release -> the "release" entry (release exports): cargo --release
#
# What each platform needs:
#   linux-*          cargo-zigbuild and zig (from PyPI, installed into .cache/zig), linking against
#                    glibc 2.28 so the library loads on Debian 10 / Ubuntu 20.04 / RHEL 8 and newer.
#   windows-x86_64   on Windows: MSVC (x86_64-pc-windows-msvc), what the release ships. On Linux:
#                    a cross build for x86_64-pc-windows-gnu with zig, a compile-and-link check.
#   macos-universal  on macOS: both Apple targets joined with lipo, install name @rpath/<file>.
#                    On Linux: zig's universal2-apple-darwin, a compile-and-link check.
#   android-*        cargo-ndk and an Android NDK (ANDROID_NDK_HOME), API level 21.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

usage() { echo "usage: scripts/build-target.sh PLATFORM debug|release (PLATFORM: linux-x86_64 linux-arm64 windows-x86_64 macos-universal android-arm64 android-x86_64)" >&2; exit 2; }
(( $# == 2 )) || usage
platform=$1 flavour=$2
case "$flavour" in
  debug) profile_args=(--profile release-checked) profile_dir=release-checked ;;
  release) profile_args=(--release) profile_dir=release ;;
  *) usage ;;
esac
case "$(uname -s)" in
  Linux) host=linux ;;
  Darwin) host=macos ;;
  MINGW* | MSYS* | CYGWIN*) host=windows ;;
  *) host=other ;;
esac
log() { echo "build-target: $*" >&2; }

# The .gdextension key and the path it names, relative to the addon folder.
os=${platform%%-*} arch=${platform#*-}
key="$os.$flavour.$arch"
[[ $os == macos ]] && key="macos.$flavour"
addon=addons/websocket_server
dest=$(sed -n "s|^${key//./\\.} *= *\"\(.*\)\"|\1|p" "$addon/websocket_server.gdextension")
[[ -n "$dest" ]] || { log "no entry '$key' in $addon/websocket_server.gdextension"; exit 1; }

target_dir=${CARGO_TARGET_DIR:-$repo/target}

need_rust_target() {
  local triple
  for triple in "$@"; do
    rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
  done
}

# zig and cargo-zigbuild as binary wheels from PyPI, in a venv of their own (nothing system-wide).
zigbuild() {
  local venv=$repo/.cache/zig
  if [[ ! -x "$venv/bin/cargo-zigbuild" ]]; then
    log "installing ziglang and cargo-zigbuild into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
      ziglang==0.17.1 cargo-zigbuild==0.24.1
  fi
  PATH="$venv/bin:$PATH" cargo zigbuild "$@"
}

build=(-p websocket-server-godot "${profile_args[@]}")
case "$platform" in
  linux-x86_64 | linux-arm64)
    triple=$([[ $arch == x86_64 ]] && echo x86_64-unknown-linux-gnu || echo aarch64-unknown-linux-gnu)
    need_rust_target "$triple"
    zigbuild "${build[@]}" --target "$triple.2.28"
    built=$target_dir/$triple/$profile_dir/libwebsocket_server.so
    ;;
  windows-x86_64)
    if [[ $host == windows ]]; then
      triple=x86_64-pc-windows-msvc
      need_rust_target "$triple"
      cargo build "${build[@]}" --target "$triple"
    else
      triple=x86_64-pc-windows-gnu
      need_rust_target "$triple"
      log "not on Windows: cross-building $triple with zig as a check (the release ships the MSVC build)"
      zigbuild "${build[@]}" --target "$triple"
    fi
    built=$target_dir/$triple/$profile_dir/websocket_server.dll
    ;;
  macos-universal)
    need_rust_target aarch64-apple-darwin x86_64-apple-darwin
    if [[ $host == macos ]]; then
      for triple in aarch64-apple-darwin x86_64-apple-darwin; do
        cargo build "${build[@]}" --target "$triple"
      done
      built=$target_dir/universal-apple-darwin/$profile_dir/libwebsocket_server.dylib
      mkdir -p "$(dirname "$built")"
      lipo -create -output "$built" \
        "$target_dir/aarch64-apple-darwin/$profile_dir/libwebsocket_server.dylib" \
        "$target_dir/x86_64-apple-darwin/$profile_dir/libwebsocket_server.dylib"
      # Godot loads the library by path; its own id should name the file it ships as.
      install_name_tool -id "@rpath/$(basename "$dest")" "$built"
      lipo -info "$built"
    else
      log "not on macOS: linking universal2-apple-darwin with zig as a check (the release builds on macOS)"
      zigbuild "${build[@]}" --target universal2-apple-darwin
      built=$target_dir/universal2-apple-darwin/$profile_dir/libwebsocket_server.dylib
    fi
    ;;
  android-arm64 | android-x86_64)
    abi=$([[ $arch == arm64 ]] && echo arm64-v8a || echo x86_64)
    triple=$([[ $arch == arm64 ]] && echo aarch64-linux-android || echo x86_64-linux-android)
    [[ -n "${ANDROID_NDK_HOME:-}" && -d "${ANDROID_NDK_HOME:-}" ]] ||
      { log "android needs an Android NDK: set ANDROID_NDK_HOME (none on this machine)"; exit 1; }
    need_rust_target "$triple"
    command -v cargo-ndk >/dev/null || cargo install --locked cargo-ndk
    cargo ndk --target "$abi" --platform 21 build "${build[@]}"
    built=$target_dir/$triple/$profile_dir/libwebsocket_server.so
    ;;
  *) usage ;;
esac

mkdir -p "$(dirname "$addon/$dest")"
# Copy under a temporary name and rename: a running Godot keeps its mapped copy intact.
cp "$built" "$addon/$dest.tmp"
mv -f "$addon/$dest.tmp" "$addon/$dest"
log "$platform $flavour -> $addon/$dest ($(wc -c <"$addon/$dest") bytes)"
echo "$repo/$addon/$dest"
