#!/usr/bin/env bash
# Builds one library of the release zip, the way the release workflow does, and copies it to the
# path that addons/websocket_server/websocket_server.gdextension names for it (read from that file,
# so names can never drift between the two).
#   scripts/build-target.sh PLATFORM FLAVOUR
#   PLATFORM: linux-x86_64 linux-arm64 windows-x86_64 macos-universal android-arm64 android-x86_64
#   FLAVOUR:  debug   -> the .gdextension's "debug" entry (editor, debug exports): cargo profile
#                        release-checked (optimised, with debug assertions: gdext's strict safeguards)
#             release -> the "release" entry (release exports): cargo --release
# Honours CARGO_TARGET_DIR (cargo metadata says where the outputs are).
#
# What each platform needs:
#   linux-*          cargo-zigbuild and zig (from PyPI, into .cache/zig by scripts/get-zig.sh), linking
#                    against glibc 2.28 so the library loads on Debian 10, Ubuntu 18.10, RHEL 8 and
#                    newer (scripts/check-glibc.sh verifies it).
#   windows-x86_64   on Windows: MSVC (x86_64-pc-windows-msvc), what the release ships. Elsewhere:
#                    x86_64-pc-windows-gnu cross-linked with zig, a compile-and-link check.
#   macos-universal  on macOS: both Apple targets joined with lipo, install name @rpath/<file>,
#                    ad-hoc signed. Elsewhere: zig's universal2-apple-darwin, a compile-and-link check.
#   android-*        cargo-ndk (installed with cargo if missing) and an Android NDK (ANDROID_NDK_HOME
#                    or ANDROID_NDK_ROOT), API level 21 (Godot 4.3's minSdk, cargo-ndk's default).
#                    Without an NDK this fails; scripts/check-cross-builds.sh type-checks Android.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
start=$SECONDS

usage() {
  echo "usage: scripts/build-target.sh PLATFORM debug|release" >&2
  echo "  PLATFORM: linux-x86_64 linux-arm64 windows-x86_64 macos-universal android-arm64 android-x86_64" >&2
  exit 2
}
log() { echo "build-target: $*" >&2; }
(( $# == 2 )) || usage
platform=$1 flavour=$2
case "$flavour" in
  debug) profile_args=(--profile release-checked) profile_dir=release-checked ;;
  release) profile_args=(--release) profile_dir=release ;;
  *) usage ;;
esac
# Git Bash on Windows says MINGW64_NT-...; $OS is set by Windows itself.
if [[ "${OS:-}" == Windows_NT ]]; then
  host=windows
else
  case "$(uname -s)" in
    Linux) host=linux ;;
    Darwin) host=macos ;;
    MINGW* | MSYS* | CYGWIN*) host=windows ;;
    *) host=other ;;
  esac
fi

# The .gdextension key (linux.release.x86_64, macos.debug, ...) and the path it names.
os=${platform%%-*} arch=${platform#*-}
key="$os.$flavour.$arch"
[[ $os == macos ]] && key="macos.$flavour"
addon=addons/websocket_server
gdextension=$addon/websocket_server.gdextension
dest=$(tr -d '\r' <"$gdextension" | sed -n "/^\[libraries\]/,/^\[/s|^${key//./\\.} *= *\"\(.*\)\" *$|\1|p")
[[ -n "$dest" ]] || { log "no entry '$key' in $gdextension"; usage; }

# Where cargo puts outputs: CARGO_TARGET_DIR, .cargo/config's target-dir or the workspace's target/.
# The JSON is one line; on Windows its backslashes are escaped, and bash takes forward slashes.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir//\\\\//}
[[ -n "$target_dir" ]] || { log "cargo metadata named no target_directory"; exit 1; }

need_rust_target() {
  local triple installed
  installed=$(rustup target list --installed)
  for triple in "$@"; do
    grep -qx "$triple" <<<"$installed" || rustup target add "$triple"
  done
}

# cargo-zigbuild with zig, both from PyPI (scripts/get-zig.sh).
zigbuild() {
  local venv
  venv=$(scripts/get-zig.sh)
  PATH="$venv/bin:$PATH" cargo zigbuild "$@"
}

build=(-p websocket-server-godot "${profile_args[@]}")
case "$platform" in
  linux-x86_64 | linux-arm64)
    triple=$([[ $arch == x86_64 ]] && echo x86_64-unknown-linux-gnu || echo aarch64-unknown-linux-gnu)
    need_rust_target "$triple"
    # The .2.28 suffix is cargo-zigbuild's: link against glibc 2.28's symbol versions.
    zigbuild "${build[@]}" --target "$triple.2.28"
    built=$target_dir/$triple/$profile_dir/libwebsocket_server.so
    ;;
  windows-x86_64)
    if [[ $host == windows ]]; then
      triple=x86_64-pc-windows-msvc
      need_rust_target "$triple"
      cargo build "${build[@]}" --target "$triple"
    else
      # The release workflow builds the MSVC library on a Windows runner; here, the GNU ABI
      # cross-linked with zig shows that everything compiles and links for Windows.
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
      # The library's own id should name the file it ships as, not cargo's output name.
      install_name_tool -id "@rpath/$(basename "$dest")" "$built"
      # install_name_tool invalidates the linker's ad-hoc signature, and Apple Silicon refuses to
      # load an arm64 library without a valid one: sign again (ad hoc, both slices).
      codesign --force --sign - "$built"
      codesign --verify "$built"
      lipo -info "$built"
    else
      # Not the shipped library: zig links against its own macOS stubs, as a compile-and-link check.
      log "not on macOS: linking universal2-apple-darwin with zig as a check (the release builds on macOS)"
      zigbuild "${build[@]}" --target universal2-apple-darwin
      built=$target_dir/universal2-apple-darwin/$profile_dir/libwebsocket_server.dylib
    fi
    ;;
  android-arm64 | android-x86_64)
    abi=$([[ $arch == arm64 ]] && echo arm64-v8a || echo x86_64)
    triple=$([[ $arch == arm64 ]] && echo aarch64-linux-android || echo x86_64-linux-android)
    ndk=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
    if [[ -z "$ndk" || ! -d "$ndk" ]]; then
      log "$platform needs an Android NDK: set ANDROID_NDK_HOME to one (none here)."
      log "Without one, scripts/check-cross-builds.sh $platform type-checks the code for $triple."
      exit 1
    fi
    need_rust_target "$triple"
    export ANDROID_NDK_HOME=$ndk
    command -v cargo-ndk >/dev/null || cargo install --locked cargo-ndk
    cargo ndk --target "$abi" --platform 21 build "${build[@]}"
    built=$target_dir/$triple/$profile_dir/libwebsocket_server.so
    ;;
  *) usage ;;
esac >&2  # build output to stderr: stdout is only the path of the library

mkdir -p "$(dirname "$addon/$dest")"
# Copy under a temporary name and rename: a running Godot keeps its mapped copy intact.
cp "$built" "$addon/$dest.tmp"
mv -f "$addon/$dest.tmp" "$addon/$dest"
log "$platform $flavour -> $addon/$dest ($(wc -c <"$addon/$dest") bytes, $((SECONDS - start)) s)"
echo "$repo/$addon/$dest"
