#!/usr/bin/env bash
# Downloads an official Godot build for this OS (a GitHub release asset of godotengine/godot) and
# prints the path of its executable. Used by CI (.github/workflows/ci.yml) on Linux, Windows (Git
# Bash) and macOS; on a developer's Linux machine scripts/get-godot.sh is the usual way.
#   scripts/get-official-godot.sh VERSION [DIR]
# VERSION is a release tag such as 4.7.2-stable or 4.3-stable; DIR defaults to
# .cache/official-godot/VERSION. An executable already in DIR is reused (CI caches DIR), otherwise
# the zip is downloaded, checked against the release's SHA512-SUMS.txt and unpacked.
# stdout: the executable (Windows: the *_console.exe, whose output reaches the log; macOS:
# Godot.app/Contents/MacOS/Godot). Progress goes to stderr.
set -euo pipefail
log() { printf 'get-official-godot: %s\n' "$*" >&2; }
die() { printf 'get-official-godot: error: %s\n' "$*" >&2; exit 1; }

(( $# >= 1 && $# <= 2 )) || die "usage: get-official-godot.sh VERSION [DIR]"
version=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$repo/.cache/official-godot/$version}
base_url=${WSS_GODOT_RELEASES_URL:-https://github.com/godotengine/godot/releases/download}

case "$(uname -s)" in
  Linux)
    case "$(uname -m)" in
      x86_64) arch=x86_64 ;;
      aarch64 | arm64) arch=arm64 ;;
      *) die "no official Godot build for Linux $(uname -m)" ;;
    esac
    asset=Godot_v${version}_linux.$arch.zip
    exe=Godot_v${version}_linux.$arch
    ;;
  Darwin)
    asset=Godot_v${version}_macos.universal.zip
    exe=Godot.app/Contents/MacOS/Godot
    ;;
  MINGW* | MSYS* | CYGWIN*)
    asset=Godot_v${version}_win64.exe.zip
    exe=Godot_v${version}_win64_console.exe
    ;;
  *) die "unsupported OS $(uname -s)" ;;
esac

print_exe() {
  if command -v cygpath >/dev/null 2>&1; then
    cygpath -m "$dir/$exe"  # C:/... : usable from bash and from native programs
  else
    printf '%s\n' "$dir/$exe"
  fi
}

if [[ -f "$dir/$exe" ]]; then
  log "using $dir/$exe"
  print_exe
  exit 0
fi

sha512() {
  if command -v sha512sum >/dev/null 2>&1; then sha512sum "$1"; else shasum -a 512 "$1"; fi | cut -d' ' -f1
}

rm -rf "$dir"
mkdir -p "$dir"
start=$SECONDS
log "downloading $base_url/$version/$asset"
curl -fsSL --retry 3 --retry-delay 5 -o "$dir/$asset" "$base_url/$version/$asset" ||
  die "download of $asset failed"
if curl -fsSL --retry 3 -o "$dir/SHA512-SUMS.txt" "$base_url/$version/SHA512-SUMS.txt"; then
  want=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$dir/SHA512-SUMS.txt")
  [[ -n "$want" ]] || die "$asset is not listed in the release's SHA512-SUMS.txt"
  [[ "$(sha512 "$dir/$asset")" == "$want" ]] || die "$asset does not match its SHA-512 in SHA512-SUMS.txt"
  log "SHA-512 checked"
else
  log "warning: the release has no SHA512-SUMS.txt; $asset is not checked"
fi
if command -v unzip >/dev/null 2>&1; then
  unzip -q "$dir/$asset" -d "$dir"
else
  7z x -y -bd -o"$dir" "$dir/$asset" >/dev/null
fi
rm -f "$dir/$asset"
[[ -f "$dir/$exe" ]] || die "$asset has no $exe"
chmod +x "$dir/$exe"
log "$version unpacked in $dir ($((SECONDS - start)) s)"
print_exe
