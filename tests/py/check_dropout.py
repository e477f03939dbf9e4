"""PyTorch parity for cldim's dropout (argv: dir n p). PyTorch's generator
differs, so this checks the convention: F.dropout keeps x / (1 - p) or 0,
and with cldim's mask the result and gradient equal x * mask / (1 - p)."""
import sys

import torch
import torch.nn.functional as F

from torchcheck import close, finish, load

d, n, p = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
x = load(d, "x", [n], True)
mask = load(d, "mask", [n])
dy = load(d, "dy", [n])

# PyTorch's own dropout: survivors are x / (1 - p), the same scaling as cldim
torch.manual_seed(0)
yt = F.dropout(x, p, training=True)
kept = yt != 0
close("torch dropout scaling", yt[kept], (x / (1 - p))[kept], rtol=1e-12, atol=0)

# cldim's mask through torch's formula
y = x * mask / (1 - p)
y.backward(dy)
close("dropout forward", load(d, "y", [n]), y, rtol=1e-6, atol=0)
close("dropout backward", load(d, "dx", [n]), x.grad, rtol=1e-6, atol=0)
finish()
