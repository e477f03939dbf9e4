"""The exact reference for cldim's linear probe (host/eval/logreg.c): softmax
regression on features z-scored with the train rows' mean and population std,
minimising mean cross-entropy + (l2 / 2) * ||W||^2 (bias unpenalised), solved
in float64 with PyTorch's L-BFGS (strong Wolfe line search) to a gradient
tolerance of 1e-10. cldim's objective must match within 1e-5 relative and its
train and test accuracy within 0.3 points.
Args: DIR d classes ntr nte l2 objective train_acc test_acc."""
import sys

import numpy as np
import torch

d_, = sys.argv[1:2]
d, k, ntr, nte = (int(a) for a in sys.argv[2:6])
l2, f_cl, tr_cl, te_cl = (float(a) for a in sys.argv[6:10])


def load(name, n):
    return torch.from_numpy(np.fromfile(f"{d_}/{name}.f32", dtype="<f4").astype(np.float64)
                            .reshape(n, -1))


xtr, xte = load("xtr", ntr), load("xte", nte)
ytr, yte = load("ytr", ntr).reshape(-1).long(), load("yte", nte).reshape(-1).long()
mean = xtr.mean(0)
std = xtr.var(0, unbiased=False).clamp_min(1e-12).sqrt()
xtr, xte = (xtr - mean) / std, (xte - mean) / std

w = torch.zeros(k, d, dtype=torch.float64, requires_grad=True)
b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
opt = torch.optim.LBFGS([w, b], lr=1, max_iter=10000, tolerance_grad=1e-10,
                        tolerance_change=1e-16, history_size=20, line_search_fn="strong_wolfe")


def objective():
    opt.zero_grad()
    f = torch.nn.functional.cross_entropy(xtr @ w.T + b, ytr) + 0.5 * l2 * (w * w).sum()
    f.backward()
    return f


opt.step(objective)
f = float(objective())
gmax = max(float(w.grad.abs().max()), float(b.grad.abs().max()))
with torch.no_grad():
    tr = float(((xtr @ w.T + b).argmax(1) == ytr).double().mean())
    te = float(((xte @ w.T + b).argmax(1) == yte).double().mean())
print(f"l2 {l2:g}: torch float64 objective {f:.10f} (max|g| {gmax:.2g}), train {tr:.4f}, "
      f"test {te:.4f}; cldim objective {f_cl:.10f}, train {tr_cl:.4f}, test {te_cl:.4f}")
bad = []
if not abs(f_cl - f) <= 1e-5 * abs(f):
    bad.append(f"objective {f_cl:.10f} vs {f:.10f}")
if not abs(tr_cl - tr) <= 0.003:
    bad.append(f"train accuracy {tr_cl:.4f} vs {tr:.4f}")
if not abs(te_cl - te) <= 0.003:
    bad.append(f"test accuracy {te_cl:.4f} vs {te:.4f}")
if gmax > 1e-6:
    bad.append(f"the reference did not converge (max|g| {gmax:.2g})")
for m in bad:
    print("check_logreg:", m, file=sys.stderr)
sys.exit(1 if bad else 0)
