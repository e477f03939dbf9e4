"""PyTorch parity for layernorm over channels: recompute test_layernorm.c's
cases in float64 (move C last, F.layer_norm over C, move it back)."""
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
    affine, ndim = v[:2]
    shape = tuple(v[2:2 + ndim])
    C = shape[1]
    ncases += 1
    x = tc.load(d, f"c{i}_x", shape, True)
    w = tc.load(d, f"c{i}_w", (C,), True)
    b = tc.load(d, f"c{i}_b", (C,), True)
    r = tc.load(d, f"c{i}_r", shape)
    y = F.layer_norm(x.movedim(1, -1), (C,), w if affine else None, b if affine else None,
                     eps=1e-5).movedim(-1, 1)
    (y * r).sum().backward()
    tc.close(f"case {i} y", tc.load(d, f"c{i}_y", shape), y)
    tc.close(f"case {i} dx", tc.load(d, f"c{i}_dx", shape), x.grad)
    if affine:
        tc.close(f"case {i} dgamma", tc.load(d, f"c{i}_dw", (C,)), w.grad)
        tc.close(f"case {i} dbeta", tc.load(d, f"c{i}_db", (C,)), b.grad)
print(f"check_layernorm: {ncases} cases compared with PyTorch {torch.__version__}",
      file=sys.stderr)
tc.finish()
