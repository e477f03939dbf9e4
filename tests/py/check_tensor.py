"""PyTorch parity for cldim's shape/element-wise/reduction ops (test_tensor.c
dumps the inputs and cldim's results; shapes must match the C test)."""
import sys

import torch

from torchcheck import close, finish, load

d = sys.argv[1]

# concat along channels: a [3,7,5,7], b [3,13,5,7]
a = load(d, "cat_a", [3, 7, 5, 7], True)
b = load(d, "cat_b", [3, 13, 5, 7], True)
y = torch.cat([a, b], dim=1)
y.backward(load(d, "cat_dy", [3, 20, 5, 7]))
close("concat forward", load(d, "cat_y", [3, 20, 5, 7]), y)
close("concat grad a", load(d, "cat_da", [3, 7, 5, 7]), a.grad)
close("concat grad b", load(d, "cat_db", [3, 13, 5, 7]), b.grad)

# broadcast v [5,3] -> [5,3,5,7]
v = load(d, "bc_v", [5, 3], True)
y = v[:, :, None, None].expand(5, 3, 5, 7)
y.backward(load(d, "bc_dy", [5, 3, 5, 7]))
close("broadcast forward", load(d, "bc_y", [5, 3, 5, 7]), y)
close("broadcast grad", load(d, "bc_dv", [5, 3]), v.grad)

# add / mul on 735 elements
a = load(d, "ew_a", [735], True)
b = load(d, "ew_b", [735], True)
dy = load(d, "ew_dy", [735])
close("add forward", load(d, "add_y", [735]), a + b)
y = a * b
y.backward(dy)
close("mul forward", load(d, "mul_y", [735]), y)
close("mul grad a", load(d, "mul_da", [735]), a.grad)
close("mul grad b", load(d, "mul_db", [735]), b.grad)

# per-row sum [5,13] -> [5]
x = load(d, "rows_x", [5, 13], True)
y = x.sum(dim=1)
y.backward(load(d, "rows_dy", [5]))
close("sum_rows forward", load(d, "rows_y", [5]), y)
close("sum_rows grad", load(d, "rows_dx", [5, 13]), x.grad)
finish()
