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
