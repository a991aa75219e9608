#!/usr/bin/env bash
# Regenerates the benchmark artefacts and the table inside BENCHMARKS.md
# (between the BEGIN/END markers) on this machine's chosen adapter.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -- bench all --csv docs/bench.csv --plot docs/bench.svg --markdown docs/bench-table.md "$@" | tee docs/bench.txt
python3 - <<'PY'
import re
table = open("docs/bench-table.md").read()
doc = open("BENCHMARKS.md").read()
doc = re.sub(r"(<!-- BEGIN TABLE -->\n).*?(<!-- END TABLE -->)", lambda m: m.group(1) + table + m.group(2), doc, flags=re.S)
open("BENCHMARKS.md", "w").write(doc)
PY
