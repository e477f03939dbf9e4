"""cldim-test: timeout=300
The Python package (python/cldim, ctypes over build/libcldim.so):
cldim.devices(), Encoder(...).encode() on NumPy images and .extract()
streaming a split give the features of `cldim extract` (within 1e-5), for an
exported encoder and a full checkpoint; library failures arrive as
cldim.Error with the library's message."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

src = os.environ.get("CLDIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
cli = os.environ.get("CLDIM_CLI")
lib = os.path.join(os.environ.get("CLDIM_BINARY_DIR", ""), "libcldim.so")
if not cli or not os.path.exists(cli) or not os.path.exists(lib):
    print("CLDIM_CLI or the shared library (CLDIM_SHARED=ON) missing", file=sys.stderr)
    sys.exit(77)
os.environ["CLDIM_LIBRARY"] = lib
sys.path.insert(0, os.path.join(src, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cldim  # noqa: E402
import synth  # noqa: E402

failures = 0


def fail(msg):
    global failures
    print("FAIL: " + msg, file=sys.stderr)
    failures += 1


def close(what, got, want, tol=1e-5):
    if got.shape != want.shape:
        return fail(f"{what}: shape {got.shape}, want {want.shape}")
    err = np.abs(got.astype(np.float64) - want).max()
    print(f"{what}: {got.shape} max abs diff {err:.3g}")
    if not err <= tol:
        fail(f"{what}: differs by {err:.3g}")


def raises(what, fn, status, text):
    try:
        fn()
    except cldim.Error as e:
        print(f"{what}: cldim.Error({e.status!r}): {e}")
        if e.status != status or text not in str(e):
            fail(f"{what}: status {e.status!r} message {e}")
        return
    fail(f"{what}: no exception")


tmp = tempfile.mkdtemp(prefix="cldim-python-")
try:
    devs = cldim.devices()
    if not devs or not all("name" in d and "type" in d for d in devs):
        fail(f"devices(): {devs}")
    if cldim.library_version() != cldim.__version__:
        fail(f"library {cldim.library_version()} vs package {cldim.__version__}")
    data, run, enc_path, test = synth.trained_export(cli, tmp)
    ckpt = os.path.join(run, open(os.path.join(run, "latest")).read().strip())
    x = ((test / 255.0 - 0.5) / 0.5).astype(np.float32).reshape(-1, 1, 28, 28)

    for name, path in (("export", enc_path), ("checkpoint", ckpt)):
        with cldim.Encoder(path, device="auto") as enc:
            if enc.arch != "basic28" or enc.input_shape != (1, 28, 28):
                fail(f"{name}: {enc!r} {enc.input_shape}")
            for layer in cldim.LAYERS:
                want, labels = synth.extract(cli, path, data, layer,
                                             os.path.join(tmp, f"{name}-{layer}.npy"))
                close(f"{name} encode {layer}", enc.encode(x, layer=layer), want)
                batches = list(enc.extract(data, layer=layer, split="test", batch=10))
                if [len(f) for f, _ in batches] != [10, 10, 3]:
                    fail(f"{name} extract {layer}: batches {[len(f) for f, _ in batches]}")
                feats = np.concatenate([f for f, _ in batches])
                labs = np.concatenate([lab for _, lab in batches])
                close(f"{name} extract {layer}", feats, want)
                if not np.array_equal(labs, labels):
                    fail(f"{name} extract {layer}: labels {labs[:6]} vs {labels[:6]}")
            one = enc.encode(x[0], layer="Y")
            if one.shape != (64,):
                fail(f"encode of one image: shape {one.shape}")

    enc = cldim.Encoder(enc_path, device="cpu")
    raises("missing file", lambda: cldim.Encoder(os.path.join(tmp, "nope.safetensors")),
           "i/o error", "nope.safetensors")
    bad = os.path.join(tmp, "bad.safetensors")
    with open(enc_path, "rb") as f, open(bad, "wb") as g:
        g.write(f.read()[:5000])
    raises("truncated file", lambda: cldim.Encoder(bad), "malformed input", "bad.safetensors")
    raises("bad layer", lambda: enc.encode(x, layer="middle"), "invalid argument", "middle")
    raises("bad dataset", lambda: list(enc.extract(os.path.join(tmp, "none"))), "i/o error",
           "none")
    raises("bad device", lambda: cldim.Encoder(enc_path, device="no-such-device"),
           "no matching OpenCL device", "no-such-device")
    try:
        enc.encode(np.zeros((2, 3, 32, 32), np.float32))
        fail("wrong image shape: no exception")
    except ValueError as e:
        print(f"wrong image shape: ValueError: {e}")
    enc.close()
    raises("closed encoder", lambda: enc.encode(x), "invalid argument", "closed")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
