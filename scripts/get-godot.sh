#!/usr/bin/env bash
# Print the absolute path of a working, headless-capable Godot 4 binary (4.x),
# provisioning one into a private cache if needed.
#
# stdout: exactly one line, the absolute path of the binary. Progress goes to stderr.
#
# Order of precedence:
#   1. $GDRUST_GODOT_BIN, then $GODOT4_BIN (error if set but not executable / not Godot 4).
#   2. `godot` on PATH, if `godot --headless --version` prints 4.x.
#   3. A private copy of Debian's `godot` package (sid, falling back to testing),
#      provisioned into ${WSS_GODOT_CACHE:-<repo>/.cache/godot}.
#
# Provisioning never touches the system: it uses a private apt configuration (own
# sources.list, lists, cache and an EMPTY dpkg status file; all other host apt settings
# are kept), downloads the closure of `godot patchelf` with `apt-get -d`, unpacks the
# .debs with `dpkg -x` into CACHE/root and patches the binary (with the root's own
# patchelf, run through the root's own loader) to use the root's loader and libraries.
# No LD_LIBRARY_PATH, no explicit ld.so launcher: the result is an ordinary executable,
# so OS.get_executable_path()/OS.create_process work and child processes see the host libc.
#
# The downloaded .debs are kept in the cache: a re-run (even with CACHE/root deleted)
# does not touch the network. A re-run with a working CACHE/root only runs
# `godot --headless --version` (~0.1 s).
#
# Environment:
#   GDRUST_GODOT_BIN, GODOT4_BIN  use this binary (path or command name)
#   WSS_GODOT_CACHE               cache folder (default <repo>/.cache/godot)
#   WSS_GODOT_SUITES              Debian suites to try, in order (default "sid testing")
#   WSS_GODOT_MIRROR              Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

log() { printf 'get-godot: %s\n' "$*" >&2; }
die() { printf 'get-godot: error: %s\n' "$*" >&2; exit 1; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

# Oldest Godot accepted from the package archive (any 4.x is accepted from the user).
MIN_MINOR=6
VERSION_TIMEOUT=${WSS_GODOT_VERSION_TIMEOUT:-60}

# godot_version BIN: print the version reported by `BIN --headless --version`
# (first line that looks like a version), or nothing.
godot_version() {
    local out
    out=$(timeout "$VERSION_TIMEOUT" "$1" --headless --version 2>/dev/null </dev/null) || true
    printf '%s\n' "$out" | grep -E '^[0-9]+\.[0-9]+' | head -n1 || true
}

# abs_path P: absolute path of P without resolving symlinks.
abs_path() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")" ;;
    esac
}

