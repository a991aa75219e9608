#!/usr/bin/env python3
"""PyTorch on the same workloads as `wgsl-nn bench`, for the side-by-side
table in BENCHMARKS.md: float32 (TF32 off), medians after warm-up.

    python3 scripts/pytorch_bench.py [--device cpu|cuda] [--threads N] [--json]

Workloads: the exercise conv stack (1x1x128x128) and the wide stack
(16x1x128x128, channels 1-32-64-64-32), square matmuls, and attention cores
(scaled_dot_product_attention, h=8, d=64, batch 1).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def timed(fn, device, reps=10, warmup=3, budget_s=10.0):
    for _ in range(warmup):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    start_all = time.perf_counter()
    for _ in range(reps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
        if time.perf_counter() - start_all > budget_s:
            break
    return statistics.median(times), min(times), max(times)


def conv_stack(device, batch, wide):
    chans = [1, 32, 64, 64, 32] if wide else [1, 1, 1, 1, 1]
    layers = [(3, 2, 0), (5, 1, 2), (3, 1, 1), (5, 2, 0)]
    g = torch.Generator().manual_seed(0)
    mods = []
    for (k, s, p), cin, cout in zip(layers, chans, chans[1:]):
        m = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p)
        mods.append(m)
    net = torch.nn.Sequential(*mods).to(device).eval()
    x = torch.rand(batch, 1, 128, 128, generator=g).to(device)
    flops = 0
    h, w = 128, 128
    for (k, s, p), cin, cout in zip(layers, chans, chans[1:]):
        h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        flops += 2 * batch * cout * h * w * cin * k * k
    with torch.no_grad():
        return timed(lambda: net(x), device), flops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32",
                    help="f16: float16 matmul and SDPA rows (ops matmul_f16, attention_f16), for wgsl-nn's --dtype f16 rows")
    args = ap.parse_args()
    dev = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    rows = []

    def add(op, shape, res, flops):
        (med, lo, hi) = res
        rows.append({"op": op, "shape": shape, "implementation": f"pytorch {torch.__version__} {dev}", "median_ms": med, "min_ms": lo, "max_ms": hi, "gflops": flops / (med * 1e6)})

    if args.dtype == "f16":
        # PyTorch's float16: float16 storage; cuBLAS sums in float32 unless
        # reduced-precision reductions are allowed (turned off here, as
        # wgsl-nn's default f16 rungs sum in float32).
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        # On a CPU (a smoke run) float16 products are slow: small sizes only.
        for n in [256] if dev == "cpu" else [1024, 2048, 4096]:
            a = torch.rand(n, n, device=dev, dtype=torch.float16)
            b = torch.rand(n, n, device=dev, dtype=torch.float16)
            add("matmul_f16", f"{n}x{n}x{n}", timed(lambda: a @ b, dev), 2 * n ** 3)
        for L in [256] if dev == "cpu" else [1024, 4096, 8192]:
            q, k, v = (torch.rand(1, 8, L, 64, device=dev, dtype=torch.float16) for _ in range(3))
            with torch.no_grad():
                add("attention_f16", f"h=8 d=64 L={L}", timed(lambda: F.scaled_dot_product_attention(q, k, v), dev), 4 * 8 * L * L * 64)
        rows_only = True
    else:
        rows_only = False
    for batch, wide in ([] if rows_only else [(1, False), (16, True)]):
        res, flops = conv_stack(dev, batch, wide)
        add("conv", "exercise stack 1x1x128x128" if not wide else "wide stack 16x1x128x128, 1-32-64-64-32", res, flops)
    for n in ([] if rows_only else [256, 512, 1024, 2048, 4096]):
        a = torch.rand(n, n, device=dev)
        b = torch.rand(n, n, device=dev)
        add("matmul", f"{n}x{n}x{n}", timed(lambda: a @ b, dev), 2 * n ** 3)
    for L in ([] if rows_only else [128, 256, 512, 1024, 2048, 4096, 8192]):
        if dev == "cpu" and L > 2048:
            continue
        q, k, v = (torch.rand(1, 8, L, 64, device=dev) for _ in range(3))
        with torch.no_grad():
            add("attention", f"h=8 d=64 L={L}", timed(lambda: F.scaled_dot_product_attention(q, k, v), dev), 4 * 8 * L * L * 64)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['op']:<10} {r['shape']:<42} {r['implementation']:<28} {r['median_ms']:10.3f} ms ({r['min_ms']:.3f}-{r['max_ms']:.3f})  {r['gflops']:9.1f} GFLOP/s")


if __name__ == "__main__":
    main()
