"""Writes the PyTorch-layout state_dicts the nn-train tests read, with the safetensors and
numpy packages (the same bytes `safetensors.torch.save_file(model.state_dict())` writes
for an nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2))), and the outputs NumPy
computes for a few inputs:
    python3 -m venv /tmp/np && /tmp/np/bin/pip install numpy safetensors
    /tmp/np/bin/python crates/nn-train/tests/data/torch/make.py
"""
import os
import numpy as np
from safetensors.numpy import save_file

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
w0 = rng.normal(size=(4, 3))
b0 = rng.normal(size=4)
w2 = rng.normal(size=(2, 4))
b2 = rng.normal(size=2)
for dtype in ["float32", "float64", "float16"]:
    tensors = {
        "0.weight": w0.astype(dtype),
        "0.bias": b0.astype(dtype),
        "2.weight": w2.astype(dtype),
        "2.bias": b2.astype(dtype),
    }
    save_file(tensors, os.path.join(here, f"sequential_{dtype}.safetensors"), metadata={"format": "pt"})
    # The outputs of the stored (rounded) parameters, in float64: one row per input.
    p = {k: v.astype(np.float64) for k, v in tensors.items()}
    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [-3.0, 1.5, 0.25]])
    hidden = np.maximum(x @ p["0.weight"].T + p["0.bias"], 0.0)
    out = hidden @ p["2.weight"].T + p["2.bias"]
    np.savetxt(os.path.join(here, f"sequential_{dtype}.out.txt"), out, fmt="%.17g")
# A prefixed state_dict without biases (Linear(bias=False)) as a module attribute `net`.
save_file({"net.0.weight": w0.astype("float32"), "net.1.weight": w2.astype("float32")},
          os.path.join(here, "prefixed_no_bias.safetensors"))
