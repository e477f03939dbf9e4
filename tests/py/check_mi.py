"""Parity of cldim's MI estimators with the official DIM formulas written in
torch ops (float64, autograd for dS).

args: dir kind N L gloss [rtol for dS]
  jsd: fenchel_dual_loss, measure JSD, via F.softplus
  nce: infonce_loss: the self-image negatives masked to -10 (kept), the
       [N, L, 1 + N*L] logits through log_softmax
  dv:  log-sum-exp of the negatives - log(N(N-1)L) - mean of the positives
"""
import math
import sys

import torch
import torch.nn.functional as F

from torchcheck import close, finish, load

d, kind = sys.argv[1], sys.argv[2]
n, l = int(sys.argv[3]), int(sys.argv[4])
gloss = float(sys.argv[5])
rtol = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-4
S = load(d, "S", (n, n, l), True)
log2 = math.log(2.0)

eye = torch.eye(n, dtype=torch.float64)        # pos mask [N, N]
pos_mask = eye[:, :, None].expand(n, n, l)
neg_mask = 1 - pos_mask
if kind == "jsd":
    e_pos = ((log2 - F.softplus(-S)) * pos_mask).sum() / pos_mask.sum()
    e_neg = ((F.softplus(-S) + S - log2) * neg_mask).sum() / neg_mask.sum()
    loss = e_neg - e_pos
elif kind == "nce":
    # official: u_p [N, L], u_n [N, N*L] masked with -10 on the self image
    u_p = S[torch.arange(n), torch.arange(n), :]                    # [N, L]
    u_n = S * neg_mask - 10.0 * pos_mask                            # [N, N, L]
    u_n = u_n.reshape(n, 1, n * l).expand(n, l, n * l)              # [N, L, N*L]
    logits = torch.cat([u_p[:, :, None], u_n], dim=2)               # [N, L, 1+N*L]
    loss = -F.log_softmax(logits, dim=2)[:, :, 0].mean()
elif kind == "dv":
    neg = S[neg_mask.bool()]
    pos = S[pos_mask.bool()]
    loss = torch.logsumexp(neg, 0) - math.log(n * (n - 1) * l) - pos.mean()
else:
    raise SystemExit(f"unknown estimator {kind}")

close(f"{kind} loss", load(d, "loss", (1,)), loss.reshape(1), rtol=1e-5, atol=1e-5)
(gloss * loss).backward()
gmax = float(S.grad.abs().max())
close(f"{kind} dS", load(d, "dS", (n, n, l)), S.grad, rtol=rtol, atol=1e-6 * gmax)
finish()
