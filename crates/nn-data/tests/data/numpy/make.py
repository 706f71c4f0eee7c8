"""Writes the NumPy files the nn-data tests read, with NumPy itself (2.4 when made):
    python3 -m venv /tmp/np && /tmp/np/bin/pip install numpy
    /tmp/np/bin/python crates/nn-data/tests/data/numpy/make.py
"""
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
x = np.array([[0.5, -1.0], [2.0, 3.25], [1e-3, 7.0]])
np.save(os.path.join(here, "x_f32.npy"), x.astype(np.float32))
np.save(os.path.join(here, "x_f64_fortran.npy"), np.asfortranarray(x))
np.save(os.path.join(here, "x_f64_big_endian.npy"), x.astype(">f8"))
np.save(os.path.join(here, "x_i16.npy"), np.array([[-3, 4], [5, -32768], [32767, 0]], dtype=np.int16))
np.save(os.path.join(here, "y_i64.npy"), np.array([0, 2, 1], dtype=np.int64))
np.save(os.path.join(here, "y_u8_column.npy"), np.array([[1], [0], [1]], dtype=np.uint8))
np.save(os.path.join(here, "x_3d.npy"), np.zeros((2, 2, 2), dtype=np.float32))
np.save(os.path.join(here, "names.npy"), np.array(["a", "b"]))
np.savez_compressed(os.path.join(here, "data.npz"), x=x.astype(np.float32), y=np.array([0, 2, 1]))
np.savez(os.path.join(here, "stored.npz"), x=x)
