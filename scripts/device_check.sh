#!/usr/bin/env bash
# The GPU-machine check behind BENCHMARKS.md's NVIDIA rows: run from the
# repository root on a machine with an NVIDIA GPU and no Rust toolchain,
# with a release build of wgsl-nn carried in devcarry/ (built elsewhere for
# x86-64 Linux) and the Vulkan/EGL loader packages in .gl/.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export WGSL_NN_CACHE="$OUT"
B=devcarry/wgsl-nn
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
$B info
$B --adapter nvidia --tune redo conv --json > "$OUT/conv.json" && echo "conv: ok"
$B --adapter nvidia bench matmul --sizes 1024,2048,4096 --reps 10 --quiet --csv "$OUT/matmul.csv"
$B --adapter nvidia bench attention --sizes 1024,4096,8192 --reps 10 --quiet --csv "$OUT/attention.csv"
$B --adapter nvidia bench conv --reps 10 --quiet --csv "$OUT/conv.csv"
$B --adapter nvidia attention --tokens 8192 --heads 8 --dim 512 --check-rows 32
$B --adapter nvidia permute
PYTHONUNBUFFERED=1 python3 scripts/pytorch_bench.py --device cuda | tee "$OUT/pytorch_cuda.txt"
python3 scripts/ratio_table.py "$OUT/pytorch_cuda.txt" "$OUT/matmul.csv" "$OUT/attention.csv" "$OUT/conv.csv" | tee "$OUT/ratios.txt"
for t in devcarry/tests/*; do echo "== $t"; "$t" --test-threads 4 2>&1 | grep -E "test result|FAILED|panicked" ; done
cp "$OUT/tune.json" "$OUT/tune_nvidia.json" 2>/dev/null || true
