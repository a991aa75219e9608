#!/usr/bin/env bash
# Behaviour before/after a change, without timing noise: the steps each
# binary's --explain prints (labels, kernels, in order) for a set of
# commands, compared with the times cut off.
#   scripts/plans_before_after.sh BEFORE_BIN AFTER_BIN
set -euo pipefail
before=$1 after=$2
export NODEVICE_SELECT=1
cmds=(
    "conv --explain"
    "conv --layers conv(k=3,out=64) --input 4x32x64x64 --explain"
    "attention --tokens 256 --heads 8 --dim 512 --explain"
    "attention --tokens 64 --heads 4 --dim 64 --explain --kernel matmul=sm128"
    "attention --tokens 100 --heads 2 --dim 64 --explain --kernel attention=flash --path fused"
    "attention --tokens 1024 --heads 8 --dim 512 --path fused --explain"
)
steps() { "$1" $2 2>&1 | grep -E '^    [a-z]|^ +[0-9]+  ' | awk '{NF-=2; print}'; }
status=0
for c in "${cmds[@]}"; do
    if diff <(steps "$before" "$c") <(steps "$after" "$c") >/dev/null; then
        echo "same steps ($(steps "$after" "$c" | wc -l)): wgsl-nn $c"
    else
        echo "DIFFERENT: wgsl-nn $c"; status=1
    fi
done
exit $status
