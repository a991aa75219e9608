"""Regenerate the float16 expectations of the nn.LSTM fixture that
tests/cli.rs compares `wgsl-nn rnn --dtype f16` with. Needs torch.

Run from this folder, after make_rnn_fixture.py: python3 make_rnn_f16_fixture.py
Every input (x, h0, c0, the state_dict) is rounded to float16 as the GPU
holds it; then
- lstm_{y,hn,cn}.f16in64.npy: PyTorch's float64 forward of those rounded
  numbers (the reference a float16 run is compared with);
- lstm_y.torch16.npy: PyTorch's own float16 run (CPU) of the same module,
  to show how far a peer's float16 lands from the same reference.
"""
import numpy as np
import torch
import torch.nn as nn

p = dict(np.load("lstm_params.npz"))
x, h0, c0 = (np.load(f"lstm_{n}.npy") for n in ("x", "h0", "c0"))
I, H, L = x.shape[2], h0.shape[2], h0.shape[0]
half = lambda a: a.astype(np.float16)
m = nn.LSTM(I, H, num_layers=L, batch_first=True)
m.load_state_dict({k: torch.from_numpy(half(v).astype(np.float32)) for k, v in p.items()})
xs = [torch.from_numpy(half(a).astype(np.float64)) for a in (x, h0, c0)]
with torch.no_grad():
    y, (hn, cn) = m.double()(xs[0], (xs[1], xs[2]))
    for name, v in [("y", y), ("hn", hn), ("cn", cn)]:
        np.save(f"lstm_{name}.f16in64.npy", v.numpy())
    y16, _ = m.half()(*(lambda a, b, c: (a, (b, c)))(*[t.half() for t in xs]))
    np.save("lstm_y.torch16.npy", y16.float().numpy())
rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))
print("torch float16 rel L2 vs float64 of the rounded inputs:",
      rel(y16.double().numpy(), y.numpy()))
