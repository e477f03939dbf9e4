"""PyTorch parity for cldim's pooling: cases.txt lists each dumped case as
name kind N C H W kh kw sh sw ph pw ceil exclude_pad (kind 0 max, 1 avg,
2 global average)."""
import sys

import torch.nn.functional as F

from torchcheck import close, finish, load

d = sys.argv[1]
for line in open(f"{d}/cases.txt"):
    f = line.split()
    name = f[0]
    kind, n, c, h, w, kh, kw, sh, sw, ph, pw, ceil, excl = map(int, f[1:])
    x = load(d, f"{name}_x", [n, c, h, w], True)
    if kind == 0:
        y = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=bool(ceil))
    elif kind == 1:
        y = F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=bool(ceil),
                         count_include_pad=not excl)
    else:
        y = F.adaptive_avg_pool2d(x, 1).reshape(n, c)
    dy = load(d, f"{name}_dy", list(y.shape))
    y.backward(dy)
    close(f"{name} forward {line.strip()}", load(d, f"{name}_y", list(y.shape)), y,
          rtol=1e-5, atol=1e-6)
    close(f"{name} backward {line.strip()}", load(d, f"{name}_dx", list(x.shape)), x.grad,
          rtol=1e-5, atol=1e-6)
finish()
