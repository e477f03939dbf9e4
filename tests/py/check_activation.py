"""PyTorch parity for cldim's activations: argv = dir n slope."""
import sys

import torch
import torch.nn.functional as F

from torchcheck import close, finish, load

d, n, slope = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fns = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, slope),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
}
for name, fn in fns.items():
    x = load(d, f"{name}_x", [n], requires_grad=True)
    dy = load(d, f"{name}_dy", [n])
    y = fn(x)
    y.backward(dy)
    close(f"{name} forward", load(d, f"{name}_y", [n]), y, rtol=1e-5, atol=1e-6)
    close(f"{name} backward", load(d, f"{name}_dx", [n]), x.grad, rtol=1e-5, atol=1e-6)
finish()
