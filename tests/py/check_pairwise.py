"""Parity of cldim's pairwise op with broadcasting in PyTorch (float64 autograd)."""
import sys

from torchcheck import close, finish, load

d = sys.argv[1]
n, h = map(int, sys.argv[2:4])
a = load(d, "a", (n, h), True)
b = load(d, "b", (n, h), True)
bias = load(d, "bias", (h,), True)
r = load(d, "r", (n * n, h))
out = (b[:, None, :] + a[None, :, :] + bias).reshape(n * n, h)
close("out", load(d, "out", (n * n, h)), out)
(out * r).sum().backward()
# cldim ran backward twice (write, then accumulate): compare with 2x
close("da", load(d, "da", (n, h)), 2 * a.grad)
close("db", load(d, "db", (n, h)), 2 * b.grad)
close("dbias", load(d, "dbias", (h,)), 2 * bias.grad)
finish()
