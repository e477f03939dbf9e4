"""PyTorch parity for conv2d: recompute test_conv.c's cases in float64."""
import sys

import torch
import torch.nn.functional as F

import torchcheck as tc

d = sys.argv[1]
ncases = 0
for i, line in enumerate(open(f"{d}/cases.txt").read().split("\n")):
    if not line.strip():
        continue
    N, C, H, W, O, KH, KW, sh, sw, ph, pw, bias = map(int, line.split())
    OH = (H + 2 * ph - KH) // sh + 1
    OW = (W + 2 * pw - KW) // sw + 1
    x = tc.load(d, f"c{i}_x", (N, C, H, W), True)
    w = tc.load(d, f"c{i}_w", (O, C, KH, KW), True)
    b = tc.load(d, f"c{i}_b", (O,), True)
    r = tc.load(d, f"c{i}_r", (N, O, OH, OW))
    ncases += 1
    y = F.conv2d(x, w, b if bias else None, stride=(sh, sw), padding=(ph, pw))
    (y * r).sum().backward()
    tc.close(f"case {i} y", tc.load(d, f"c{i}_y", y.shape), y)
    tc.close(f"case {i} dx", tc.load(d, f"c{i}_dx", x.shape), x.grad)
    tc.close(f"case {i} dw", tc.load(d, f"c{i}_dw", w.shape), w.grad)
    if bias:
        tc.close(f"case {i} db", tc.load(d, f"c{i}_db", b.shape), b.grad)
print(f"check_conv: {ncases} cases compared with PyTorch {torch.__version__}", file=sys.stderr)
tc.finish()
