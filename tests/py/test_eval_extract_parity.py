"""cldim-test: timeout=300
`cldim extract` on a checkpoint from `cldim train --steps 2` gives the same
features as the PyTorch reference (tools/pytorch/cldim_torch.py, model.eval())
on the same images, for every representation; np.load reads the files."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
except ImportError:
    # CTest reports 77 as skipped; CI (CLDIM_REQUIRE_TORCH=1) makes it a failure
    print("no torch for this python", file=sys.stderr)
    sys.exit(1 if os.environ.get("CLDIM_REQUIRE_TORCH") == "1" else 77)

src = os.environ.get("CLDIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
cli = os.environ.get("CLDIM_CLI")
if not cli or not os.path.exists(cli):
    print("CLDIM_CLI not set", file=sys.stderr)
    sys.exit(77)
sys.path.insert(0, os.path.join(src, "tools", "pytorch"))
import cldim_torch  # noqa: E402

N, S = 29, 28
rng = np.random.default_rng(3)
tmp = tempfile.mkdtemp(prefix="cldim-eval-parity-")
failures = 0
try:
    def idx(path, arr):
        with open(path, "wb") as f:
            f.write(struct.pack(">BBBB", 0, 0, 8, arr.ndim))
            f.write(struct.pack(">" + "I" * arr.ndim, *arr.shape))
            f.write(arr.astype(np.uint8).tobytes())

    data = os.path.join(tmp, "data")
    os.makedirs(data)
    train = rng.integers(0, 256, (40, S, S))
    test = rng.integers(0, 256, (N, S, S))
    idx(os.path.join(data, "train-images-idx3-ubyte"), train)
    idx(os.path.join(data, "train-labels-idx1-ubyte"), np.arange(40) % 10)
    idx(os.path.join(data, "t10k-images-idx3-ubyte"), test)
    idx(os.path.join(data, "t10k-labels-idx1-ubyte"), np.arange(N) % 7)

    run = os.path.join(tmp, "run")
    subprocess.run([cli, "train", "--data", data, "--steps", "3", "--batch", "8",
                    "--mi-units", "16", "--out", run, "--quiet", "--ckpt-every", "0"],
                   check=True)
    ckpt = os.path.join(run, open(os.path.join(run, "latest")).read().strip())

    model = cldim_torch.DIM("basic28", in_channels=1, y_dim=64, mi_units=16,
                           global_critic=False)  # the IDX defaults: basic28, DIM(L)
    cldim_torch.load_checkpoint(model, ckpt)
    model.eval()
    x = torch.from_numpy(((test / 255.0 - 0.5) / 0.5).astype(np.float32)).reshape(N, 1, S, S)
    with torch.no_grad():
        o = model.encoder(x)
    want = {"conv": o["conv"].flatten(1), "fc": o["fc"], "Y": o["Y"],
            "local": o["M"].mean((2, 3))}
    for r, w in want.items():
        out = os.path.join(tmp, f"{r}.npy")
        subprocess.run([cli, "extract", "--checkpoint", run, "--data", data, "--split", "test",
                        "--repr", r, "--batch", "8", "--out", out, "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        got = np.load(out)
        labels = np.load(os.path.join(tmp, f"{r}.labels.npy"))
        paths = open(os.path.join(tmp, f"{r}.paths.txt")).read().splitlines()
        w = w.numpy()
        if got.dtype != np.float32 or got.shape != w.shape:
            print(f"{r}: {got.dtype} {got.shape}, want float32 {w.shape}", file=sys.stderr)
            failures += 1
            continue
        if labels.dtype != np.int64 or not np.array_equal(labels, np.arange(N) % 7):
            print(f"{r}: labels {labels.dtype} {labels[:8]}", file=sys.stderr)
            failures += 1
        if len(paths) != N or "index 0" not in paths[0]:
            print(f"{r}: {len(paths)} paths, first {paths[:1]}", file=sys.stderr)
            failures += 1
        err = np.abs(got - w)
        lim = 1e-4 + 1e-3 * np.abs(w)
        if not (err <= lim).all():
            i = int(np.argmax(err - lim))
            print(f"{r}: {(err > lim).sum()} of {err.size} differ; worst at {i}: cldim "
                  f"{got.flat[i]:.7g} torch {w.flat[i]:.7g}", file=sys.stderr)
            failures += 1
        else:
            print(f"{r}: {w.shape} max abs err {err.max():.3g}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
