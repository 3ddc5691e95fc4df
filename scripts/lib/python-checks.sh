# shellcheck shell=bash disable=SC2154 # $py, $logs, $passed, $failed are the caller's
# Sourced by the test scripts that run the Python clients of godot-project/tests (their checks
# print "ok NAME" / "FAIL NAME: why", see godot-project/tests/clients/checks.py). Uses the
# caller's $py, $logs, the counters $passed / $failed and its fail() function.

# run_python_checks LOGNAME TIMEOUT SCRIPT ARGS...: runs SCRIPT with ARGS under TIMEOUT seconds,
# shows its lines, adds its ok/FAIL lines to the counters; a client that dies without a FAIL line,
# or passes without running a check, is a failure too.
run_python_checks() {
  local name=$1 seconds=$2 script=$3
  shift 3
  local log="$logs/$name.log" rc ok_lines fail_lines
  set +e
  timeout --kill-after=5 "$seconds" "$py" "$script" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  ok_lines=$(grep -c '^ok ' "$log" || true)
  fail_lines=$(grep -c '^FAIL ' "$log" || true)
  passed=$((passed + ok_lines))
  failed=$((failed + fail_lines))
  if (( rc != 0 && fail_lines == 0 )); then
    fail "python client ($name) exited with code $rc without a FAIL line (log: $log)"
  elif (( rc == 0 && ok_lines == 0 )); then
    fail "python client ($name) ran no check (log: $log)"
  fi
}
