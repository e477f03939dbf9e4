"""PyTorch parity for cldim's optimizers (argv: dir steps n). For each step
the C test dumped the flat trainable values before the step, the gradient it
set, and the values after. Here torch.optim takes the same steps (its state
carries over; the parameter is reset to cldim's value before each step so
float32 rounding does not accumulate) and the updates must agree."""
import sys

import torch

from torchcheck import close, finish, load

d, steps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
configs = {
    "adam": lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.5, 0.999), eps=1e-8),
    "adamwd": lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.5, 0.999), eps=1e-8,
                                         weight_decay=0.01),
    "sgd": lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, weight_decay=1e-3),
}
for tag, make in configs.items():
    p = load(d, f"{tag}_before_1", [n]).clone().requires_grad_(True)
    opt = make(p)
    for t in range(1, steps + 1):
        before = load(d, f"{tag}_before_{t}", [n])
        with torch.no_grad():
            p.copy_(before)
        p.grad = load(d, f"{tag}_grad_{t}", [n])
        opt.step()
        got = load(d, f"{tag}_after_{t}", [n]) - before
        close(f"{tag} step {t} update", got, p.detach() - before, rtol=1e-4, atol=2e-7)
finish()
