"""Regenerate the nn.MultiheadAttention fixture that tests/cli.rs compares
`wgsl-nn attention --params ... --output-npy` with. Needs torch.

Run from this folder: python3 make_mha_fixture.py
Cross-attention, 4 heads, a key padding mask (key 0 always visible, so no
query row is fully masked: PyTorch gives NaN there, wgsl-nn zeros).
"""
import numpy as np
import torch
import torch.nn as nn

SEED = 2026
torch.manual_seed(SEED)
print("seed", SEED)
D, H, B, L, S = 16, 4, 2, 7, 5
m = nn.MultiheadAttention(D, H, batch_first=True).double()
with torch.no_grad():
    for p in m.parameters():
        p.uniform_(-0.5, 0.5)
params = {k: v.float().numpy() for k, v in m.state_dict().items()}
x = (torch.rand(B, L, D) * 2 - 1).float()
kv = (torch.rand(B, S, D) * 2 - 1).float()
mask = torch.rand(B, S) < 0.4
mask[:, 0] = False
with torch.no_grad():
    # Exactly the float32 weights saved, computed in float64.
    m.load_state_dict({k: torch.from_numpy(v).double() for k, v in params.items()})
    y, _ = m(x.double(), kv.double(), kv.double(), key_padding_mask=mask, need_weights=False)
np.savez("mha_params.npz", **params)
np.save("mha_x.npy", x.numpy())
np.save("mha_kv.npy", kv.numpy())
np.save("mha_mask.npy", mask.numpy())
np.save("mha_expected.npy", y.numpy())