# use_env_bin VAR: honour a user-provided binary; exits (success or error) if VAR is set.
use_env_bin() {
    local var=$1 val bin ver
    val=${!var-}
    [ -n "$val" ] || return 0
    if [[ "$val" == */* ]]; then
        bin=$(abs_path "$val")
    else
        bin=$(command -v -- "$val" 2>/dev/null || true)
        [ -n "$bin" ] || die "$var=$val: command not found"
        bin=$(abs_path "$bin")
    fi
    [ -f "$bin" ] && [ -x "$bin" ] || die "$var=$val: not an executable file"
    ver=$(godot_version "$bin")
    [[ "$ver" == 4.* ]] ||
        die "$var=$val: \`--headless --version\` printed '${ver:-nothing}', expected a Godot 4.x version"
    log "using \$$var: $bin (Godot $ver)"
    printf '%s\n' "$bin"
    exit 0
}

# ---------------------------------------------------------------- 1. environment
use_env_bin GDRUST_GODOT_BIN
use_env_bin GODOT4_BIN

# ---------------------------------------------------------------- 2. PATH
if path_godot=$(command -v godot 2>/dev/null) && [ -n "$path_godot" ]; then
    ver=$(godot_version "$path_godot")
    if [[ "$ver" == 4.* ]]; then
        path_godot=$(abs_path "$path_godot")
        log "using godot on PATH: $path_godot (Godot $ver)"
        printf '%s\n' "$path_godot"
        exit 0
    fi
    log "ignoring godot on PATH ($path_godot): version '${ver:-unknown}' is not 4.x"
fi

# ---------------------------------------------------------------- 3. private provisioned copy
CACHE=${WSS_GODOT_CACHE:-$REPO_DIR/.cache/godot}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
ROOT=$CACHE/root
BIN=$ROOT/usr/bin/godot
LINK=$CACHE/bin/godot
STAMP=$ROOT/.provisioned          # written last, after a successful check
MANIFEST=$CACHE/manifest          # "SUITE <deb path relative to CACHE>" lines of the closure

# Fast path: already provisioned and working.
cached_ok() {
    [ -f "$STAMP" ] && [ -x "$BIN" ] || return 1
    local ver
    ver=$(godot_version "$BIN")
    [[ "$ver" == 4.* ]] || return 1
    FOUND_VERSION=$ver
}
if cached_ok; then
    log "using provisioned Godot $FOUND_VERSION"
    printf '%s\n' "$BIN"
    exit 0
fi

# One provisioner at a time; re-check after getting the lock.
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
    log "waiting for another get-godot.sh to finish provisioning ..."
    flock 9
fi
if cached_ok; then
    log "using provisioned Godot $FOUND_VERSION"
    printf '%s\n' "$BIN"
    exit 0
fi

for tool in apt-get dpkg dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "no Godot 4 found (set GDRUST_GODOT_BIN or put godot 4.x on PATH), and '$tool' is missing for provisioning"
done
[ "$(dpkg --print-architecture)" = amd64 ] ||
    die "provisioning only supports amd64 (set GDRUST_GODOT_BIN to a Godot 4 binary)"

MIRROR=${WSS_GODOT_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# apt_run SUITE ARGS...: apt-get with a private configuration for SUITE. Only the
# sources, lists, state/status and cache dirs are overridden; the rest of the host's
# apt configuration (proxies, Check-Valid-Until, ...) stays in effect.
apt_run() {
    local suite=$1; shift
    local d=$CACHE/apt-$suite
    apt-get \
        -o Dir::Etc::SourceList="$d/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State="$d/state" \
        -o Dir::State::Lists="$d/lists" \
        -o Dir::State::status="$d/status" \
        -o Dir::Cache="$d/cache" \
        -o Dir::Cache::archives="$d/cache/archives" \
        -o APT::Sandbox::User=root \
        -o Debug::NoLocking=1 \
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
        -o APT::Install-Recommends=false \
        -o APT::Install-Suggests=false \
        "$@"
}

# version_ok VER: Debian version of godot is 4.x with x >= MIN_MINOR.
version_ok() {
    local v=${1#*:} major minor
    major=${v%%.*}; v=${v#*.}; minor=${v%%[!0-9]*}
    [ "$major" = 4 ] && [ -n "$minor" ] && [ "$minor" -ge "$MIN_MINOR" ]
}

# fetch SUITE: resolve and download the closure of `godot patchelf` from SUITE and
# write $MANIFEST. Returns non-zero on any failure.
fetch() {
    local suite=$1 d=$CACHE/apt-$suite sim gver
    mkdir -p "$d/lists/partial" "$d/state" "$d/cache/archives/partial"
    : >"$d/status"        # empty dpkg status: resolve the full closure
    local signed=""
    [ -r "$KEYRING" ] && signed="[signed-by=$KEYRING] "
    printf 'deb %s%s %s main\n' "$signed" "$MIRROR" "$suite" >"$d/sources.list"

    log "[$suite] apt-get update (private configuration in $d)"
    apt_run "$suite" update -q >&2 || { log "[$suite] apt-get update failed"; return 1; }

    sim=$(apt_run "$suite" -s install godot patchelf 2>&1) ||
        { printf '%s\n' "$sim" >&2; log "[$suite] cannot resolve godot + patchelf"; return 1; }
    gver=$(printf '%s\n' "$sim" | sed -n 's/^Inst godot (\([^ ]*\) .*/\1/p')
    [ -n "$gver" ] || { log "[$suite] no godot package"; return 1; }
    version_ok "$gver" || { log "[$suite] godot $gver is older than 4.$MIN_MINOR"; return 1; }
    log "[$suite] godot $gver: $(printf '%s\n' "$sim" | grep -c '^Inst ') packages"

    log "[$suite] downloading (kept in $d/cache/archives)"
    apt_run "$suite" -y -q -d install godot patchelf >&2 ||
        { log "[$suite] download failed"; return 1; }

    # Map "Inst NAME (VERSION SUITE [ARCH])" to the downloaded file names.
    local name ver arch f tmp=$MANIFEST.tmp
    : >"$tmp"
    while read -r name ver arch; do
        f="apt-$suite/cache/archives/${name}_${ver//:/%3a}_${arch}.deb"
        [ -f "$CACHE/$f" ] || { log "[$suite] missing download $CACHE/$f"; rm -f "$tmp"; return 1; }
        printf '%s %s\n' "$suite" "$f" >>"$tmp"
    done < <(printf '%s\n' "$sim" | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) [^[]*\[\([^]]*\)]).*/\1 \2 \3/p')
    mv "$tmp" "$MANIFEST"
}

manifest_complete() {
    [ -s "$MANIFEST" ] || return 1
    local suite f
    while read -r suite f; do [ -f "$CACHE/$f" ] || return 1; done <"$MANIFEST"
}

# Packages headless Godot never loads (not in the NEEDED closure of the binary; only
# dlopen()ed by GPU drivers or pure data). Skipped to save ~250 MB; if the checks
# below fail they are unpacked after all.
SKIP_RE='^(libllvm[0-9]+|libz3-[0-9]+|mesa-libgallium|libgl1-mesa-dri|mesa-vulkan-drivers|libgallium.*|fonts-.*|xkb-data|pci\.ids|libc-gconv-modules-extra|sysvinit-utils|debconf)$'

unpack() {  # unpack MODE: MODE=skip unpacks all but SKIP_RE, MODE=skipped only those
    local mode=$1 suite f pkg n=0
    while read -r suite f; do
        f=$CACHE/$f
        pkg=$(dpkg-deb -f "$f" Package)
        if [[ "$pkg" =~ $SKIP_RE ]]; then
            [ "$mode" = skipped ] || continue
        else
            [ "$mode" = skip ] || continue
        fi
        dpkg -x "$f" "$ROOT" || { log "dpkg -x $f failed"; return 1; }
        n=$((n + 1))
    done <"$MANIFEST"
    log "unpacked $n packages ($mode)"
}

LOADER=$ROOT/usr/lib64/ld-linux-x86-64.so.2
LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu

patch_root() {
    [ -e "$LOADER" ] || { log "no loader at $LOADER"; return 1; }
    [ -f "$BIN" ] || { log "no godot binary at $BIN"; return 1; }
    local pe=("$LOADER" --library-path "$LIBDIR" "$ROOT/usr/bin/patchelf") f
    "${pe[@]}" --set-interpreter "$LOADER" \
        --force-rpath --set-rpath "$LIBDIR:$LIBDIR/pulseaudio" "$BIN" || return 1
    for f in "$LIBDIR"/libpulse*.so.*; do
        [ -f "$f" ] && [ ! -L "$f" ] || continue
        "${pe[@]}" --remove-rpath "$f" || return 1
    done
}

# check_root: every library resolves inside ROOT and the binary runs as Godot 4.
check_root() {
    local list bad ver
    list=$("$LOADER" --list "$BIN" 2>&1) || { printf '%s\n' "$list" >&2; log "ld.so --list failed"; return 1; }
    bad=$(printf '%s\n' "$list" | grep -v -e 'linux-vdso\.so' -e "=> $ROOT/" -e "^[[:space:]]*$ROOT/" || true)
    if [ -n "$bad" ]; then
        printf '%s\n' "$bad" >&2
        log "libraries above do not resolve inside $ROOT"
        return 1
    fi
    ver=$(godot_version "$BIN")
    [[ "$ver" == 4.* ]] || { log "'$BIN --headless --version' printed '${ver:-nothing}'"; return 1; }
    FOUND_VERSION=$ver
}

if manifest_complete; then
    log "using cached packages from $MANIFEST (offline)"
else
    rm -f "$MANIFEST"
    fetched=""
    for suite in ${WSS_GODOT_SUITES:-sid testing}; do
        if fetch "$suite"; then fetched=$suite; break; fi
        log "[$suite] failed; trying the next suite"
    done
    [ -n "$fetched" ] || die "could not provision Godot 4 from Debian (${WSS_GODOT_SUITES:-sid testing}); set GDRUST_GODOT_BIN to a Godot 4 binary"
fi

start=$SECONDS
rm -rf "$ROOT" "$CACHE/bin"
mkdir -p "$ROOT"
unpack skip || die "unpacking failed"
patch_root || die "patching $BIN failed"
if ! check_root; then
    log "retrying with all packages unpacked"
    unpack skipped || die "unpacking failed"
    patch_root || die "patching $BIN failed"
    check_root || die "provisioned Godot at $BIN does not work (see messages above)"
fi
rm -rf "$ROOT/usr/share/doc" "$ROOT/usr/share/man" "$ROOT/usr/share/locale" "$ROOT/usr/share/lintian"
mkdir -p "$CACHE/bin"
ln -sfn "$BIN" "$LINK"
{
    printf 'version=%s\n' "$FOUND_VERSION"
    printf 'suite=%s\n' "$(head -n1 "$MANIFEST" | cut -d' ' -f1)"
    printf 'binary=%s\n' "$BIN"
} >"$STAMP"
log "provisioned Godot $FOUND_VERSION in $ROOT ($((SECONDS - start)) s to unpack and patch; $(du -sh "$ROOT" | cut -f1))"
printf '%s\n' "$BIN"
