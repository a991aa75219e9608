#!/usr/bin/env bash
# The GPU-machine check behind BENCHMARKS.md's NVIDIA rows: run from the
# repository root on a machine with an NVIDIA GPU and no Rust toolchain,
# with a release build of wgsl-nn carried in devcarry/ (built elsewhere for
# x86-64 Linux; test binaries in devcarry/tests/) and the Vulkan/EGL loader
# packages in .gl/. Every step has its own time limit so one stall cannot
# eat the lease; the whole log lands in $OUT/log.txt.
set -uo pipefail
OUT=${OUT:-/tmp/wgsl-nn-device}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export WGSL_NN_CACHE=/tmp/wgsl-nn-cache
B=devcarry/wgsl-nn
step() { # step SECONDS command...: run with a limit, say how long it took
    local limit=$1; shift
    local t0=$SECONDS
    timeout "$limit" "$@"; local rc=$?
    echo "[step rc=$rc $((SECONDS - t0))s: $*]" >&2
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step 30 $B info
step 90 $B --adapter nvidia bench matmul --sizes 1024,2048,4096 --reps 10 --quiet --csv "$OUT/matmul.csv"
# What naga's forced loop counters cost (wgsl-nn drops them by default).
WGSL_NN_FORCE_LOOP_BOUNDING=1 step 60 $B --adapter nvidia bench matmul --sizes 4096 --reps 10 --quiet --kernel matmul=rb4_vec4 --kernel matmul=sm128 --kernel matmul=sm128p
step 90 $B --adapter nvidia bench attention --sizes 1024,4096,8192 --reps 10 --quiet --csv "$OUT/attention.csv"
WGSL_NN_FORCE_LOOP_BOUNDING=1 step 60 $B --adapter nvidia bench attention --sizes 8192 --reps 10 --quiet --kernel attention=fused_tex --kernel attention=flash
step 60 $B --adapter nvidia bench conv --reps 10 --quiet --csv "$OUT/conv.csv"
PYTHONUNBUFFERED=1 step 90 python3 scripts/pytorch_bench.py --device cuda > "$OUT/pytorch_cuda.txt"
cat "$OUT/pytorch_cuda.txt"
python3 scripts/ratio_table.py "$OUT/pytorch_cuda.txt" "$OUT/matmul.csv" "$OUT/attention.csv" "$OUT/conv.csv" > "$OUT/ratios.txt"
cat "$OUT/ratios.txt"
step 60 $B --adapter nvidia --tune redo conv --json > "$OUT/conv.json"
step 45 $B --adapter nvidia attention --tokens 8192 --heads 8 --dim 512 --check-rows 32
step 20 $B --adapter nvidia permute
export WGPU_ADAPTER_NAME=nvidia WGPU_BACKEND=vulkan
for t in devcarry/tests/*; do
    echo "== $t"
    step 45 "$t" --test-threads "${TEST_THREADS:-1}" 2>&1 | grep -E "^\[step|test result|FAILED|panicked"
done
cp "$WGSL_NN_CACHE/tune.json" "$OUT/tune_nvidia.json" 2>/dev/null || true
