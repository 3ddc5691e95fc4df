#!/usr/bin/env bash
# Fails when a Linux library needs a newer glibc than the floor the release promises.
#   scripts/check-glibc.sh LIBRARY [FLOOR]      (FLOOR defaults to 2.28)
# The dynamic loader refuses a library that references a GLIBC_x.y symbol version the system's
# glibc lacks, so the highest version referenced is the oldest glibc the library loads on.
# readelf reads the ELF of every architecture, so the arm64 library is checked on an x86_64 machine
# (objdump -T would need binutils-aarch64-linux-gnu).
set -euo pipefail
(( $# >= 1 && $# <= 2 )) || { echo "usage: scripts/check-glibc.sh LIBRARY [FLOOR]" >&2; exit 2; }
library=$1 floor=${2:-2.28}
[[ -f "$library" ]] || { echo "check-glibc: no such file: $library" >&2; exit 2; }
info=$(readelf --version-info --wide "$library") || { echo "check-glibc: $library: not an ELF file readelf can read" >&2; exit 2; }
needed=$(grep -o 'GLIBC_[0-9][0-9.]*[0-9]' <<<"$info" | sed 's/^GLIBC_//' | sort -uV | tail -n1 || true)
[[ -n "$needed" ]] || { echo "check-glibc: FAIL $library references no GLIBC_x.y symbol version (not a glibc library?)" >&2; exit 1; }
if [[ "$(printf '%s\n%s\n' "$needed" "$floor" | sort -V | tail -n1)" != "$floor" ]]; then
  echo "check-glibc: FAIL $library needs glibc $needed, above the floor $floor; symbols of GLIBC_$needed:" >&2
  readelf --dyn-syms --wide "$library" | grep -oE "[^ ]*@GLIBC_${needed//./\\.}( |$)" | sed 's/ *$//' | sort -u | sed 's/^/  /' >&2 || true
  exit 1
fi
echo "check-glibc: $library needs glibc $needed (floor $floor)"
