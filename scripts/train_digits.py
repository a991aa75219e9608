#!/usr/bin/env python3
"""Train the small digits CNN that `wgsl-nn run` is tested on and write
tests/data/digits/.

Data: scikit-learn's bundled load_digits() (1797 8x8 images, values 0..16,
no download), scaled to [0,1] (divided by 16), a seeded stratified 70/30
split. Model: Conv2d(1,8,3,pad 1), ReLU, Conv2d(8,16,3,pad 1), BatchNorm2d,
ReLU, MaxPool2d(2), Flatten, Linear(16*4*4,10); Adam, 30 epochs, batch 32.

Writes tests/data/digits/:
  digits.onnx         opset 17, TorchScript exporter (dynamo=False), input
                      `input` [N,1,8,8] float32, output `output` [N,10]
                      logits, both with a dynamic batch axis
  test_x.npy          float32 [n_test,1,8,8]
  test_y.npy          int64 [n_test]
  torch_logits.npy    float64 [n_test,10]: the float64 copy of the trained
                      model (eval) on test_x
  info.json           {seed, train_size, test_size, torch_test_accuracy, epochs,
                       ort_test_accuracy, ort_rel_l2, min_top2_logit_margin (the
                       smallest gap between the two largest float64 logits of a
                       test image), ops, input_shape, output_shape}
Needs torch, onnx, onnxruntime, scikit-learn, numpy (not part of CI).
Usage: python3 scripts/train_digits.py [--out tests/data/digits]
"""
import argparse
import copy
import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 1234
EPOCHS = 30
warnings.filterwarnings("ignore")


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(root, "tests", "data", "digits"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    print(f"seeds: torch.manual_seed({SEED}), np.random.seed({SEED}), train_test_split random_state={SEED}")
    torch.set_num_threads(min(2, torch.get_num_threads()))

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]  # [1797,1,8,8] in [0,1]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=SEED)
    print(f"train {len(y_tr)}, test {len(y_te)}")

    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    lossf = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    g = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(yt), generator=g)
        total = 0.0
        for i in range(0, len(yt), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = lossf(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        if epoch % 5 == 4 or epoch == EPOCHS - 1:
            model.eval()
            with torch.no_grad():
                acc = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
            print(f"epoch {epoch + 1:2d} loss {total / len(yt):.4f} test acc {acc:.4f}")
    model.eval()

    onnx_path = os.path.join(args.out, "digits.onnx")
    torch.onnx.export(model, (torch.from_numpy(x_te[:2]),), onnx_path, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    ops = sorted({n.op_type for n in onnx.load(onnx_path).graph.node})

    m64 = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        logits64 = m64(torch.from_numpy(x_te).double()).numpy()
    acc64 = float((logits64.argmax(1) == y_te).mean())
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    yo = sess.run(["output"], {"input": x_te})[0]
    ort_acc = float((yo.argmax(1) == y_te).mean())
    rel = float(np.linalg.norm(yo.astype(np.float64) - logits64) / np.linalg.norm(logits64))
    agree = int((yo.argmax(1) == logits64.argmax(1)).sum())
    top2 = np.sort(logits64, axis=1)
    margin = float((top2[:, -1] - top2[:, -2]).min())  # an f32 runner's argmax can only flip below this
    # a batch of 1 through the dynamic axis gives the same row
    y1 = sess.run(["output"], {"input": x_te[3:4]})[0]
    assert np.allclose(y1, yo[3:4], rtol=1e-5, atol=1e-5)

    np.save(os.path.join(args.out, "test_x.npy"), x_te.astype(np.float32))
    np.save(os.path.join(args.out, "test_y.npy"), y_te.astype(np.int64))
    np.save(os.path.join(args.out, "torch_logits.npy"), logits64.astype(np.float64))
    info = {"seed": SEED, "train_size": int(len(y_tr)), "test_size": int(len(y_te)), "torch_test_accuracy": acc64,
            "epochs": EPOCHS, "ort_test_accuracy": ort_acc, "ort_rel_l2": rel, "min_top2_logit_margin": margin, "ops": ops,
            "input_shape": ["batch", 1, 8, 8], "output_shape": ["batch", 10]}
    with open(os.path.join(args.out, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(f"torch float64 test accuracy {acc64:.4f}; onnxruntime {ort_acc:.4f} (argmax agrees on {agree}/{len(y_te)}), "
          f"ORT vs torch64 rel L2 {rel:.3e}; min top-2 logit margin {margin:.4f}; ops {' '.join(ops)}")
    total = 0
    for n in sorted(os.listdir(args.out)):
        s = os.path.getsize(os.path.join(args.out, n))
        total += s
        print(f"  {n:20s} {s:8d}")
    print(f"  total {total} bytes")
    assert total < 200 * 1024


if __name__ == "__main__":
    main()
