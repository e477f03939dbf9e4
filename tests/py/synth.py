"""Helpers for the tests that need a small trained encoder: a synthetic
MNIST-like IDX dataset and a 3-step run exported with `cldim export`."""
import os
import struct
import subprocess

import numpy as np

S = 28


def idx_dataset(d, n_train=48, n_test=23, seed=5):
    """Writes train/t10k IDX files into d; returns the test images (uint8 [n, 28, 28])."""
    rng = np.random.default_rng(seed)

    def idx(path, arr):
        with open(path, "wb") as f:
            f.write(struct.pack(">BBBB", 0, 0, 8, arr.ndim))
            f.write(struct.pack(">" + "I" * arr.ndim, *arr.shape))
            f.write(arr.astype(np.uint8).tobytes())

    os.makedirs(d, exist_ok=True)
    test = rng.integers(0, 256, (n_test, S, S))
    idx(os.path.join(d, "train-images-idx3-ubyte"), rng.integers(0, 256, (n_train, S, S)))
    idx(os.path.join(d, "train-labels-idx1-ubyte"), np.arange(n_train) % 10)
    idx(os.path.join(d, "t10k-images-idx3-ubyte"), test)
    idx(os.path.join(d, "t10k-labels-idx1-ubyte"), np.arange(n_test) % 10)
    return test


def trained_export(cli, tmp):
    """(data dir, run dir, exported encoder path, test images)."""
    data = os.path.join(tmp, "data")
    test = idx_dataset(data)
    run = os.path.join(tmp, "run")
    subprocess.run([cli, "train", "--data", data, "--steps", "3", "--batch", "8",
                    "--mi-units", "16", "--out", run, "--quiet", "--ckpt-every", "0"],
                   check=True)
    enc = os.path.join(tmp, "enc.safetensors")
    subprocess.run([cli, "export", "--checkpoint", run, "--out", enc], check=True,
                   stdout=subprocess.DEVNULL)
    return data, run, enc, test


def extract(cli, ckpt, data, layer, out, split="test"):
    """`cldim extract` of a split: (features, labels)."""
    subprocess.run([cli, "extract", "--checkpoint", ckpt, "--data", data, "--split", split,
                    "--repr", layer, "--out", out, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    return np.load(out), np.load(out[:-4] + ".labels.npy")


def parse_lines(text):
    """The examples' output: 'label y0 y1 ...' per line -> (labels, features)."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    labels = np.array([int(r[0]) for r in rows], dtype=np.int64)
    feats = np.array([[float(v) for v in r[1:]] for r in rows], dtype=np.float64)
    return labels, feats
