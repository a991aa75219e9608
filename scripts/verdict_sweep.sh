#!/usr/bin/env bash
# The verdict's two margins, measured (README "How a result is judged",
# BENCHMARKS.md "The verdict's margins"): correct runs over many seeds on
# every rung of every ladder must all pass (largest err/bound recorded),
# and every planted fault must be caught (smallest err/bound recorded).
#
#   scripts/verdict_sweep.sh               # 200 seeds, 10 at the largest sizes
#   SEEDS=20 LARGE_SEEDS=2 scripts/verdict_sweep.sh
#
# Writes docs/verdict/{sweep,large,mutants}-<backend>.json. Takes hours on
# a 2-core software adapter at the full counts (the selftest is ~45 s a
# seed on lavapipe, the largest sizes ~2.5 min a seed).
set -euo pipefail
cd "$(dirname "$0")/.."
export NODEVICE_SELECT=1
SEEDS=${SEEDS:-200}
LARGE_SEEDS=${LARGE_SEEDS:-10}
BACKENDS=${BACKENDS:-"vulkan gl"}
mkdir -p docs/verdict
cargo build --release -q
echo "== float32 products on the CPU, every order and kind of data, $SEEDS seeds"
VERDICT_SEEDS=$SEEDS cargo test --release -q --test verdict -- --nocapture 2>&1 | grep -E "err/bound|test result"
for b in $BACKENDS; do
    bin=target/release/wgsl-nn
    echo "== $b: mutants"
    $bin --backend "$b" selftest --mutants --json > "docs/verdict/mutants-$b.json" || true
    echo "== $b: $SEEDS seeds of the selftest shapes"
    $bin --backend "$b" selftest --seeds "$SEEDS" --json > "docs/verdict/sweep-$b.json" || true
    echo "== $b: $LARGE_SEEDS seeds at the largest sizes"
    $bin --backend "$b" selftest --seeds "$LARGE_SEEDS" --large-only --json > "docs/verdict/large-$b.json" || true
done
python3 - <<'PY'
import json, glob
for f in sorted(glob.glob("docs/verdict/*.json")):
    d = json.load(open(f))
    for a in d["adapters"]:
        if "mutants" in a:
            finite = [r["err_over_bound"] for r in a["runs"] if r["err_over_bound"] is not None]
            print(f"{f}: {a['caught']} of {a['mutants']} mutant runs caught, weakest {min(finite):.2f}x the bound")
        else:
            print(f"{f}: {a['seeds']} seeds, {a['false_alarms']} false alarms, largest err/bound {a['largest_err_over_bound']:.3f} ({a['largest_in']})")
PY
python3 scripts/verdict_table.py
