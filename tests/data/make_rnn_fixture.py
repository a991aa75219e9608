"""Regenerate the nn.LSTM fixture that tests/cli.rs compares
`wgsl-nn rnn --params ... --output-npy ...` with. Needs torch.

Run from this folder: python3 make_rnn_fixture.py
Two stacked layers, batch_first, h0 and c0 given; expected y, h_n, c_n in
float64 from exactly the float32 numbers saved.
"""
import numpy as np
import torch
import torch.nn as nn

SEED = 2027
torch.manual_seed(SEED)
print("seed", SEED)
I, H, L, B, T = 3, 5, 2, 2, 6
m = nn.LSTM(I, H, num_layers=L, batch_first=True)
params = {k: v.numpy() for k, v in m.state_dict().items()}
x = torch.rand(B, T, I) * 2 - 1
h0 = torch.rand(L, B, H) * 2 - 1
c0 = torch.rand(L, B, H) * 2 - 1
m = m.double()
with torch.no_grad():
    y, (h_n, c_n) = m(x.double(), (h0.double(), c0.double()))
np.savez("lstm_params.npz", **params)
for name, v in [("lstm_x", x), ("lstm_h0", h0), ("lstm_c0", c0)]:
    np.save(f"{name}.npy", v.numpy())
for name, v in [("lstm_y", y), ("lstm_hn", h_n), ("lstm_cn", c_n)]:
    np.save(f"{name}.npy", v.numpy())
