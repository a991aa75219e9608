#!/usr/bin/env bash
# First-run cost: each command's whole-process wall clock with empty caches
# (a fresh XDG_CACHE_HOME: no kernel choices, no Mesa shader cache, no
# pipeline cache), then warm (the same folder again), ROUNDS times each;
# prints the medians and cold - warm, the price of the first run. Your own
# ~/.cache is never touched.
#   scripts/cold_start.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
export NODEVICE_SELECT=1
cargo build --release --quiet
bin=$PWD/target/release/wgsl-nn
rounds=${1:-3}
cmds=(
    "conv"
    ""
    "attention --tokens 1024 --heads 8 --dim 512 --path fused"
    "permute"
    "rnn"
)
now() { date +%s.%N; }
for c in "${cmds[@]}"; do
    cold=() warm=()
    for _ in $(seq "$rounds"); do
        dir=$(mktemp -d)
        t0=$(now); XDG_CACHE_HOME=$dir $bin $c >/dev/null 2>"$dir/err" || { cat "$dir/err"; exit 1; }
        t1=$(now); XDG_CACHE_HOME=$dir $bin $c >/dev/null 2>>"$dir/err"
        t2=$(now)
        cold+=("$(echo "$t1 - $t0" | bc)") warm+=("$(echo "$t2 - $t1" | bc)")
        rm -rf "$dir"
    done
    python3 - "${c:-(the report)}" "${cold[*]}" "${warm[*]}" <<'PY'
import statistics, sys
name, cold, warm = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
c, w = statistics.median(cold), statistics.median(warm)
print(f"{'wgsl-nn ' + name:<66} cold {c:6.2f} s  warm {w:6.2f} s  first-run cost {c - w:5.2f} s  (cold runs: {', '.join(f'{x:.2f}' for x in cold)})")
PY
done
