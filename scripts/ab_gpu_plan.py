#!/usr/bin/env python3
"""The GPU plans of two wgsl-nn binaries on the same ONNX models, per
backend: the timed plan's memory against the target (constants plus twice
the largest activation pair, one node's input and output) and the GPU
median, interleaved rounds (A, B, A, B, ...), medians of `report.median_ms`
from `wgsl-nn run M.onnx --check off --json --backend BACKEND`. No Python
packages needed.

    python3 scripts/ab_gpu_plan.py --a OLD_BIN --b NEW_BIN \
        --models /tmp/peers/resnet18_b2 /tmp/peers/mobilenet_v2_b2 \
        --backends vulkan gl --rounds 5

Each MODEL is a path prefix: MODEL.onnx and MODEL.x.npy (the layout
scripts/onnx_peers.py leaves in its --out directory). A binary whose report
has no `largest_pair_bytes` (older than that field) takes B's figure.
"""
import argparse, json, os, statistics, subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--a", required=True)
ap.add_argument("--b", required=True)
ap.add_argument("--models", nargs="+", required=True)
ap.add_argument("--backends", nargs="+", default=["vulkan"])
ap.add_argument("--rounds", type=int, default=5)
args = ap.parse_args()
env = dict(os.environ, NODEVICE_SELECT="1")
print(f"A = {args.a}\nB = {args.b}\n{args.rounds} interleaved rounds; MB of the timed plan, GPU median ms")
print("| model | backend | constants MB | largest pair MB | target MB | A plan MB | B plan MB | A ms | B ms | A / B |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in args.models:
    for backend in args.backends:
        got = {"a": [], "b": []}
        rep = {}
        for _ in range(args.rounds):
            for k in ("a", "b"):
                cmd = [getattr(args, k), "run", m + ".onnx", "--input-npy", m + ".x.npy", "--check", "off",
                       "--backend", backend, "--cpu-repeats", "0", "--json"]
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                r = json.loads(out.stdout)["report"]
                got[k].append(r["median_ms"])
                rep[k] = r
        pair = rep["b"].get("largest_pair_bytes") or 0
        target = rep["b"]["const_bytes"] + 2 * pair
        a, b = statistics.median(got["a"]), statistics.median(got["b"])
        mb = lambda x: f"{x / 1e6:.2f}"
        print(f"| {os.path.basename(m)} | {backend} | {mb(rep['b']['const_bytes'])} | {mb(pair)} | {mb(target)} | "
              f"{mb(rep['a']['lean_plan_bytes'])} | {mb(rep['b']['lean_plan_bytes'])} | {a:.1f} | {b:.1f} | {a / b:.2f} |",
              flush=True)
