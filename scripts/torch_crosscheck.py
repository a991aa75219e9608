#!/usr/bin/env python3
"""Cross-check `wgsl-nn conv` against PyTorch on the same weights and inputs.

Builds seeded random nn.Sequential stacks (Conv2d with stride, padding
including 'same' with even kernels, dilation, rectangular kernels, bias or
not; ReLU; MaxPool2d with dilation and ceil_mode; AvgPool2d with ceil_mode
and count_include_pad), saves the state_dict with np.savez and the input
with np.save, runs the wgsl-nn CLI with --params/--input-npy/--output-npy,
and compares the GPU output with PyTorch's float64 forward pass.

Needs torch and numpy (not part of CI). Usage:
    python3 scripts/torch_crosscheck.py [--cases 60] [--seed 7] [--bin target/release/wgsl-nn]
Exit status 1 if any case disagrees. Extra arguments after `--` go to wgsl-nn
(e.g. `-- --kernel conv2d=direct`).
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn


def rand_conv(rng, c_in, h, w):
    """A Conv2d that fits an input of c_in x h x w, with its spec text, or None."""
    kh, kw = rng.choice([1, 2, 3, 4, 5]), rng.choice([1, 2, 3, 5])
    if rng.random() < 0.6:
        kw = kh
    dh, dw = (rng.choice([1, 1, 2, 3]), rng.choice([1, 1, 2])) if rng.random() < 0.4 else (1, 1)
    out = rng.choice([1, 2, 3, 4, 7, 8, 16])
    bias = rng.random() < 0.75
    mode = rng.random()
    if mode < 0.25:
        stride, pad, pad_txt = (1, 1), "same", "'same'"
    else:
        stride = (rng.choice([1, 1, 2, 3]), rng.choice([1, 1, 2]))
        pad = (rng.randint(0, 2), rng.randint(0, 2))
        pad_txt = f"({pad[0]},{pad[1]})"
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    ph, pw = (0, 0) if pad == "same" else pad
    if eh > h + 2 * ph or ew > w + 2 * pw:
        return None
    mod = nn.Conv2d(c_in, out, (kh, kw), stride=stride, padding=pad, dilation=(dh, dw), bias=bias)
    spec = (
        f"conv(kernel_size=({kh},{kw}),stride=({stride[0]},{stride[1]}),padding={pad_txt},"
        f"dilation=({dh},{dw}),out={out},bias={'true' if bias else 'false'})"
    )
    return mod, spec, out


def rand_pool(rng, h, w):
    k = rng.choice([1, 2, 3, 4])
    s = rng.choice([1, 2, k])
    p = rng.randint(0, k // 2)
    ceil = rng.random() < 0.5
    if rng.random() < 0.5:
        d = rng.choice([1, 2])
        if d * (k - 1) + 1 > h + 2 * p or d * (k - 1) + 1 > w + 2 * p:
            return None
        mod = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
        spec = f"maxpool(k={k},s={s},p={p},d={d},ceil_mode={str(ceil).lower()})"
    else:
        if k > h + 2 * p or k > w + 2 * p:
            return None
        cip = rng.random() < 0.5
        mod = nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=cip)
        spec = f"avgpool(k={k},s={s},p={p},ceil_mode={str(ceil).lower()},count_include_pad={str(cip).lower()})"
    return mod, spec


def rand_stack(rng):
    n = rng.choice([1, 1, 2, 3])
    c = rng.choice([1, 2, 3, 5])
    h, w = rng.randint(5, 40), rng.randint(5, 40)
    shape = (n, c, h, w)
    mods, specs = [], []
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.55:
            got = rand_conv(rng, c, h, w)
            if got is None:
                continue
            mod, spec, c = got
        elif r < 0.75:
            mod, spec = nn.ReLU(), "relu"
        else:
            got = rand_pool(rng, h, w)
            if got is None:
                continue
            mod, spec = got
        with torch.no_grad():
            y = mod.double()(torch.zeros(1, c if not isinstance(mod, nn.Conv2d) else mod.in_channels, h, w, dtype=torch.float64))
        if y.shape[-1] < 1 or y.shape[-2] < 1:
            break
        h, w = y.shape[-2], y.shape[-1]
        mods.append(mod)
        specs.append(spec)
    if not any(isinstance(m, nn.Conv2d) for m in mods):
        return None
    return nn.Sequential(*mods), " ".join(specs), shape


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bin", default="target/release/wgsl-nn")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    print(f"seed {a.seed}, {a.cases} cases, torch {torch.__version__}")
    rng = random.Random(a.seed)
    torch.manual_seed(a.seed)
    failures, worst = 0, 0.0
    env = dict(os.environ, NODEVICE_SELECT="1")
    with tempfile.TemporaryDirectory() as tmp:
        done = 0
        while done < a.cases:
            got = rand_stack(rng)
            if got is None:
                continue
            seq, spec, shape = got
            done += 1
            x = torch.rand(shape, dtype=torch.float32) * 2 - 1
            sd = {k: v.float().numpy() for k, v in seq.state_dict().items()}
            np.savez(f"{tmp}/p.npz", **sd)
            np.save(f"{tmp}/x.npy", x.numpy())
            with torch.no_grad():
                ref = seq.double()(x.double()).numpy()
            cmd = [a.bin, "conv", "--layers", spec, "--params", f"{tmp}/p.npz",
                   "--input-npy", f"{tmp}/x.npy", "--output-npy", f"{tmp}/y.npy", "--reps", "1", *a.extra]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                failures += 1
                print(f"[{done}] FAIL (exit {r.returncode}) {shape} {spec}\n{r.stderr.strip()}")
                continue
            y = np.load(f"{tmp}/y.npy")
            if y.shape != ref.shape:
                failures += 1
                print(f"[{done}] FAIL shape {y.shape} vs torch {ref.shape}: {shape} {spec}")
                continue
            # float32 accumulation against float64: scale by the largest magnitude.
            scale = max(1.0, float(np.abs(ref).max()))
            err = float(np.abs(y - ref).max()) / scale if ref.size else 0.0
            worst = max(worst, err)
            ok = err <= 1e-5
            failures += not ok
            print(f"[{done}] {'ok  ' if ok else 'FAIL'} max err {err:.2e} in {shape}->{tuple(ref.shape)}: {spec}")
    print(f"{a.cases - failures}/{a.cases} agree with PyTorch (worst scaled max error {worst:.2e}, bound 1e-5)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
