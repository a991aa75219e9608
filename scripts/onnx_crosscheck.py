#!/usr/bin/env python3
"""Cross-check `wgsl-nn run MODEL.onnx` on full-size models against PyTorch
float64 and onnxruntime.

Models (random weights; every BatchNorm gets random running statistics and
affine parameters, every parameter PyTorch initialises to one repeated value
gets random values around it, TransformerEncoder layers after the first are
re-initialised so they differ):
  resnet18      torchvision resnet18, input [2,3,224,224]
  mobilenet_v2  torchvision mobilenet_v2, input [2,3,224,224]
  transformer   nn.TransformerEncoder(TransformerEncoderLayer(128, 4, 256,
                batch_first=True, dropout=0.0), 2), input [2,32,128]
  vit           torchvision VisionTransformer(image_size=64, patch_size=8,
                num_layers=2, num_heads=4, hidden_dim=128, mlp_dim=256),
                input [2,3,64,64]
Each is exported (opset 17, dynamo=False, input `input`, output `output`)
into the work dir with its input NAME.x.npy, then
  BIN run NAME.onnx --input-npy NAME.x.npy --output-npy NAME.y.npy --json
(stdout kept as NAME.json; a failing or missing binary is reported and the
rest goes on), onnxruntime (CPU) and the float64 PyTorch forward pass run on
the same input, and a table compares both with torch64: rel L2, the ratio
wgsl-nn / ORT, max abs errors, and whether every "passed" field anywhere in
the JSON is true.

With --dtype f16 the comparison is for float16 runs: the reference is
PyTorch's float16-input, float64-computed forward pass (every parameter,
buffer and the input rounded to float16, then model.double()), the peer
is PyTorch's own float16 run on the CPU (model.half() on x.half()) in
place of onnxruntime, and wgsl-nn runs with --dtype f16; the ratio is then
wgsl-nn's rel L2 over PyTorch float16's.

Needs torch, torchvision, onnx, onnxruntime, numpy (not part of CI) and a
release build (cargo build --release). Usage:
    python3 scripts/onnx_crosscheck.py [--out /tmp/onnx_crosscheck] [--bin target/release/wgsl-nn]
        [--models resnet18,vit] [--table FILE.md] [--seed 5] [--dtype f16] [-- extra wgsl-nn args]
Exit status 1 if a wgsl-nn run failed or any "passed" field is false.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torchvision
from torchvision.models.vision_transformer import VisionTransformer

warnings.filterwarnings("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def randomise(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=gen) * 0.3)
            if isinstance(m, nn.TransformerEncoder):
                for layer in list(m.layers)[1:]:
                    for sub in layer.modules():
                        if isinstance(sub, nn.MultiheadAttention):
                            sub._reset_parameters()
                        elif hasattr(sub, "reset_parameters") and sub is not layer:
                            sub.reset_parameters()
        for _, p in model.named_parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                v = float(p.flatten()[0])
                scale = 0.2 if v != 0.0 else (0.02 if p.dim() == 2 and p.shape[0] >= 100 else 0.3)
                p.copy_(v + scale * torch.randn(p.shape, generator=gen))


def build(name):
    if name == "resnet18":
        return torchvision.models.resnet18(weights=None), (2, 3, 224, 224)
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None), (2, 3, 224, 224)
    if name == "transformer":
        layer = nn.TransformerEncoderLayer(128, 4, 256, batch_first=True, dropout=0.0)
        return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), (2, 32, 128)
    if name == "vit":
        return VisionTransformer(image_size=64, patch_size=8, num_layers=2, num_heads=4, hidden_dim=128,
                                 mlp_dim=256), (2, 3, 64, 64)
    raise SystemExit(f"unknown model {name}")


MODELS = ["resnet18", "mobilenet_v2", "transformer", "vit"]


def make(name, seed, batch=None):
    """Model NAME with its random weights for SEED (the same seed for a model
    whatever subset runs, and the same weights whatever the batch), in eval
    mode, and its seeded input; BATCH replaces the default batch of 2."""
    i = MODELS.index(name)
    torch.manual_seed(seed + i)
    np.random.seed(seed + i)
    gen = torch.Generator().manual_seed(seed + i)
    model, shape = build(name)
    if batch is not None:
        shape = (batch,) + tuple(shape[1:])
    randomise(model, gen)
    model.eval()
    x = torch.randn(*shape, generator=gen)
    return model, x, shape


def export(model, x, onnx_path):
    """The ONNX export every script here uses: opset 17, the TorchScript
    exporter, input `input`, output `output`, shapes fixed to x's."""
    torch.onnx.export(model, (x,), onnx_path, dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["output"])


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def passed_fields(obj, path="$"):
    """Every ("path", value) of a key named "passed", anywhere in the JSON."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "passed":
                out.append((f"{path}.{k}", v))
            out.extend(passed_fields(v, f"{path}.{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(passed_fields(v, f"{path}[{i}]"))
    return out


def fmt(v, spec=".2e"):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/onnx_crosscheck")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "wgsl-nn"))
    ap.add_argument("--models", default=",".join(MODELS), help="comma list from " + ",".join(MODELS))
    ap.add_argument("--table", help="write the table as markdown to this file")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per wgsl-nn run")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32",
                    help="f16: float16 runs against PyTorch's float16-input float64 pass, PyTorch float16 as the peer")
    ap.add_argument("extra", nargs="*", help="after --: extra arguments for wgsl-nn run")
    args = ap.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"unknown model {n}; choose from {','.join(MODELS)}")
    os.makedirs(args.out, exist_ok=True)
    have_bin = os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)
    if not have_bin and shutil.which(args.bin):
        args.bin, have_bin = shutil.which(args.bin), True
    if not have_bin:
        print(f"note: {args.bin} not found or not executable: the wgsl-nn columns stay empty "
              "(cargo build --release, or --bin PATH)")
    print(f"seed {args.seed} (torch.manual_seed, np.random.seed, torch.Generator); torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, onnxruntime {ort.__version__}; work dir {args.out}")

    rows, bad = [], False
    for name in names:
        model, x, shape = make(name, args.seed)
        base = os.path.join(args.out, name)
        onnx_path, x_path, y_path, json_path = base + ".onnx", base + ".x.npy", base + ".y.npy", base + ".json"
        t0 = time.time()
        export(model, x, onnx_path)
        ops = sorted({n.op_type for n in onnx.load(onnx_path).graph.node})
        np.save(x_path, x.numpy())
        print(f"\n{name}: exported {os.path.getsize(onnx_path) / 1e6:.1f} MB in {time.time() - t0:.1f}s, "
              f"input {list(shape)}, ops {' '.join(ops)}")

        half = args.dtype == "f16"
        with torch.no_grad():
            if half:
                y64 = copy.deepcopy(model).half().double()(x.half().double()).numpy()
            else:
                y64 = copy.deepcopy(model).double()(x.double()).numpy()
        np.save(base + (".f16in64.npy" if half else ".torch64.npy"), y64)
        t0 = time.time()
        if half:
            with torch.no_grad():
                yo = copy.deepcopy(model).half()(x.half()).float().numpy()
        else:
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            yo = sess.run(["output"], {"input": x.numpy()})[0]
        t_ort = time.time() - t0
        np.save(base + (".torch16.npy" if half else ".ort.npy"), yo)
        e_ort, m_ort = rel_l2(yo, y64), float(np.abs(yo - y64).max())
        print(f"  {'PyTorch float16 (CPU)' if half else 'onnxruntime'}: rel L2 {e_ort:.2e}, max abs {m_ort:.2e} ({t_ort:.2f}s); |torch64| max "
              f"{np.abs(y64).max():.3g}, output {list(y64.shape)}")

        e_w = m_w = t_w = None
        passed = "-"
        if have_bin:
            if os.path.exists(y_path):
                os.remove(y_path)
            cmd = [args.bin, "run", onnx_path, "--input-npy", x_path, "--output-npy", y_path, "--json"] + \
                (["--dtype", "f16"] if half else []) + args.extra
            t0 = time.time()
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                rc, out, err = p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired as ex:
                rc, out, err = "timeout", ex.stdout or "", f"timed out after {args.timeout}s"
                out = out.decode() if isinstance(out, bytes) else out
            t_w = time.time() - t0 if rc == 0 else None
            with open(json_path, "w") as f:
                f.write(out)
            if rc != 0:
                bad = True
                print(f"  wgsl-nn failed (exit {rc}): {' '.join(cmd)}\n  stderr:\n" +
                      "\n".join("    " + ln for ln in err.strip().splitlines()[-30:]))
            try:
                fields = passed_fields(json.loads(out)) if out.strip() else []
            except json.JSONDecodeError as ex:
                fields = []
                print(f"  wgsl-nn stdout is not JSON ({ex}); kept in {json_path}")
            if fields:
                ok = all(v is True for _, v in fields)
                passed = f"{'yes' if ok else 'NO'} ({sum(v is True for _, v in fields)}/{len(fields)})"
                bad |= not ok
                for pth, v in fields:
                    if v is not True:
                        print(f"  {pth} = {v!r}")
            elif rc == 0:
                passed = "no field"
            else:
                passed = "run failed"
            if rc == 0 and os.path.exists(y_path):
                yw = np.load(y_path)
                if yw.shape != y64.shape:
                    bad = True
                    print(f"  wgsl-nn output shape {list(yw.shape)} != {list(y64.shape)}")
                else:
                    e_w, m_w = rel_l2(yw, y64), float(np.abs(yw.astype(np.float64) - y64).max())
                    print(f"  wgsl-nn: rel L2 {e_w:.2e}, max abs {m_w:.2e} ({t_w:.2f}s wall, process start included)")
            elif rc == 0:
                bad = True
                print(f"  wgsl-nn exited 0 but wrote no {y_path}")
        ratio = None if e_w is None or e_ort == 0 else e_w / e_ort
        rows.append([name, f"{list(shape)}", fmt(e_ort), fmt(e_w), fmt(ratio, ".2f"), fmt(m_ort), fmt(m_w),
                     passed, fmt(t_ort, ".2f"), fmt(t_w, ".2f")])

    peer = "torch f16" if args.dtype == "f16" else "ORT"
    head = ["model", "input", f"{peer} rel L2", "wgsl-nn rel L2", "ratio", f"{peer} max abs", "wgsl-nn max abs",
            "passed", f"{peer} s", "wgsl-nn s"]
    widths = [max(len(str(r[j])) for r in rows + [head]) for j in range(len(head))]
    against = "PyTorch float16-input float64" if args.dtype == "f16" else "PyTorch float64"
    print(f"\nvs {against} (ratio = wgsl-nn rel L2 / {peer} rel L2):")
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    if args.table:
        with open(args.table, "w") as f:
            f.write("| " + " | ".join(head) + " |\n|" + "|".join("---" for _ in head) + "|\n")
            for r in rows:
                f.write("| " + " | ".join(str(c) for c in r) + " |\n")
        print(f"table written to {args.table}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
