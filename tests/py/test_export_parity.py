"""cldim-test: timeout=300
`cldim export` writes the encoder alone; every command accepts the file
(extract gives the same features as from the full checkpoint, bit for bit;
eval, neighbors and info run on it); the PyTorch reference loads it in one
call (cldim_torch.load_encoder, also straight into torch's load_state_dict
with strict=True) and its features equal `cldim extract`'s within 1e-5."""
import json
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
    sys.exit(77)

src = os.environ.get("CLDIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
cli = os.environ.get("CLDIM_CLI")
if not cli or not os.path.exists(cli):
    print("CLDIM_CLI not set", file=sys.stderr)
    sys.exit(77)
sys.path.insert(0, os.path.join(src, "tools", "pytorch"))
import cldim_torch  # noqa: E402

N, S = 23, 28
rng = np.random.default_rng(5)
tmp = tempfile.mkdtemp(prefix="cldim-export-")
failures = 0


def fail(msg):
    global failures
    print("FAIL: " + msg, file=sys.stderr)
    failures += 1


def run(*args, ok=True):
    p = subprocess.run([cli, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise SystemExit(f"cldim {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p


try:
    def idx(path, arr):
        with open(path, "wb") as f:
            f.write(struct.pack(">BBBB", 0, 0, 8, arr.ndim))
            f.write(struct.pack(">" + "I" * arr.ndim, *arr.shape))
            f.write(arr.astype(np.uint8).tobytes())

    data = os.path.join(tmp, "data")
    os.makedirs(data)
    test = rng.integers(0, 256, (N, S, S))
    idx(os.path.join(data, "train-images-idx3-ubyte"), rng.integers(0, 256, (48, S, S)))
    idx(os.path.join(data, "train-labels-idx1-ubyte"), np.arange(48) % 10)
    idx(os.path.join(data, "t10k-images-idx3-ubyte"), test)
    idx(os.path.join(data, "t10k-labels-idx1-ubyte"), np.arange(N) % 10)

    rundir = os.path.join(tmp, "run")
    run("train", "--data", data, "--encoder", "dcgan28", "--steps", "3", "--batch", "8",
        "--mi-units", "16", "--out", rundir, "--quiet", "--ckpt-every", "0")
    ckpt = os.path.join(rundir, open(os.path.join(rundir, "latest")).read().strip())
    enc = os.path.join(tmp, "enc.safetensors")
    run("export", "--checkpoint", rundir, "--out", enc)

    # The file: PyTorch names without the training model's prefix, every BN's
    # int64 num_batches_tracked (= steps), the architecture, no optimizer state.
    tensors, meta = cldim_torch.load_safetensors(enc)
    if meta.get("format") != "cldim-encoder-1" or meta.get("cfg.encoder") != "dcgan28":
        fail(f"metadata {meta.get('format')} {meta.get('cfg.encoder')}")
    arch = json.loads(meta["architecture"])
    if arch["M"] != [128, 7, 7] or arch["conv"] != [256, 3, 3] or arch["fc"] != 1024:
        fail(f"architecture {arch['M']} {arch['conv']} {arch['fc']}")
    if any(k.startswith(("opt.", "encoder.", "local", "prior", "global")) for k in tensors):
        fail(f"non-encoder tensors in the export: {sorted(tensors)[:6]}")
    nbt = tensors.get("bn1.num_batches_tracked")
    if nbt is None or nbt.dtype != torch.int64 or nbt.dim() != 0 or int(nbt) != 3:
        fail(f"bn1.num_batches_tracked = {nbt!r}")
    full, _ = cldim_torch.load_safetensors(ckpt)
    for k, v in tensors.items():
        if not k.endswith("num_batches_tracked") and not torch.equal(v, full["encoder." + k]):
            fail(f"{k} differs from the checkpoint's encoder.{k}")

    # strict load into the plain module, and the one-call loader
    plain = cldim_torch.make_encoder("dcgan28", 1, 64)
    plain.load_state_dict(tensors, strict=True)
    model = cldim_torch.load_encoder(enc).double()
    from_ckpt = cldim_torch.load_encoder(ckpt).double()
    x = torch.from_numpy((test / 255.0 - 0.5) / 0.5).reshape(N, 1, S, S)
    with torch.no_grad():
        o, o2 = model(x), from_ckpt(x)
    if not torch.equal(o["Y"], o2["Y"]):
        fail("load_encoder: the export and the checkpoint give different Y")
    want = {"conv": o["conv"].flatten(1), "fc": o["fc"], "Y": o["Y"],
            "local": o["M"].mean((2, 3))}
    for r, w in want.items():
        got = {}
        for name, path in (("export", enc), ("checkpoint", ckpt)):
            out = os.path.join(tmp, f"{name}-{r}.npy")
            run("extract", "--checkpoint", path, "--data", data, "--split", "test",
                "--repr", r, "--batch", "8", "--out", out, "--quiet")
            got[name] = np.load(out)
        if not np.array_equal(got["export"], got["checkpoint"]):
            fail(f"{r}: extract from the export differs from extract from the checkpoint")
        w = w.numpy()
        if got["export"].shape != w.shape:
            fail(f"{r}: shape {got['export'].shape}, torch {w.shape}")
            continue
        err = np.abs(got["export"].astype(np.float64) - w).max()
        print(f"{r}: {w.shape} max |cldim extract - torch| = {err:.3g}")
        if not err <= 1e-5:
            fail(f"{r}: cldim extract and torch differ by {err:.3g} (> 1e-5)")

    # every command takes the file
    p = run("info", enc)
    if "dcgan28" not in p.stdout or "no critics" not in p.stdout:
        fail(f"info: {p.stdout}")
    info = json.loads(run("info", "--json", enc).stdout)
    if info["kind"] != "encoder" or info["networks"][0]["params"] <= 0:
        fail(f"info --json: {info}")
    run("neighbors", "--checkpoint", enc, "--queries", "2", "--k", "3", "--limit", str(N),
        "--out", os.path.join(tmp, "nn.jpg"))
    if os.path.getsize(os.path.join(tmp, "nn.jpg")) < 100:
        fail("neighbors wrote no picture")
    p = run("eval", "--checkpoint", enc, "--train-limit", "48", "--test-limit", str(N),
            "--epochs", "1", "--ndm-steps", "0", "--no-baselines", "--repr", "Y", "--json")
    if '"Y"' not in p.stdout:
        fail(f"eval: {p.stdout[:300]}")

    # a broken file: a clear error naming it, no crash
    bad = os.path.join(tmp, "bad.safetensors")
    with open(enc, "rb") as f:
        blob = bytearray(f.read())
    n = struct.unpack("<Q", blob[:8])[0]
    head = json.loads(blob[8:8 + n])
    head["__metadata__"]["cfg.encoder"] = "dcgan32"   # a 32x32 model: shapes disagree
    h = json.dumps(head).encode()
    with open(bad, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob[8 + n:])
    p = run("extract", "--checkpoint", bad, "--data", data, "--out",
            os.path.join(tmp, "bad.npy"), ok=False)
    if p.returncode != 6 or "bad.safetensors" not in p.stderr:
        fail(f"mismatched export: exit {p.returncode}, {p.stderr.strip()}")
    else:
        print("mismatched export:", p.stderr.strip())
    p = run("export", "--checkpoint", os.path.join(data, "train-images-idx3-ubyte"),
            "--out", os.path.join(tmp, "x.safetensors"), ok=False)
    if p.returncode == 0 or "train-images-idx3-ubyte" not in p.stderr:
        fail(f"export of a non-checkpoint: exit {p.returncode}, {p.stderr.strip()}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
