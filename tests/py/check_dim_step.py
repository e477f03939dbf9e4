"""Whole DIM step parity: cldim's loss terms and parameter gradients against
tools/pytorch/cldim_torch.py on the same weights, batch and prior samples.
Args: DIR estimator N mi_units global_hidden y_dim alpha beta gamma critic
concat_hidden n_negatives encoder."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.environ.get("CLDIM_SOURCE_DIR", "."), "tools", "pytorch"))
import cldim_torch as ct  # noqa: E402
from torchcheck import close, finish, load  # noqa: E402

d = sys.argv[1]
est = sys.argv[2]
n, units, hidden, ydim = map(int, sys.argv[3:7])
alpha, beta, gamma = map(float, sys.argv[7:10])
critic, cc_hidden, nneg = sys.argv[10], int(sys.argv[11]), int(sys.argv[12])
encoder = sys.argv[13]
side = ct.encoder_input(encoder)

torch.manual_seed(0)
model = ct.DIM(encoder, in_channels=1, y_dim=ydim, mi_units=units, estimator=est,
               alpha=alpha, beta=beta, gamma=gamma, global_critic=alpha > 0,
               local_critic=critic, concat_hidden=cc_hidden)
if model.global_critic is not None:
    g = model.global_critic
    model.global_critic = ct.GlobalCritic(g.l0.in_features - ydim, ydim, hidden)
model = model.double()
ct.load_checkpoint(model, f"{d}/before.safetensors")
model.train()
after, _ = ct.load_safetensors(f"{d}/after.safetensors")

x = load(d, "x", (n, 1, side, side))
z = load(d, "z", (n, ydim))
neg = load(d, "neg", (nneg,)).long() if nneg else None
t = model.losses(x, z, neg)
got = load(d, "terms", (5,))
close("local loss", got[0], t["local"], 1e-4, 1e-5)
if "global" in t:
    close("global loss", got[1], t["global"], 1e-4, 1e-5)
close("prior (encoder) loss", got[2], t["prior_enc"], 1e-4, 1e-5)
close("prior (discriminator) loss", got[3], t["prior_disc"], 1e-4, 1e-5)
close("total", got[4], t["encoder_total"], 1e-4, 1e-5)

enc_names = [k for k, _ in model.named_parameters() if not k.startswith("prior.")]
params = dict(model.named_parameters())
grads = torch.autograd.grad(t["encoder_total"], [params[k] for k in enc_names], allow_unused=True)
grads = [torch.zeros_like(params[k]) if g is None else g for k, g in zip(enc_names, grads)]
# cldim accumulates in fp32 (GEMMs over long sums, reductions whose terms
# cancel): compare each value relative to itself (rtol) plus a small fraction
# of the largest gradient of the network (atol), so sums that cancel to ~0 in
# float64 are judged against the scale of the terms that produced them.
scale = max(float(g.abs().max()) for g in grads)
for k, want in zip(enc_names, grads):
    close(f"grad {k}", after[f"grad.{k}"].double(), want, 2e-3, 1e-5 * scale)
prior_names = [k for k in params if k.startswith("prior.")]
pg = torch.autograd.grad(t["prior_disc"], [params[k] for k in prior_names])
scale = max(float(g.abs().max()) for g in pg)
for k, gr in zip(prior_names, pg):
    close(f"grad {k}", after[f"grad.{k}"].double(), gr, 2e-3, 1e-5 * scale)
# BN running statistics were updated once by the forward pass
for k, v in model.state_dict().items():
    if k.endswith("running_mean") or k.endswith("running_var"):
        close(f"buffer {k}", after[k].double(), v, 1e-4, 1e-5)
finish()
