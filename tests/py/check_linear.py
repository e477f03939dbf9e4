"""PyTorch parity for linear: recompute test_linear.c's cases in float64."""
import sys

import torch
import torch.nn.functional as F

import torchcheck as tc

d = sys.argv[1]
ncases = 0
for i, line in enumerate(open(f"{d}/cases.txt").read().split("\n")):
    if not line.strip():
        continue
    M, I, O, bias, _ = map(int, line.split())
    ncases += 1
    x = tc.load(d, f"c{i}_x", (M, I), True)
    w = tc.load(d, f"c{i}_w", (O, I), True)
    b = tc.load(d, f"c{i}_b", (O,), True)
    r = tc.load(d, f"c{i}_r", (M, O))
    y = F.linear(x, w, b if bias else None)
    (y * r).sum().backward()
    tc.close(f"case {i} y", tc.load(d, f"c{i}_y", y.shape), y)
    tc.close(f"case {i} dx", tc.load(d, f"c{i}_dx", x.shape), x.grad)
    tc.close(f"case {i} dw", tc.load(d, f"c{i}_dw", w.shape), w.grad)
    if bias:
        tc.close(f"case {i} db", tc.load(d, f"c{i}_db", b.shape), b.grad)
print(f"check_linear: {ncases} cases compared with PyTorch {torch.__version__}", file=sys.stderr)
tc.finish()
