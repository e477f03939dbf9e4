"""Features from Python: encode a dataset (or a folder of JPEGs) with an
encoder written by `cldim export` and print one line per image: its label,
then its Y vector (the same output as examples/c/encode.c).

    pip install ./python        # after cmake --install (or CLDIM_LIBRARY=build/libcldim.so)
    python3 encode.py encoder.safetensors /usr/share/datasets/fashion-mnist 5
"""
import sys

import numpy as np

import cldim

path, data, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
print([d["name"] for d in cldim.devices()], file=sys.stderr)
enc = cldim.Encoder(path, device="auto")

# A whole split, streamed in batches, as NumPy arrays
for feats, labels in enc.extract(data, layer="Y", split="test", limit=count):
    for label, y in zip(labels, feats):
        print(label, " ".join(f"{v:.9g}" for v in y))

# Or images you already have: float32 [N, C, S, S], preprocessed as in training
images = np.zeros((2, *enc.input_shape), dtype=np.float32)
print(enc.encode(images, layer="fc").shape, file=sys.stderr)  # (2, 1024)
