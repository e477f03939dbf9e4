"""Encoder parity: cldim's 28x28, strided-crop and ResNet encoders against the PyTorch
modules of tools/pytorch/cldim_torch.py on the same weights (before.safetensors)
and batch: M, fc, Y, every parameter gradient of sum(gM*M) + sum(gfc*fc) +
sum(gY*Y), and the BN running statistics. Args: DIR encoder N [channels].

These nets are deep (up to 19 convs, each followed by batch norm over a small
batch), so fp32 rounding grows along the way: PyTorch's own fp32 result
differs from its fp64 result by more than an elementwise 2e-3 in many
gradients. The check is therefore norm-wise and calibrated: for each tensor,
||cldim - torch64|| / ||torch64|| must stay within 8x PyTorch fp32's own
relative error on the same computation (plus 1e-5). An indexing or maths
error gives relative errors of order 1."""
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.environ.get("CLDIM_SOURCE_DIR", "."), "tools", "pytorch"))
import cldim_torch as ct  # noqa: E402
from torchcheck import load  # noqa: E402

d, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ch = int(sys.argv[4]) if len(sys.argv) > 4 else 3
s = ct.encoder_input(name)
enc = ct.make_encoder(name, in_channels=ch, y_dim=64).double()
before, _ = ct.load_safetensors(f"{d}/before.safetensors")
state = enc.state_dict()
names = {k for k in state if not k.endswith("num_batches_tracked")}
cl = {k[len("encoder."):] for k in before}
if names != cl:
    print(f"{name}: parameter names differ: only cldim {sorted(cl - names)[:5]}, "
          f"only torch {sorted(names - cl)[:5]}", file=sys.stderr)
    sys.exit(1)
for k in names:
    state[k].copy_(before["encoder." + k].double())
enc32 = copy.deepcopy(enc).float()
enc.train()
enc32.train()
x = load(d, "x", (n, ch, s, s))


def run(e, dtype):
    out = e(x.to(dtype))
    loss = sum((load(d, "g" + k, tuple(out[k].shape)).to(dtype) * out[k]).sum()
               for k in ("M", "fc", "Y"))
    ps = dict(e.named_parameters())
    grads = torch.autograd.grad(loss, list(ps.values()))
    res = {k: out[k] for k in ("M", "conv", "fc", "Y")}
    res.update({f"grad {k}": g for k, g in zip(ps, grads)})
    res.update({f"buffer {k}": v for k, v in e.state_dict().items()
                if k.endswith("running_mean") or k.endswith("running_var")})
    return res


want = run(enc, torch.float64)
ref32 = run(enc32, torch.float32)
after, _ = ct.load_safetensors(f"{d}/after.safetensors")
got = {}
for k, v in want.items():
    if k.startswith("grad "):
        got[k] = after[f"grad.encoder.{k[5:]}"]
    elif k.startswith("buffer "):
        got[k] = after[f"encoder.{k[7:]}"]
    else:
        got[k] = load(d, k, tuple(v.shape))

failures = 0
worst = (0.0, "")
for k, w in want.items():
    w = w.detach().double().reshape(-1)
    g = got[k].detach().double().reshape(-1)
    r = ref32[k].detach().double().reshape(-1)
    if g.numel() != w.numel():
        print(f"{name} {k}: {g.numel()} values vs {w.numel()}", file=sys.stderr)
        failures += 1
        continue
    norm = float(w.norm()) or 1.0
    err = float((g - w).norm()) / norm
    err32 = float((r - w).norm()) / norm
    lim = 8 * err32 + 1e-5
    worst = max(worst, (err / lim, k))
    if not err <= lim:
        i = int((g - w).abs().argmax())
        print(f"{name} {k}: relative error {err:.3g} > {lim:.3g} (PyTorch fp32: {err32:.3g}); "
              f"worst at {i}: cldim {g[i]:.9g} torch {w[i]:.9g}", file=sys.stderr)
        failures += 1
print(f"{name}: {len(want)} tensors, worst error/limit {worst[0]:.3f} ({worst[1]})")
sys.exit(1 if failures else 0)
