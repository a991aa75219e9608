#!/usr/bin/env python3
"""Whole models in float16 against float32: `wgsl-nn run --dtype f16|f32`
on the same ONNX files and adapters, in one sitting, as a markdown table
(median ms per run, the timed plan's bound bytes, the ratio f16 / f32).

The models are those scripts/onnx_crosscheck.py exports (NAME.onnx and
NAME.x.npy in its work dir). Usage:
    python3 scripts/onnx_crosscheck.py --dtype f16 --out /tmp/cc16 --models transformer,resnet18
    python3 scripts/run_f16_table.py --dir /tmp/cc16 --models transformer,resnet18 [--backends vulkan,gl]
        [--repeats 3] [--table FILE.md]
Each run: --check off --warmup 1 --cpu-repeats 0 --json (checked runs are
the crosscheck's business); NODEVICE_SELECT=1 silences Mesa's layer.
"""
import argparse
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/tmp/cc16")
    ap.add_argument("--models", default="transformer,resnet18")
    ap.add_argument("--backends", default="vulkan,gl")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "wgsl-nn"))
    ap.add_argument("--table")
    args = ap.parse_args()
    env = dict(os.environ, NODEVICE_SELECT="1")
    rows = []
    for name in args.models.split(","):
        for backend in args.backends.split(","):
            got = {}
            for dtype in ["f32", "f16"]:
                cmd = [args.bin, "run", os.path.join(args.dir, name + ".onnx"), "--input-npy",
                       os.path.join(args.dir, name + ".x.npy"), "--backend", backend, "--dtype", dtype,
                       "--check", "off", "--warmup", "1", "--repeats", str(args.repeats), "--cpu-repeats", "0",
                       "--json"]
                p = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if p.returncode != 0:
                    raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
                j = json.loads(p.stdout)
                r = j["report"]
                got[dtype] = (r["median_ms"], r["lean_plan_bytes"] / 1e6, r.get("f16_path"), j["adapter"])
                print(f"{name} {backend} {dtype}: {r['median_ms']:.1f} ms, timed plan {r['lean_plan_bytes'] / 1e6:.1f} MB"
                      f"{' (' + r['f16_path'] + ')' if r.get('f16_path') else ''}", flush=True)
            rows.append([name, backend, got["f16"][2], f"{got['f32'][0]:.1f}", f"{got['f16'][0]:.1f}",
                         f"{got['f16'][0] / got['f32'][0]:.2f}", f"{got['f32'][1]:.1f}", f"{got['f16'][1]:.1f}"])
    head = ["model", "backend", "f16 path", "f32 ms", "f16 ms", "f16 / f32", "f32 MB", "f16 MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    print("\n".join(lines))
    if args.table:
        with open(args.table, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
