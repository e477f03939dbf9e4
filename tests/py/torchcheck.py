"""Helpers for PyTorch parity scripts run by the C tests (see testutil.h).

The C test dumps float32 arrays as <dir>/<name>.f32; a script loads them with
load(), recomputes with torch in float64, and calls close() for each output.
Exit status: 0 all matched, 1 a mismatch."""
import sys

import numpy as np
import torch

torch.set_grad_enabled(True)
_failures = 0


def load(d, name, shape, requires_grad=False):
    a = np.fromfile(f"{d}/{name}.f32", dtype="<f4").astype(np.float64)
    n = int(np.prod(shape))
    if a.size != n:
        raise SystemExit(f"{name}.f32: {a.size} values, expected {n} for shape {shape}")
    t = torch.from_numpy(a.reshape(shape))
    return t.requires_grad_(requires_grad)


def close(what, got, want, rtol=1e-4, atol=1e-5):
    """got: torch tensor (cldim's), want: torch tensor (PyTorch's)."""
    global _failures
    got = got.detach().double().reshape(-1)
    want = want.detach().double().reshape(-1)
    if got.numel() != want.numel():
        print(f"{what}: {got.numel()} values vs {want.numel()}", file=sys.stderr)
        _failures += 1
        return
    err = (got - want).abs()
    lim = atol + rtol * want.abs()
    bad = (err > lim).nonzero().reshape(-1)
    if bad.numel():
        i = int(bad[0])
        print(f"{what}: {bad.numel()} of {got.numel()} differ from PyTorch; first at {i}: "
              f"cldim {got[i]:.9g} torch {want[i]:.9g}", file=sys.stderr)
        _failures += 1


def finish():
    sys.exit(1 if _failures else 0)
