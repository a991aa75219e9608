#!/usr/bin/env bash
# Behaviour and speed before/after a change: runs `wgsl-nn bench` with two
# binaries in interleaved rounds (same machine, same minutes) and prints,
# per row, both medians of the per-round medians, their ratio and whether
# every round passed its check.
#
#   scripts/bench_before_after.sh BEFORE_BIN AFTER_BIN [ROUNDS] [-- bench args]
#
# e.g. build the old commit in a worktree, then
#   scripts/bench_before_after.sh ../old/target/release/wgsl-nn target/release/wgsl-nn 3
set -euo pipefail
before=$1 after=$2 rounds=${3:-3}
shift $(( $# >= 3 ? 3 : 2 ))
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(all --quick --reps 5)
export NODEVICE_SELECT=1
out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
    for side in before after; do
        bin=$before; [ $side = after ] && bin=$after
        "$bin" bench "${args[@]}" --json --quiet > "$out/$side.$r.json"
    done
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
for side in ("before", "after"):
    for r in range(1, rounds + 1):
        for row in json.load(open(f"{out}/{side}.{r}.json"))["rows"]:
            key = (row["op"], row["shape"], row["implementation"])
            d = rows.setdefault(key, {"before": [], "after": [], "passed": True})
            if row["median_ms"] is not None:
                d[side].append(row["median_ms"])
            d["passed"] &= bool(row["passed"])
print(f"{'op':<10} {'shape':<22} {'implementation':<28} {'before ms':>10} {'after ms':>10} {'after/before':>12}  checks")
for (op, shape, imp), d in rows.items():
    b = statistics.median(d["before"]) if d["before"] else float("nan")
    a = statistics.median(d["after"]) if d["after"] else float("nan")
    print(f"{op:<10} {shape:<22} {imp:<28} {b:>10.3f} {a:>10.3f} {a / b:>12.2f}  {'all pass' if d['passed'] else 'FAILED'}")
PY
