#!/usr/bin/env bash
# Fails when a Linux library needs a newer glibc than the floor the release promises.
#   scripts/check-glibc.sh LIBRARY [FLOOR]      (FLOOR defaults to 2.28)
# The dynamic loader refuses a library that needs a GLIBC_x.y symbol version the system's glibc
# lacks; the highest version the library references is therefore the oldest glibc it loads on.
# readelf reads every architecture's ELF, so the arm64 library is checked on an x86_64 machine.
set -euo pipefail
(( $# >= 1 && $# <= 2 )) || { echo "usage: scripts/check-glibc.sh LIBRARY [FLOOR]" >&2; exit 2; }
library=$1 floor=${2:-2.28}
needed=$(readelf --version-info --wide "$library" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
[[ -n "$needed" ]] || { echo "check-glibc: $library references no GLIBC symbol version" >&2; exit 1; }
highest=$(printf '%s\n%s\n' "$needed" "$floor" | sort -V | tail -n1)
if [[ "$highest" != "$floor" && "$needed" != "$floor" ]]; then
  echo "check-glibc: FAIL $library needs glibc $needed, above the floor $floor" >&2
  exit 1
fi
echo "check-glibc: $library needs glibc $needed (floor $floor)"
