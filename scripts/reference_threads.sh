#!/usr/bin/env bash
# The f64 references on one thread and on every core (RAYON_NUM_THREADS),
# on the wide benchmark stack and on torchvision's vgg11_bn().features at
# 224 x 224, batch 2 (seeded weights; the same layers and shapes). Prints
# each run's reference time and verdict; BENCHMARKS.md quotes them.
#   scripts/reference_threads.sh [THREADS...]   (default: 1 and nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
export NODEVICE_SELECT=1
cargo build --release --quiet
bin=target/release/wgsl-nn
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 "$(nproc)")
wide='conv(k=3,s=2,out=32) conv(k=5,p=2,out=64) conv(k=3,p=1,out=64) conv(k=5,s=2,out=32)'
block() { printf 'conv(k=3,p=1,out=%s) batchnorm relu ' "$1"; }
vgg="$(block 64)maxpool(k=2) $(block 128)maxpool(k=2) $(block 256)$(block 256)maxpool(k=2) $(block 512)$(block 512)maxpool(k=2) $(block 512)$(block 512)maxpool(k=2)"
for t in "${threads[@]}"; do
    for job in "wide 16x1x128x128|$wide" "vgg11_bn.features 2x3x224x224|$vgg"; do
        name=${job%%|*}; layers=${job#*|}
        json=$(RAYON_NUM_THREADS=$t $bin conv --layers "$layers" --input "${name#* }" --reps 1 --json)
        python3 - "$json" "$name" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); t = d["timing"]; c = d["check"]
verdict = "PASS" if c["passed"] else "FAIL"
print(f"{sys.argv[2]:<32} threads {t['reference_threads']}: reference {t['cpu_ms'] / 1e3:8.2f} s, "
      f"GPU {t['gpu_ms']:9.1f} ms, check {verdict} (worst err/bound {c['worst_ratio']:.3f})", flush=True)
PY
    done
done
