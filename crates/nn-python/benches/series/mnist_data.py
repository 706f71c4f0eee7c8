"""The MNIST-format files as the series' scripts hold them: an int64 array per split,
each row the label followed by the 784 pixel values (what ``np.genfromtxt`` of the
series' CSV files gives), read here from the IDX files (gzip) of Fashion-MNIST."""

import gzip
import os

import numpy as np

DATA = os.environ.get("MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def _idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_data(split):
    prefix = "train" if split == "train" else "t10k"
    images = _idx(f"{prefix}-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.int64)
    labels = _idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return np.hstack([labels[:, None], images])


def to_col(vec):
    return vec.reshape((vec.size, 1))
