"""Parity of cldim's strided crops and fold with F.unfold and the official
DIM Unfold/Fold reshapes, and of the gradient of sum(g * fold(unfold(x))).
Args: DIR N C H W k s."""
import sys

import torch
import torch.nn.functional as F

from torchcheck import close, finish, load

d = sys.argv[1]
n, c, h, w, k, s = map(int, sys.argv[2:8])
gh, gw = (h - k) // s + 1, (w - k) // s + 1
p = gh * gw
x = load(d, "x", (n, c, h, w), requires_grad=True)
g = load(d, "g", (n, c * k * k, gh, gw))
crops = F.unfold(x, k, stride=s).reshape(n, c, k, k, p).permute(0, 4, 1, 2, 3).reshape(n * p, c, k, k)
folded = crops.reshape(n, p, c, k * k).permute(0, 2, 3, 1).reshape(n, c * k * k, gh, gw)
(dx,) = torch.autograd.grad((folded * g).sum(), [x])
close("crops", load(d, "crops", (n * p, c, k, k)), crops, 0, 0)
close("folded", load(d, "folded", (n, c * k * k, gh, gw)), folded, 0, 0)
close("dx", load(d, "dx", (n, c, h, w)), dx, 1e-5, 1e-6)
finish()
