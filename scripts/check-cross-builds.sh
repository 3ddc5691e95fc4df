#!/usr/bin/env bash
# The release's platforms other than this machine's, checked from Linux x86_64 as far as it can be
# done without their SDKs. The release workflow builds each on its own OS; this catches code that
# does not compile or link for one of them before a tag does.
#   linux-arm64      built exactly as released (zig, glibc 2.28): an aarch64 ELF within the floor
#   windows-x86_64   linked for x86_64-pc-windows-gnu by zig (the release links MSVC): a PE32+ DLL
#   macos-universal  linked for universal2-apple-darwin by zig (the release uses Apple's lipo):
#                    a Mach-O universal library with x86_64 and arm64
#   android-*        no NDK here: `cargo check` (the Rust code type-checked for Android, build
#                    scripts run, nothing linked); ring's C code, the same on every Linux, is
#                    compiled by zig against musl's headers, since zig ships no Android (bionic) ones
# Each library must export gdext_rust_init, the .gdextension's entry_symbol. The Windows and macOS
# libraries are deleted afterwards: they are checks, not what the release ships.
#   scripts/check-cross-builds.sh [PLATFORM...]   (default: all of the above)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
(( $# > 0 )) || set -- linux-arm64 windows-x86_64 macos-universal android-arm64 android-x86_64
failed=()

# The library holds the entry point's name (ELF, PE and Mach-O export tables keep it as text).
entry_symbol() {
  grep -q "gdext_rust_init" "$1"
}

# A C compiler for ring's build script on Android: zig with musl's headers. cc-rs passes its own
# --target=<android triple>, which is dropped so that zig's -target holds.
android_cc() {
  local zig=$1 triple=$2 cc=$1/cc-$2
  {
    echo '#!/bin/sh'
    echo 'for arg; do shift; case $arg in --target=*) ;; *) set -- "$@" "$arg" ;; esac; done'
    echo "exec \"$zig/bin/python\" -m ziglang cc -target ${triple%%-*}-linux-musl \"\$@\""
  } >"$cc"
  chmod +x "$cc"
  echo "$cc"
}

# Errors are checked one by one: errexit does not apply inside a function called from `||`.
check() {
  local platform=$1 start=$SECONDS library kind
  echo "== $platform"
  case "$platform" in
    linux-arm64)
      library=$(scripts/build-target.sh linux-arm64 release) || return 1
      kind=$(file -b "$library")
      entry_symbol "$library" || { echo "no gdext_rust_init in $library"; return 1; }
      [[ $kind == *"ARM aarch64"* ]] || { echo "not an aarch64 ELF: $kind"; return 1; }
      scripts/check-glibc.sh "$library" 2.28 || return 1
      ;;
    windows-x86_64 | macos-universal)
      library=$(scripts/build-target.sh "$platform" release) || return 1
      kind=$(file -b "$library")
      local exports=yes
      entry_symbol "$library" || exports=no
      rm -f "$library"
      [[ $exports == yes ]] || { echo "no gdext_rust_init in $library"; return 1; }
      if [[ $platform == windows-x86_64 ]]; then
        [[ $kind == *"PE32+"*"DLL"*"x86-64"* ]] || { echo "not an x86-64 Windows DLL: $kind"; return 1; }
      else
        [[ $kind == *"Mach-O universal"*"x86_64"*"arm64"* ]] || { echo "not a universal Mach-O: $kind"; return 1; }
      fi
      ;;
    android-arm64 | android-x86_64)
      local triple zig cc ar
      triple=$([[ $platform == android-arm64 ]] && echo aarch64-linux-android || echo x86_64-linux-android)
      rustup target list --installed | grep -qx "$triple" || rustup target add "$triple" || return 1
      zig=$(scripts/get-zig.sh) || return 1
      cc=$(android_cc "$zig" "$triple") || return 1
      ar=$zig/ar
      printf '#!/bin/sh\nexec "%s" -m ziglang ar "$@"\n' "$zig/bin/python" >"$ar"
      chmod +x "$ar"
      env "CC_${triple//-/_}=$cc" "AR_${triple//-/_}=$ar" \
        cargo check -p websocket-server-godot --release --target "$triple" || return 1
      kind="type-checked for $triple"
      ;;
    *) echo "unknown platform $platform"; return 1 ;;
  esac
  echo "$platform: $kind ($((SECONDS - start)) s)"
}

for platform in "$@"; do
  check "$platform" || failed+=("$platform")
done
if (( ${#failed[@]} > 0 )); then
  echo "cross builds: failed: ${failed[*]}"
  exit 1
fi
echo "cross builds: $# passed, 0 failed"
