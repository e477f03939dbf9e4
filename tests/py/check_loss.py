"""PyTorch parity for cldim's cross-entropy (argv: dir N K): F.cross_entropy
with ignore_index=-1 and mean reduction, and F.log_softmax."""
import sys

import torch.nn.functional as F

from torchcheck import close, finish, load

d, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = load(d, "x", [n, k], True)
y = load(d, "labels", [n]).long()
loss = F.cross_entropy(x, y, ignore_index=-1)
(loss * 0.75).backward()  # the C test seeds dloss = 0.75
close("cross-entropy loss", load(d, "loss", [1]), loss, rtol=1e-5, atol=1e-6)
close("log-softmax", load(d, "logp", [n, k]), F.log_softmax(x, dim=1), rtol=1e-5, atol=1e-5)
close("cross-entropy gradient", load(d, "dx", [n, k]), x.grad, rtol=1e-4, atol=1e-7)
finish()
