#!/usr/bin/env bash
# Runs the GDScript integration tests in a headless Godot 4, one process per test file.
#   scripts/run-godot-tests.sh [name-filter]
# A test passes only with exit code 0, a "PASS" line, no "SCRIPT ERROR", no gdext panic (but the
# ones a test marked "## allows-injected-panics" injects itself), no gdext
# "shadows a method of a base class" warning, and within its time limit (TEST_TIMEOUT seconds,
# default 120). GODOT_TESTS_SKIP="test_a test_b" skips those tests (CI uses it for tests that need
# a newer Godot than the oldest one it runs).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
filter=${1:-}
godot=$("$repo/scripts/get-godot.sh") || exit 1
project="$repo/godot-project"
logs="$repo/target/godot-test-logs"
mkdir -p "$logs"
timeout_s=${TEST_TIMEOUT:-120}

passed=0; failed=0; skipped=0; failed_names=()
for test in "$project"/tests/test_*.gd; do
  name=$(basename "$test" .gd)
  [[ -n "$filter" && "$name" != *"$filter"* ]] && continue
  if [[ " ${GODOT_TESTS_SKIP:-} " == *" $name "* ]]; then
    skipped=$((skipped + 1))
    echo "skip  $name (GODOT_TESTS_SKIP)"
    continue
  fi
  log="$logs/$name.log"
  start=$(date +%s%N)
  timeout --kill-after=5 "$timeout_s" "$godot" --headless --path "$project" --script "res://tests/$name.gd" >"$log" 2>&1 </dev/null
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  secs="$((ms / 1000)).$(( (ms % 1000) / 100 ))"
  why=""
  if (( rc == 124 || rc == 137 )); then why="timed out after ${timeout_s}s"
  elif (( rc != 0 )); then why="exit code $rc"
  elif ! grep -q '^PASS' "$log"; then why="no PASS line"
  fi
  grep -q 'SCRIPT ERROR' "$log" && why="${why:+$why; }SCRIPT ERROR in output"
  if grep -q '^## allows-injected-panics' "$test"; then
    # Panics the test injects on purpose (the test-only _inject_fault hook) are allowed; any
    # other is not. gdext prints a panic's message on its line or the next.
    awk '/ERROR: \[panic/ { if ($0 ~ /injected fault/) next; if ((getline after) <= 0 || after !~ /injected fault/) bad = 1 }
         END { exit bad }' "$log" || why="${why:+$why; }Rust panic in output (not an injected one)"
  else
    grep -q 'ERROR: \[panic' "$log" && why="${why:+$why; }Rust panic in output"
  fi
  grep -q 'ObjectDB instances leaked at exit' "$log" && why="${why:+$why; }objects leaked at exit"
  # Engine text-conversion errors come from our calls (e.g. the certificate PEM text): users would see them.
  grep -q 'Unicode parsing error' "$log" && why="${why:+$why; }Unicode parsing error in output"
  # gdext's registration check (builds for Godot API >= 4.5): a #[func] or #[var] with the name of
  # a base class's method or property. A warning in gdext 0.5, an error from 0.6 on.
  grep -q 'shadows a \(method\|property\|constant\) of a base class' "$log" && why="${why:+$why; }gdext: a class member shadows a base class's"
  if [[ -z "$why" ]]; then
    passed=$((passed + 1))
    echo "ok    $name (${secs}s) $(grep -m1 '^PASS' "$log")"
  else
    failed=$((failed + 1)); failed_names+=("$name")
    echo "FAIL  $name (${secs}s): $why -- log: $log"
    grep -E 'FAIL|ERROR|SCRIPT ERROR|panic|shadows a' "$log" | head -20 | sed 's/^/      /'
  fi
done
echo "godot: $passed passed, $failed failed${GODOT_TESTS_SKIP:+, $skipped skipped}"
(( failed == 0 && passed > 0 ))
