#!/usr/bin/env bash
# Regenerates the benchmark artefacts and the table inside BENCHMARKS.md
# (between the BEGIN/END markers) on this machine's chosen adapter, headed
# by the host it ran on (CPU model, cores, Mesa) and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODEVICE_SELECT=1
cargo build --release --quiet
start=$(date -u '+%Y-%m-%d %H:%M')
target/release/wgsl-nn bench all --csv docs/bench.csv --plot docs/bench.svg --markdown docs/bench-table.md "$@" | tee docs/bench.txt
field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
cpu="$(field 'model name') (family $(field 'cpu family'), model $(field 'model'))"
mesa=$(target/release/wgsl-nn info --json | python3 -c 'import json,sys; print(next((a["adapter"]["driver_info"] for a in json.load(sys.stdin)["adapters"] if "Mesa" in a["adapter"]["driver_info"]), "no Mesa adapter"))')
HOST="Host: $cpu, $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $mesa. Measured $start-$(date -u '+%H:%M') UTC by \`scripts/benchmarks.sh${*:+ $*}\`." python3 - <<'PY'
import os, re
table = os.environ["HOST"] + "\n\n" + open("docs/bench-table.md").read()
doc = open("BENCHMARKS.md").read()
doc = re.sub(r"(<!-- BEGIN TABLE -->\n).*?(<!-- END TABLE -->)", lambda m: m.group(1) + table + m.group(2), doc, flags=re.S)
open("BENCHMARKS.md", "w").write(doc)
PY
