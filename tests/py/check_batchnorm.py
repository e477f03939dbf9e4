"""PyTorch parity for batchnorm: recompute test_batchnorm.c's cases in float64
(F.batch_norm, incl. the running-statistics update)."""
import sys

import torch
import torch.nn.functional as F

import torchcheck as tc

d = sys.argv[1]
ncases = 0
for i, line in enumerate(open(f"{d}/cases.txt").read().split("\n")):
    if not line.strip():
        continue
    v = list(map(int, line.split()))
    affine, training, ndim = v[:3]
    shape = tuple(v[3:3 + ndim])
    C = shape[1]
    ncases += 1
    x = tc.load(d, f"c{i}_x", shape, True)
    w = tc.load(d, f"c{i}_w", (C,), True)
    b = tc.load(d, f"c{i}_b", (C,), True)
    rm = tc.load(d, f"c{i}_rm0", (C,))
    rv = tc.load(d, f"c{i}_rv0", (C,))
    r = tc.load(d, f"c{i}_r", shape)
    y = F.batch_norm(x, rm, rv, w if affine else None, b if affine else None,
                     training=bool(training), momentum=0.1, eps=1e-5)
    (y * r).sum().backward()
    tc.close(f"case {i} y", tc.load(d, f"c{i}_y", shape), y)
    tc.close(f"case {i} running_mean", tc.load(d, f"c{i}_rm", (C,)), rm)
    tc.close(f"case {i} running_var", tc.load(d, f"c{i}_rv", (C,)), rv)
    tc.close(f"case {i} dx", tc.load(d, f"c{i}_dx", shape), x.grad)
    if affine:
        tc.close(f"case {i} dgamma", tc.load(d, f"c{i}_dw", (C,)), w.grad)
        tc.close(f"case {i} dbeta", tc.load(d, f"c{i}_db", (C,)), b.grad)
print(f"check_batchnorm: {ncases} cases compared with PyTorch {torch.__version__}",
      file=sys.stderr)
tc.finish()
