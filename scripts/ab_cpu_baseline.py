#!/usr/bin/env python3
"""The CPU baseline of two wgsl-nn binaries on the same ONNX models,
interleaved rounds (A, B, A, B, ...), medians of `cpu_baseline.median_ms`
from `wgsl-nn run M.onnx --check off --json`. No Python packages needed.

    python3 scripts/ab_cpu_baseline.py --a OLD_BIN --b NEW_BIN \
        --models /tmp/peers/resnet18_b1 /tmp/peers/vit_b8 --rounds 3

Each MODEL is a path prefix: MODEL.onnx and MODEL.x.npy (the layout
scripts/onnx_peers.py leaves in its --out directory).
"""
import argparse, json, os, statistics, subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--a", required=True)
ap.add_argument("--b", required=True)
ap.add_argument("--models", nargs="+", required=True)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--cpu-repeats", type=int, default=10)
args = ap.parse_args()
env = dict(os.environ, NODEVICE_SELECT="1")
print(f"A = {args.a}\nB = {args.b}\n{args.rounds} interleaved rounds, CPU baseline median ms")
print("| model | A ms | B ms | A / B |\n|---|---:|---:|---:|")
for m in args.models:
    got = {"a": [], "b": []}
    for _ in range(args.rounds):
        for k in ("a", "b"):
            cmd = [getattr(args, k), "run", m + ".onnx", "--input-npy", m + ".x.npy", "--check", "off",
                   "--repeats", "1", "--warmup", "0", "--cpu-repeats", str(args.cpu_repeats), "--json"]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            got[k].append(json.loads(out.stdout)["cpu_baseline"]["median_ms"])
    a, b = statistics.median(got["a"]), statistics.median(got["b"])
    print(f"| {os.path.basename(m)} | {a:.2f} | {b:.2f} | {a / b:.2f} |", flush=True)
