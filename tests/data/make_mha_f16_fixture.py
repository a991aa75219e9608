"""The float16 twin of the nn.MultiheadAttention fixture: tests/cli.rs runs
`wgsl-nn attention --dtype f16` on mha_params.npz, mha_x.npy, mha_kv.npy and
mha_mask.npy and compares with mha_f16_expected.npy: PyTorch in float64 on
the inputs and weights rounded to float16 (what the GPU reads), the
float16-input, float64-computed result. Needs torch.

Run from this folder, after make_mha_fixture.py: python3 make_mha_f16_fixture.py
"""
import numpy as np
import torch
import torch.nn as nn

params = dict(np.load("mha_params.npz"))
x, kv, mask = np.load("mha_x.npy"), np.load("mha_kv.npy"), np.load("mha_mask.npy")
D = x.shape[-1]
H = 4
half = lambda a: torch.from_numpy(a.astype(np.float16).astype(np.float64))
m = nn.MultiheadAttention(D, H, batch_first=True).double()
with torch.no_grad():
    m.load_state_dict({k: half(v) for k, v in params.items()})
    y, _ = m(half(x), half(kv), half(kv), key_padding_mask=torch.from_numpy(mask), need_weights=False)
np.save("mha_f16_expected.npy", y.numpy())
print("mha_f16_expected.npy", y.shape)
