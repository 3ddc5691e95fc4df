#!/usr/bin/env bash
# Fuzzes the core for a bounded time: scripts/run-fuzz.sh [SECONDS_PER_TARGET] (default 60).
#
# With a nightly toolchain: installs cargo-fuzz (pinned) into .cache/cargo-fuzz when missing,
# builds the targets of rust/fuzz, and runs each for SECONDS_PER_TARGET on a working corpus in
# target/fuzz-corpus/<target> (seeded from rust/fuzz/seeds and rust/fuzz/regressions; kept
# between runs, never committed). Any crash, leak or timeout fails the script; the input that
# caused it is in rust/fuzz/artifacts/<target>/.
# Without nightly: says so and replays the seeds and regressions on stable instead.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
CARGO_FUZZ_VERSION="0.13.1"
TARGETS=(handshake connection tls_connection multiplayer)
ROOT="$PWD"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "No nightly toolchain: libFuzzer needs one. Replaying the fuzz corpus on stable instead."
    cargo test -p websocket-server-core --lib fuzzing
    exit 0
fi

export PATH="$ROOT/.cache/cargo-fuzz/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "== Installing cargo-fuzz $CARGO_FUZZ_VERSION into .cache/cargo-fuzz (about a minute)"
    cargo install --locked --root "$ROOT/.cache/cargo-fuzz" "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

cd rust/fuzz
echo "== Building the fuzz targets (nightly, release, AddressSanitizer)"
cargo +nightly fuzz build -O --fuzz-dir .

failed=()
for target in "${TARGETS[@]}"; do
    corpus="$ROOT/target/fuzz-corpus/$target"
    mkdir -p "$corpus"
    # Seeds and regressions join the corpus (what the corpus already holds is kept).
    for input in seeds/"$target"/* regressions/"$target"/*; do
        if [ -f "$input" ] && [ ! -e "$corpus/$(basename "$input")" ]; then
            cp "$input" "$corpus/"
        fi
    done
    log="$ROOT/target/fuzz-corpus/$target.log"
    echo "== Fuzzing $target for ${SECONDS_PER_TARGET}s"
    # -timeout: one input running 10 s is a hang, and a failure.
    if cargo +nightly fuzz run -O --fuzz-dir . "$target" "$corpus" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        status="ok"
    else
        status="FAILED"
        failed+=("$target")
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20 || true
    fi
    runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    rate=$(grep -oE "stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    coverage=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1 || echo "cov: ? ft: ?")
    files=$(find "$corpus" -type f | wc -l)
    echo "$target: $status; $runs executions, $rate exec/s, $coverage, corpus $files files (log: $log)"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "Fuzzing found failures in: ${failed[*]} (inputs in rust/fuzz/artifacts/)"
    exit 1
fi
