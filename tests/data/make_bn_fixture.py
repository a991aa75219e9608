"""Regenerate the Conv-BatchNorm-ReLU fixture that tests/cli.rs compares
`wgsl-nn conv --params ... --output-npy` with. Needs torch.

Run from this folder: python3 make_bn_fixture.py
nn.Sequential(Conv2d(3, 6, 3, padding=1, bias=False), BatchNorm2d(6),
ReLU(), Conv2d(6, 6, 3, groups=6), BatchNorm2d(6, eps=1e-3, affine=False))
in eval mode with random running statistics; the state_dict keeps
num_batches_tracked (an int64 scalar) as PyTorch saves it.
"""
import numpy as np
import torch
import torch.nn as nn

SEED = 2028
torch.manual_seed(SEED)
print("seed", SEED)
m = nn.Sequential(
    nn.Conv2d(3, 6, 3, padding=1, bias=False),
    nn.BatchNorm2d(6),
    nn.ReLU(),
    nn.Conv2d(6, 6, 3, groups=6),
    nn.BatchNorm2d(6, eps=1e-3, affine=False),
)
with torch.no_grad():
    for bn in (m[1], m[4]):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.2, 2.0)
        bn.num_batches_tracked.fill_(123)
    m[1].weight.uniform_(-1.5, 1.5)
    m[1].bias.uniform_(-0.5, 0.5)
m.eval()
x = torch.rand(2, 3, 9, 8) * 2 - 1
with torch.no_grad():
    y = m.double()(x.double())
np.savez("bn_params.npz", **{k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in m.state_dict().items()})
np.save("bn_x.npy", x.numpy())
np.save("bn_expected.npy", y.numpy())
