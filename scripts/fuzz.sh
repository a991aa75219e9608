#!/usr/bin/env bash
# The long fuzz run of tests/fuzz_parsers.rs: every parser in its TARGETS
# (today npy, npz, state_dict, spec and input_shape) with 250,000 cases
# each by default (1,250,000 in all), in release mode.
# Prints the cases and the time, per parser and in all; exits non-zero on
# any panic, parse over 2 s or allocation over the limit (the failing,
# shrunk input is in the message; a hang or a multi-GiB allocation aborts
# and saves its input under the target dir's tmp/fuzz-crash-*.bin).
#
#   scripts/fuzz.sh              # 250,000 cases per parser
#   scripts/fuzz.sh 1000000      # cases per parser
#   FUZZ_TARGETS=npz,state_dict scripts/fuzz.sh
#
# CARGO_TARGET_DIR is honoured (e.g. to keep off a target dir in use).
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${1:-${FUZZ_CASES:-250000}}"
case "$cases" in
  '' | *[!0-9]*) echo "usage: $0 [cases per parser]" >&2; exit 2 ;;
esac

cargo test --release --test fuzz_parsers --no-run
start=$(date +%s)
FUZZ_CASES="$cases" cargo test --release --test fuzz_parsers -- --nocapture --test-threads 1
echo "fuzz.sh: $cases cases per parser (${FUZZ_TARGETS:-all parsers}) in $(( $(date +%s) - start )) s, release build"
