#!/usr/bin/env bash
# Ten runs of the whole matmul ladder at N = 128 on one adapter, per rung:
# the reported median in each run and the clock behind it. On CPU adapters
# every timestamped run's stamps must agree with its own wall clock within
# 2x (gpu::timer::covers_wall_clock), so a rung can no longer be reported
# 10x faster than it runs (sm128p read 0.075 ms of a 0.83 ms run before).
#   scripts/timing_agreement.sh [vulkan|gl] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
export NODEVICE_SELECT=1
backend=${1:-vulkan}
runs=${2:-10}
cargo build --release -q
out=$(mktemp -d)
for i in $(seq 1 "$runs"); do
    target/release/wgsl-nn --backend "$backend" bench matmul --sizes 128 --tune off --quiet --json > "$out/run$i.json"
done
python3 - "$out" "$runs" <<'PY'
import json, sys, statistics
out, runs = sys.argv[1], int(sys.argv[2])
table = {}
for i in range(1, runs + 1):
    for r in json.load(open(f"{out}/run{i}.json"))["rows"]:
        if r["median_ms"] is None:
            continue
        table.setdefault(r["implementation"], []).append((r["median_ms"], r["clock"]))
print(f"{'implementation':<28} {'median of medians ms':>20} {'max/min':>8}  clocks")
for k, v in table.items():
    ms = [m for m, _ in v]
    clocks = sorted(set(c for _, c in v))
    print(f"{k:<28} {statistics.median(ms):>20.3f} {max(ms)/min(ms):>8.2f}  {', '.join(clocks)}")
PY
