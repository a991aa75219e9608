"""Float16 fixtures for `wgsl-nn run --dtype f16` (tests/onnx_half.rs).

Rebuilds the models of make_onnx_fixtures.py with the same seeds and the
same randomisation order (so the weights are those of the committed
NAME.onnx files; checked against NAME.torch64.npy), then writes, for the
models below:

  NAME.f16in64.npy  PyTorch's float16-input, float64-computed output: every
                    parameter and buffer and the input rounded to float16,
                    then the forward pass in float64 (what a float16 run
                    should approximate);
  NAME.torch16.npy  PyTorch's own float16 run on the CPU (model.half() on
                    x.half()): the peer's float16 error, which the tests
                    use to scale their tolerance;
  transformer_tiny_half.onnx   transformer_tiny exported after model.half()
                    (float16 initializers and input), for the loader's
                    float16 path.

Needs torch, torchvision, onnx, onnxruntime (not CI). Run from anywhere:
  venv/bin/python tests/data/onnx/make_f16_fixtures.py
"""
import copy
import os

import numpy as np
import torch

import make_onnx_fixtures as base

NAMES = ["resnet_tiny", "mobilenet_tiny", "transformer_tiny", "vit_tiny"]


def rel_l2(a, b):
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-300))


def main():
    torch.manual_seed(base.SEED)
    np.random.seed(base.SEED)
    gen = torch.Generator().manual_seed(base.SEED)
    for m in base.models(gen):
        base.randomise_bn(m.module, gen)
        base.randomise_constant_params(m.module, gen)
        m.module.eval()
        if m.name not in NAMES:
            continue
        out = os.path.join(base.HERE, m.name)
        y64 = base.torch64(m.module, m.x)
        want = np.load(out + ".torch64.npy")
        assert np.allclose(y64, want, rtol=1e-12, atol=1e-12), f"{m.name}: weights differ from the committed model"
        half = copy.deepcopy(m.module).half().eval()
        with torch.no_grad():
            y16in64 = copy.deepcopy(half).double()(m.x.half().double()).numpy()
            try:
                y16 = half(m.x.half()).float().numpy()
            except RuntimeError as e:  # an op with no CPU float16 kernel
                print(f"{m.name}: no CPU float16 run ({e})")
                y16 = None
        np.save(out + ".f16in64.npy", y16in64)
        line = f"{m.name}: float16-rounded weights move the f64 output by rel L2 {rel_l2(y16in64, y64):.2e}"
        if y16 is not None:
            np.save(out + ".torch16.npy", y16.astype(np.float32))
            line += f"; PyTorch float16 (CPU) vs float16-input f64: rel L2 {rel_l2(y16, y16in64):.2e}"
        print(line)
        if m.name == "transformer_tiny":
            path = os.path.join(base.HERE, "transformer_tiny_half.onnx")
            torch.onnx.export(half, (m.x.half(),), path, dynamo=False, opset_version=base.OPSET,
                              input_names=["input"], output_names=["output"])
            import onnx
            onnx.checker.check_model(onnx.load(path), full_check=True)
            print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
