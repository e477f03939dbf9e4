"""Parity of cldim's permute_to_rows with x.flatten(2).permute(0, 2, 1)."""
import sys

from torchcheck import close, finish, load

d = sys.argv[1]
n, c, h, w = map(int, sys.argv[2:6])
x = load(d, "x", (n, c, h, w))
rows = load(d, "rows", (n * h * w, c))
close("rows", rows, x.flatten(2).permute(0, 2, 1).reshape(n * h * w, c), 0, 0)
finish()
