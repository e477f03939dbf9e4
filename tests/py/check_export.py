"""Exported encoder parity (tests/test_export.c): the file loads strictly into
the plain PyTorch module (cldim_torch.make_encoder + load_state_dict, and the
one-call load_encoder), and Y of the dumped images matches cldim's.
Args: DIR N ENCODER..."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.environ.get("CLDIM_SOURCE_DIR", "."), "tools", "pytorch"))
import cldim_torch as ct  # noqa: E402
from torchcheck import close, finish, load  # noqa: E402

d, n = sys.argv[1], int(sys.argv[2])
for name in sys.argv[3:]:
    path = f"{d}/{name}.safetensors"
    tensors, meta = ct.load_safetensors(path)
    plain = ct.make_encoder(name, in_channels=3, y_dim=64)
    plain.load_state_dict(tensors, strict=True)
    enc = ct.load_encoder(path).double()
    s = ct.encoder_input(name)
    x = load(d, f"x_{name}", (n, 3, s, s))
    with torch.no_grad():
        y = enc(x)["Y"]
        y32 = plain.eval()(x.float())["Y"]
    got = load(d, f"y_{name}", (n, 64))
    close(f"{name} Y (torch fp64)", got, y, rtol=1e-3, atol=1e-4)
    close(f"{name} Y (strict load, fp32)", got, y32.double(), rtol=1e-3, atol=1e-4)
    print(f"{name}: the export loads strictly into PyTorch and gives the same Y")
finish()
