"""Regenerate the tiny .npy/.npz fixtures used by src/npy.rs tests.

Run from this folder: python3 make_fixtures.py
"""
import numpy as np

np.save("small.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
np.save("f64_fortran.npy", np.asfortranarray(np.arange(6.0).reshape(2, 3)))
np.save("big_endian_f4.npy", np.arange(6, dtype=">f4").reshape(3, 2))
np.save("int64.npy", np.arange(-2, 4, dtype=np.int64).reshape(2, 3))

params = {
    "0.weight": np.arange(18, dtype=np.float32).reshape(2, 1, 3, 3),
    "0.bias": np.arange(2, dtype=np.float32),
    "2.weight": np.arange(50, dtype=np.float32).reshape(1, 2, 5, 5),
    "2.bias": np.arange(1, dtype=np.float32),
}
np.savez("params.npz", **params)
np.savez_compressed("params_compressed.npz", **params)

# Lowering zipfile's limits makes it use every ZIP64 structure (central
# directory extras, ZIP64 end record and locator) that a >2 GiB np.savez
# would, so the tiny fixture covers those paths; the comment and directory
# entry exercise the end-record search and directory skipping.
import zipfile

zipfile.ZIP64_LIMIT = 0
zipfile.ZIP_FILECOUNT_LIMIT = 0
np.savez("zip64.npz", a=np.arange(6, dtype=np.float32).reshape(2, 3), b=np.arange(3, dtype=np.int64))
with zipfile.ZipFile("zip64.npz", "a") as z:
    z.mkdir("dir")
    z.comment = b"written by make_fixtures.py"

# A small nn.Sequential-style stack computed by numpy alone, independent of
# wgsl-nn's code: conv(1->2, k3, p1), ReLU, maxpool(k2), conv(2->3, k3, s2).
# tests/cli.rs runs `wgsl-nn conv --params seq_params.npz --input-npy
# seq_input.npy --output-npy ...` and compares with seq_expected.npy.
rng = np.random.default_rng(2024)


def conv2d(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    co, ci, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, co, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("ncij,ocij->no", patch, w) + b
    return out


def maxpool2(x):
    n, c, h, w = x.shape
    return x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


x = rng.uniform(-1, 1, (1, 1, 12, 10)).astype(np.float32)
seq = {
    "0.weight": rng.uniform(-0.5, 0.5, (2, 1, 3, 3)).astype(np.float32),
    "0.bias": rng.uniform(-0.5, 0.5, (2,)).astype(np.float32),
    "3.weight": rng.uniform(-0.5, 0.5, (3, 2, 3, 3)).astype(np.float32),
    "3.bias": rng.uniform(-0.5, 0.5, (3,)).astype(np.float32),
}
h = conv2d(x.astype(np.float64), seq["0.weight"], seq["0.bias"], 1, 1)
h = maxpool2(np.maximum(h, 0))
y = conv2d(h, seq["3.weight"], seq["3.bias"], 2, 0)
np.save("seq_input.npy", x)
np.savez("seq_params.npz", **seq)
np.save("seq_expected.npy", y.astype(np.float32))
