#!/usr/bin/env python3
"""Cross-check `wgsl-nn conv`, `attention` and `rnn` against PyTorch on the
same weights and inputs.

conv: seeded random nn.Sequential stacks (Conv2d with stride, padding
including 'same' with even kernels, dilation, rectangular kernels, groups
including depthwise, bias or not; ReLU, Sigmoid, Tanh, SiLU, GELU (both
forms), LeakyReLU; BatchNorm2d in eval mode with
random running statistics, affine or not; MaxPool2d with dilation and ceil_mode; AvgPool2d with ceil_mode
and count_include_pad), saves the state_dict with np.savez and the input
with np.save, runs the wgsl-nn CLI with --params/--input-npy/--output-npy,
and compares the GPU output with PyTorch's float64 forward pass.
attention: random nn.MultiheadAttention(batch_first=True) modules (self and
cross, causal, key padding masks with no fully masked row, bias or not)
through `attention --params --input-npy --kv-npy --key-padding-mask-npy`.
pool: tiny inputs where pooling windows hang past the padded input or do
not fit: outputs and refusals must both be PyTorch's.
rnn: random nn.RNN / nn.GRU / nn.LSTM stacks (num_layers, bias or not,
batch_first or time-major, unbatched, h0/c0) through `rnn --params`,
comparing y, h_n and c_n.

Needs torch and numpy (not part of CI). Usage:
    python3 scripts/torch_crosscheck.py [--op conv|pool|attention|rnn|all] [--cases 60] [--seed 7]
        [--bin target/release/wgsl-nn]
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
    # groups: a common divisor of in and out (depthwise when it is c_in)
    groups = 1
    if rng.random() < 0.35:
        if rng.random() < 0.5:
            groups, out = c_in, c_in * rng.choice([1, 2])
        else:
            divs = [g for g in range(2, c_in + 1) if c_in % g == 0]
            if divs:
                groups = rng.choice(divs)
                out = groups * rng.choice([1, 2, 3])
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
    mod = nn.Conv2d(c_in, out, (kh, kw), stride=stride, padding=pad, dilation=(dh, dw), groups=groups, bias=bias)
    spec = (
        f"conv(kernel_size=({kh},{kw}),stride=({stride[0]},{stride[1]}),padding={pad_txt},"
        f"dilation=({dh},{dw}),out={out},groups={groups},bias={'true' if bias else 'false'})"
    )
    return mod, spec, out


def rand_pool(rng, h, w):
    k = rng.choice([1, 2, 3, 4])
    s = rng.choice([1, 2, k])
    p = rng.randint(0, k // 2)
    ceil = rng.random() < 0.5
    if rng.random() < 0.5:
        d = rng.choice([1, 2])
        mod = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
        spec = f"maxpool(k={k},s={s},p={p},d={d},ceil_mode={str(ceil).lower()})"
    else:
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
        elif r < 0.68:
            mod, spec = rng.choice([
                (nn.ReLU(inplace=True), "relu(inplace=true)"),
                (nn.Sigmoid(), "sigmoid"),
                (nn.Tanh(), "tanh"),
                (nn.SiLU(), "silu"),
                (nn.GELU(), "gelu"),
                (nn.GELU(approximate="tanh"), "gelu(approximate='tanh')"),
                (nn.LeakyReLU(0.2), "leaky_relu(negative_slope=0.2)"),
                (nn.LeakyReLU(), "leakyrelu"),
            ])
        elif r < 0.78:
            eps, affine = rng.choice([1e-5, 1e-3, 0.1]), rng.random() < 0.8
            mod = nn.BatchNorm2d(c, eps=eps, affine=affine)
            with torch.no_grad():
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.2, 2.0)
                if affine:
                    mod.weight.uniform_(-1.5, 1.5)
                    mod.bias.uniform_(-0.5, 0.5)
            mod.num_batches_tracked.fill_(rng.randint(0, 1000))
            mod.eval()
            spec = f"batchnorm(eps={eps},affine={str(affine).lower()},momentum=0.1)"
        else:
            got = rand_pool(rng, h, w)
            if got is None:
                continue
            mod, spec = got
        # PyTorch decides which windows fit (in ceil mode one may hang past
        # the padded input); a layer it refuses is left out.
        try:
            with torch.no_grad():
                y = mod.double()(torch.zeros(1, c if not isinstance(mod, nn.Conv2d) else mod.in_channels, h, w, dtype=torch.float64))
        except RuntimeError:
            if isinstance(mod, nn.Conv2d):
                c = mod.in_channels
            continue
        if y.shape[-1] < 1 or y.shape[-2] < 1:
            break
        h, w = y.shape[-2], y.shape[-1]
        mods.append(mod)
        specs.append(spec)
    if not any(isinstance(m, nn.Conv2d) for m in mods):
        return None
    return nn.Sequential(*mods).eval(), " ".join(specs), shape


def run_bin(a, args):
    env = dict(os.environ, NODEVICE_SELECT="1")
    return subprocess.run([a.bin, *args, *a.extra], capture_output=True, text=True, env=env)


def scaled_err(y, ref):
    """Max error over the finite reference values, scaled by their largest
    magnitude; NaN and infinities must sit where PyTorch has them."""
    if not ref.size:
        return 0.0
    fin, nan = np.isfinite(ref), np.isnan(ref)
    inf = ~fin & ~nan
    if not np.array_equal(np.isnan(y), nan) or not np.array_equal(y[inf], ref[inf]):
        return float("inf")
    if not fin.any():
        return 0.0
    return float(np.abs(y[fin] - ref[fin]).max()) / max(1.0, float(np.abs(ref[fin]).max()))


def attention_cases(a, rng, tmp):
    failures, worst = 0, 0.0
    for n in range(1, a.cases + 1):
        heads = rng.choice([1, 2, 3, 4, 8])
        d = heads * rng.choice([1, 2, 4, 5, 8, 16])
        b, l = rng.randint(1, 3), rng.randint(1, 40)
        s = rng.randint(1, 40) if rng.random() < 0.5 else None
        causal, masked, bias = rng.random() < 0.3, rng.random() < 0.4, rng.random() < 0.8
        m = nn.MultiheadAttention(d, heads, batch_first=True, bias=bias)
        with torch.no_grad():
            for p in m.parameters():
                p.uniform_(-0.4, 0.4)
        np.savez(f"{tmp}/mha.npz", **{k: v.numpy() for k, v in m.state_dict().items()})
        x = torch.rand(b, l, d) * 2 - 1
        kv = torch.rand(b, s, d) * 2 - 1 if s else x
        sk = s or l
        np.save(f"{tmp}/x.npy", x.numpy())
        args = ["attention", "--params", f"{tmp}/mha.npz", "--heads", str(heads), "--input-npy", f"{tmp}/x.npy",
                "--output-npy", f"{tmp}/y.npy", "--reps", "1"]
        if s:
            np.save(f"{tmp}/kv.npy", kv.numpy())
            args += ["--kv-npy", f"{tmp}/kv.npy"]
        kpm = None
        if masked:
            kpm = torch.rand(b, sk) < 0.4
            kpm[:, 0] = False  # PyTorch gives NaN for a row with no key, wgsl-nn zeros
            np.save(f"{tmp}/m.npy", kpm.numpy())
            args += ["--key-padding-mask-npy", f"{tmp}/m.npy"]
        am = None
        if causal:
            args.append("--causal")
            am = torch.triu(torch.ones(l, sk, dtype=torch.bool), 1)
        with torch.no_grad():
            ref, _ = m.double()(x.double(), kv.double(), kv.double(), key_padding_mask=kpm, attn_mask=am,
                                need_weights=False)
        desc = f"B {b} L {l} S {sk} D {d} H {heads} causal {causal} mask {masked} bias {bias}"
        r = run_bin(a, args)
        if r.returncode != 0:
            failures += 1
            print(f"[{n}] FAIL (exit {r.returncode}) {desc}\n{r.stderr.strip()}")
            continue
        err = scaled_err(np.load(f"{tmp}/y.npy"), ref.numpy())
        worst = max(worst, err)
        failures += err > 1e-5
        print(f"[{n}] {'ok  ' if err <= 1e-5 else 'FAIL'} max err {err:.2e}: {desc}")
    return failures, worst


def rnn_cases(a, rng, tmp):
    failures, worst = 0, 0.0
    for n in range(1, a.cases + 1):
        kind = rng.choice(["rnn", "gru", "lstm"])
        i, h, layers = rng.randint(1, 20), rng.randint(1, 40), rng.choice([1, 1, 2, 3])
        b, t = rng.randint(1, 4), rng.randint(1, 30)
        tm, unbatched, bias = rng.random() < 0.3, rng.random() < 0.15, rng.random() < 0.8
        with_h0, with_c0 = rng.random() < 0.5, rng.random() < 0.5
        cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
        m = cls(i, h, num_layers=layers, batch_first=not tm, bias=bias)
        np.savez(f"{tmp}/r.npz", **{k: v.numpy() for k, v in m.state_dict().items()})
        shape = (t, i) if unbatched else ((t, b, i) if tm else (b, t, i))
        x = torch.rand(*shape) * 2 - 1
        np.save(f"{tmp}/x.npy", x.numpy())
        sshape = (layers, h) if unbatched else (layers, b, h)
        h0, c0 = torch.rand(*sshape) * 2 - 1, torch.rand(*sshape) * 2 - 1
        args = ["rnn", "--params", f"{tmp}/r.npz", "--input-npy", f"{tmp}/x.npy", "--output-npy", f"{tmp}/y.npy",
                "--hn-npy", f"{tmp}/h.npy", "--reps", "1"]
        if tm:
            args.append("--time-major")
        zeros = torch.zeros(*sshape, dtype=torch.float64)
        state = None
        if with_h0:
            np.save(f"{tmp}/h0.npy", h0.numpy())
            args += ["--h0-npy", f"{tmp}/h0.npy"]
        if kind == "lstm":
            args += ["--cn-npy", f"{tmp}/c.npy"]
            if with_c0:
                np.save(f"{tmp}/c0.npy", c0.numpy())
                args += ["--c0-npy", f"{tmp}/c0.npy"]
            if with_h0 or with_c0:
                state = (h0.double() if with_h0 else zeros, c0.double() if with_c0 else zeros)
        elif with_h0:
            state = h0.double()
        with torch.no_grad():
            y, st = m.double()(x.double(), state)
        desc = f"{kind} I {i} H {h} layers {layers} x {list(shape)} time-major {tm} bias {bias} h0 {with_h0}"
        if kind == "lstm":
            desc += f" c0 {with_c0}"
        r = run_bin(a, args)
        if r.returncode != 0:
            failures += 1
            print(f"[{n}] FAIL (exit {r.returncode}) {desc}\n{r.stderr.strip()}")
            continue
        pairs = [("y", y), ("h_n", st[0] if kind == "lstm" else st)]
        if kind == "lstm":
            pairs.append(("c_n", st[1]))
        files = {"y": "y.npy", "h_n": "h.npy", "c_n": "c.npy"}
        errs = []
        for name, ref in pairs:
            got = np.load(f"{tmp}/{files[name]}")
            errs.append(scaled_err(got, ref.numpy()) if got.shape == tuple(ref.shape) else float("inf"))
        err = max(errs)
        worst = max(worst, err)
        failures += err > 1e-5
        print(f"[{n}] {'ok  ' if err <= 1e-5 else 'FAIL'} max err {err:.2e} (y, h_n[, c_n]): {desc}")
    return failures, worst


def pool_cases(a, rng, tmp):
    """Tiny inputs where windows hang past the padded input (ceil mode) or
    do not fit at all: every output, and every refusal, must be PyTorch's."""
    failures, worst = 0, 0.0
    for n in range(1, a.cases + 1):
        h, w, k, s = rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 4)
        p, ceil = rng.randint(0, k // 2), rng.random() < 0.7
        if rng.random() < 0.5:
            d = rng.choice([1, 2])
            mod = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
            spec = f"maxpool(k={k},s={s},p={p},d={d},ceil_mode={str(ceil).lower()})"
        else:
            cip = rng.random() < 0.5
            mod = nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=cip)
            spec = f"avgpool(k={k},s={s},p={p},ceil_mode={str(ceil).lower()},count_include_pad={str(cip).lower()})"
        x = torch.rand(1, 2, h, w) * 2 - 1
        try:
            ref = mod(x.double()).numpy()
        except RuntimeError:
            ref = None
        np.save(f"{tmp}/x.npy", x.numpy())
        r = run_bin(a, ["conv", "--layers", spec, "--input-npy", f"{tmp}/x.npy", "--output-npy", f"{tmp}/y.npy",
                        "--reps", "1"])
        desc = f"{spec} on {h}x{w}"
        if ref is None or ref.size == 0:
            ok = r.returncode == 2
            print(f"[{n}] {'ok  ' if ok else 'FAIL'} PyTorch refuses, wgsl-nn exit {r.returncode}: {desc}")
        elif r.returncode != 0:
            ok = False
            print(f"[{n}] FAIL (exit {r.returncode}) {desc}\n{r.stderr.strip()}")
        else:
            y = np.load(f"{tmp}/y.npy")
            err = scaled_err(y, ref) if y.shape == ref.shape else float("inf")
            worst, ok = max(worst, err), err <= 1e-6
            print(f"[{n}] {'ok  ' if ok else 'FAIL'} max err {err:.2e}: {desc}")
        failures += not ok
    return failures, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--op", choices=["conv", "pool", "attention", "rnn", "all"], default="all")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bin", default="target/release/wgsl-nn")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    print(f"seed {a.seed}, {a.cases} cases per op, torch {torch.__version__}")
    total = 0
    for op, cases in [("conv", conv_cases), ("pool", pool_cases), ("attention", attention_cases), ("rnn", rnn_cases)]:
        if a.op not in (op, "all"):
            continue
        rng = random.Random(a.seed)
        torch.manual_seed(a.seed)
        with tempfile.TemporaryDirectory() as tmp:
            failures, worst = cases(a, rng, tmp)
        print(f"{op}: {a.cases - failures}/{a.cases} agree with PyTorch (worst scaled max error {worst:.2e}, bound 1e-5)")
        total += failures
    sys.exit(1 if total else 0)


def conv_cases(a, rng, tmp):
    failures, worst = 0, 0.0
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
        cmd = ["conv", "--layers", spec, "--params", f"{tmp}/p.npz",
               "--input-npy", f"{tmp}/x.npy", "--output-npy", f"{tmp}/y.npy", "--reps", "1"]
        r = run_bin(a, cmd)
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
        err = scaled_err(y, ref)
        worst = max(worst, err)
        ok = err <= 1e-5
        failures += not ok
        print(f"[{done}] {'ok  ' if ok else 'FAIL'} max err {err:.2e} in {shape}->{tuple(ref.shape)}: {spec}")
    return failures, worst


if __name__ == "__main__":
    main()
