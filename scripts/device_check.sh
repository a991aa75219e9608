#!/usr/bin/env bash
# The GPU-machine check behind BENCHMARKS.md's NVIDIA rows: run from the
# repository root on a machine with an NVIDIA GPU and no Rust toolchain,
# with a release build of wgsl-nn carried in devcarry/ (built elsewhere for
# x86-64 Linux; test binaries in devcarry/tests/) and the Vulkan/EGL loader
# packages in .gl/. Every step has its own time limit so one stall cannot
# eat the lease; the whole log lands in $OUT/log.txt, the GPU's clocks and
# power every 200 ms in $OUT/clocks.csv.
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
    echo "[start $(date +%T): $*]" >&2
    timeout "$limit" "$@"; local rc=$?
    echo "[step rc=$rc $((SECONDS - t0))s: $*]" >&2
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,clocks_event_reasons.active \
    --format=csv -lms 200 > "$OUT/clocks.csv" &
step 30 $B info
step 90 $B --adapter nvidia selftest
# naive, tiled (and tex and rb4 at 4096) are left out to save device time:
# they pass and are timed in earlier runs (BENCHMARKS.md). Most of a row's
# time is the CPU side (data, baseline, f64 check), not the GPU.
MM="--kernel matmul=rb4 --kernel matmul=rb4_vec4 --kernel matmul=rb8_vec4 --kernel matmul=tex --kernel matmul=sm128 --kernel matmul=sm128p"
step 60 $B --adapter nvidia --tune off bench matmul --sizes 1024,2048 --reps 10 --quiet $MM --csv "$OUT/matmul_small.csv"
step 60 $B --adapter nvidia --tune off bench matmul --sizes 4096 --reps 10 --quiet --kernel matmul=rb4_vec4 --kernel matmul=rb8_vec4 --kernel matmul=sm128p --csv "$OUT/matmul.csv"
# The old way: one warm-up run, then each run waited for.
WGSL_NN_SERIAL_TIMING=1 step 40 $B --adapter nvidia --tune off bench matmul --sizes 4096 --reps 10 --quiet --kernel matmul=rb4_vec4 --kernel matmul=sm128p
step 90 $B --adapter nvidia --tune off bench attention --sizes 1024,4096,8192 --reps 10 --quiet --csv "$OUT/attention.csv"
step 60 $B --adapter nvidia --tune off bench conv --reps 10 --quiet --csv "$OUT/conv.csv"
PYTHONUNBUFFERED=1 step 90 python3 scripts/pytorch_bench.py --device cuda > "$OUT/pytorch_cuda.txt"
cat "$OUT/pytorch_cuda.txt"
python3 scripts/ratio_table.py "$OUT/pytorch_cuda.txt" "$OUT/matmul_small.csv" "$OUT/matmul.csv" "$OUT/attention.csv" "$OUT/conv.csv"
# Float16 (issue "Half precision"): the kernels, their faults, the rows
# beside float32, the attention layer, and PyTorch's float16 beside them.
step 45 $B --adapter nvidia selftest --dtype f16
step 45 $B --adapter nvidia selftest --dtype f16 --mutants
step 90 $B --adapter nvidia --tune off bench matmul --sizes 2048,4096 --dtype f16 --reps 10 --quiet --csv "$OUT/matmul_f16.csv"
step 45 $B --adapter nvidia attention --dtype f16 --tokens 1024 --heads 8 --dim 512
PYTHONUNBUFFERED=1 step 60 python3 scripts/pytorch_bench.py --device cuda --dtype f16 > "$OUT/pytorch_cuda_f16.txt"
cat "$OUT/pytorch_cuda_f16.txt"
step 60 $B --adapter nvidia --tune redo conv --json | python3 -c "import json,sys; json.load(sys.stdin); print('conv --json: valid JSON')"
step 45 $B --adapter nvidia attention --tokens 2048 --heads 8 --dim 512 --check-rows 32
step 20 $B --adapter nvidia permute
export WGPU_ADAPTER_NAME=nvidia WGPU_BACKEND=vulkan
for t in devcarry/tests/*; do
    echo "== $t"
    step 45 "$t" --test-threads "${TEST_THREADS:-1}" 2>&1 | grep -E "^\[step|test result|FAILED|panicked"
done
cp "$WGSL_NN_CACHE/tune.json" "$OUT/tune_nvidia.json" 2>/dev/null || true
kill %1 2>/dev/null
