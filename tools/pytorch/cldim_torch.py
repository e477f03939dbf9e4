"""PyTorch reference of cldim's Deep InfoMax model.

The same encoders, critics, prior discriminator and MI estimators as the C
library, with the same parameter names and layouts, so that a cldim checkpoint
(.safetensors) loads into it with load_checkpoint() and gives the same
features, losses and gradients; load_encoder(path) turns a checkpoint or an
exported encoder (`cldim export`) into a plain nn.Module in one call. Used by the parity tests and by people who
want to take a cldim-trained encoder into PyTorch.

Method choices and every deviation from the paper and the official code are
in docs/method.md (official DIM code, commit bac4765, where it is sound).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LOG2 = math.log(2.0)

# ----------------------------------------------------------------- encoders
# Each layer: ("conv", out, k, s, p, pool) or ("fc", out). Every hidden layer
# has BN (no bias) and ReLU; pool is (k, s) max pooling after the ReLU.
ENCODERS = {
    # the official basic28x28 (MNIST-like data): M = conv = 128x7x7, fc = 1024
    "basic28": dict(input=28, layers=[("conv", 64, 5, 2, 2, None), ("conv", 128, 5, 2, 2, None),
                                      ("fc", 1024)], m_layer=1),
    # basic32x32's k4 s2 p1 stack on 28x28 (cldim's earlier default): M = 128x7x7,
    # conv = 256x3x3
    "dcgan28": dict(input=28, layers=[("conv", 64, 4, 2, 1, None), ("conv", 128, 4, 2, 1, None),
                                      ("conv", 256, 4, 2, 1, None), ("fc", 1024)], m_layer=1),
    # basic32x32 (CIFAR): M = 128x8x8, conv = 256x4x4, fc = 1024
    "dcgan32": dict(input=32, layers=[("conv", 64, 4, 2, 1, None), ("conv", 128, 4, 2, 1, None),
                                      ("conv", 256, 4, 2, 1, None), ("fc", 1024)], m_layer=1),
    # basic64x64: M = 256x8x8, conv = 512x4x4
    "dcgan64": dict(input=64, layers=[("conv", 64, 4, 2, 1, None), ("conv", 128, 4, 2, 1, None),
                                      ("conv", 256, 4, 2, 1, None), ("conv", 512, 4, 2, 1, None),
                                      ("fc", 1024)], m_layer=2),
    # alex64x64 (STL-10, Tiny ImageNet): M = 384x15x15, conv = 192x7x7, fc = 4096
    "alexnet64": dict(input=64, layers=[("conv", 96, 3, 1, 1, (3, 2)), ("conv", 192, 3, 1, 1, (3, 2)),
                                        ("conv", 384, 3, 1, 1, None), ("conv", 384, 3, 1, 1, None),
                                        ("conv", 192, 3, 1, 1, (3, 2)), ("fc", 4096), ("fc", 4096)],
                      m_layer=2),
    # not from the paper: cldim's test and smoke encoder (dcgan28's layout at
    # 12x12, narrow): M = 16x3x3, conv = 32x1x1, fc = 64; its DIM model's
    # prior discriminator is narrow too (Y -> 32 -> 16 -> 1)
    "tiny12": dict(input=12, layers=[("conv", 8, 4, 2, 1, None), ("conv", 16, 4, 2, 1, None),
                                     ("conv", 32, 4, 2, 1, None), ("fc", 64)], m_layer=1,
                   prior=(32, 16)),
}


class Encoder(nn.Module):
    """Returns dict(M=local map, conv=last conv map, fc=last hidden fc, Y=global)."""

    def __init__(self, name, in_channels=3, y_dim=64):
        super().__init__()
        cfg = ENCODERS[name]
        self.cfg = cfg
        c, s = in_channels, cfg["input"]
        self.convs = nn.ModuleDict()
        self.order = []
        ci = fi = 0
        flat = None
        for layer in cfg["layers"]:
            if layer[0] == "conv":
                _, o, k, st, p, pool = layer
                self.add_module(f"conv{ci}", nn.Conv2d(c, o, k, st, p, bias=False))
                self.add_module(f"bn{ci}", nn.BatchNorm2d(o))
                s = (s + 2 * p - k) // st + 1
                if pool:
                    s = (s - pool[0]) // pool[1] + 1
                c = o
                self.order.append(("conv", ci, pool))
                ci += 1
            else:
                if flat is None:
                    flat = c * s * s
                    c = flat
                o = layer[1]
                self.add_module(f"fc{fi}", nn.Linear(c, o, bias=False))
                self.add_module(f"bnfc{fi}", nn.BatchNorm1d(o))
                c = o
                self.order.append(("fc", fi, None))
                fi += 1
        self.y = nn.Linear(c, y_dim)
        self.m_layer = cfg["m_layer"]

    def forward(self, x):
        out = {}
        h = x
        for kind, i, pool in self.order:
            if kind == "conv":
                h = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h)))
                if pool:
                    h = F.max_pool2d(h, pool[0], pool[1])
                if i == self.m_layer:
                    out["M"] = h
                out["conv"] = h
            else:
                if h.dim() == 4:
                    h = h.flatten(1)
                h = F.relu(getattr(self, f"bnfc{i}")(getattr(self, f"fc{i}")(h)))
                out["fc"] = h
        out["Y"] = self.y(h)
        return out


# Strided-crop and ResNet encoders of the CPC comparison (docs/method.md §2;
# host/models/resnet.c). Bottleneck blocks: 1x1 / 3x3 (stride) / 1x1, out =
# 4*mid, BN after each conv, ReLU after the add; 1x1-conv+BN shortcut when the
# shape changes. Block list: (mid, stride).
RESNETS = {
    # foldresnet19_32x32: 49 crops 8x8 (stride 4), each ends at 1024x1x1 -> M = 1024x7x7
    "foldresnet19_32": dict(input=32, crop=(8, 4), m_block=None,
                            blocks=[(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1)]),
    # resnet19_32x32 on the whole image: M = conv = 4th block output, 512x8x8
    "resnet19_32": dict(input=32, crop=None, m_block=3,
                        blocks=[(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1)]),
}


def unfold_crops(x, k, s):
    """[N, C, H, W] -> [N*P, C, k, k], crops in row-major grid order (official Unfold)."""
    n, c, h, w = x.shape
    gh, gw = (h - k) // s + 1, (w - k) // s + 1
    return F.unfold(x, k, stride=s).reshape(n, c, k, k, gh * gw).permute(0, 4, 1, 2, 3) \
        .reshape(n * gh * gw, c, k, k), gh, gw


def fold_crops(x, gh, gw):
    """[N*P, C, h, w] -> [N, C*h*w, gh, gw] (official Fold)."""
    p = gh * gw
    _, c, h, w = x.shape
    return x.reshape(-1, p, c, h * w).permute(0, 2, 3, 1).reshape(-1, c * h * w, gh, gw)


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride):
        super().__init__()
        out = 4 * mid
        self.conv0 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(mid)
        self.conv1 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        if cin != out or stride != 1:
            self.shortcut = nn.Conv2d(cin, out, 1, stride, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(out)
        else:
            self.shortcut = None

    def forward(self, x):
        r = x if self.shortcut is None else self.shortcut_bn(self.shortcut(x))
        h = F.relu(self.bn0(self.conv0(x)))
        h = F.relu(self.bn1(self.conv1(h)))
        return F.relu(self.bn2(self.conv2(h)) + r)


class ResNetEncoder(nn.Module):
    """foldresnet19_32 / resnet19_32: stem conv 64 k3 s2 p1, bottleneck blocks,
    [fold,] fc 1024 (BN, ReLU), Y."""

    def __init__(self, name, in_channels=3, y_dim=64):
        super().__init__()
        cfg = RESNETS[name]
        self.cfg = cfg
        s = cfg["crop"][0] if cfg["crop"] else cfg["input"]
        self.conv0 = nn.Conv2d(in_channels, 64, 3, 2, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(64)
        s = (s + 2 - 3) // 2 + 1
        c = 64
        self.blocks = nn.ModuleList()
        for mid, st in cfg["blocks"]:
            self.blocks.append(Bottleneck(c, mid, st))
            c, s = 4 * mid, (s + 2 - 3) // st + 1
        feat = c * s * s
        if cfg["crop"]:
            g = (cfg["input"] - cfg["crop"][0]) // cfg["crop"][1] + 1
            feat *= g * g
        self.fc0 = nn.Linear(feat, 1024, bias=False)
        self.bnfc0 = nn.BatchNorm1d(1024)
        self.y = nn.Linear(1024, y_dim)

    def forward(self, x):
        out = {}
        crop = self.cfg["crop"]
        if crop:
            x, gh, gw = unfold_crops(x, *crop)
        h = F.relu(self.bn0(self.conv0(x)))
        for i, b in enumerate(self.blocks):
            h = b(h)
            if i == self.cfg["m_block"]:
                out["M"] = out["conv"] = h
        if crop:
            h = out["M"] = out["conv"] = fold_crops(h, gh, gw)
        h = out["fc"] = F.relu(self.bnfc0(self.fc0(h.flatten(1))))
        out["Y"] = self.y(h)
        return out


class FoldAlexEncoder(nn.Module):
    """foldalex64x64: 49 crops 16x16 (stride 8), AlexNet convs 1-5 per crop (bias,
    N(0, 0.02)), fold -> M = conv 192x7x7, conv 384 k3 s2 p0 (BN, ReLU), fc 4096
    (bias, N(0, 0.02), BN, ReLU) = fc, Y. The official Dropout 0.1s are left out."""

    CONVS = [(96, True), (192, True), (384, False), (384, False), (192, True)]

    def __init__(self, name="foldalex64", in_channels=3, y_dim=64):
        super().__init__()
        c = in_channels
        for i, (o, _) in enumerate(self.CONVS):
            conv = nn.Conv2d(c, o, 3, 1, 1, bias=True)
            nn.init.normal_(conv.weight, 0.0, 0.02)
            self.add_module(f"conv{i}", conv)
            self.add_module(f"bn{i}", nn.BatchNorm2d(o))
            c = o
        self.conv5 = nn.Conv2d(192, 384, 3, 2, 0, bias=False)
        self.bn5 = nn.BatchNorm2d(384)
        self.fc0 = nn.Linear(384 * 3 * 3, 4096, bias=True)
        nn.init.normal_(self.fc0.weight, 0.0, 0.02)
        self.bnfc0 = nn.BatchNorm1d(4096)
        self.y = nn.Linear(4096, y_dim)

    def forward(self, x):
        out = {}
        h, gh, gw = unfold_crops(x, 16, 8)
        for i, (_, pool) in enumerate(self.CONVS):
            h = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h)))
            if pool:
                h = F.max_pool2d(h, 3, 2)
        h = out["M"] = out["conv"] = fold_crops(h, gh, gw)
        h = F.relu(self.bn5(self.conv5(h)))
        h = out["fc"] = F.relu(self.bnfc0(self.fc0(h.flatten(1))))
        out["Y"] = self.y(h)
        return out


def encoder_input(name):
    """Input side (12, 28, 32 or 64) of an encoder name."""
    if name in ENCODERS:
        return ENCODERS[name]["input"]
    if name in RESNETS:
        return RESNETS[name]["input"]
    if name == "foldalex64":
        return 64
    raise KeyError(f"unknown encoder {name}")


def prior_widths(name):
    """Hidden widths of the prior discriminator of a DIM model with this
    encoder: the paper's (1000, 200), or the encoder's own (tiny12)."""
    return ENCODERS.get(name, {}).get("prior", (1000, 200))


def make_encoder(name, in_channels=3, y_dim=64):
    """Any encoder by its cldim name."""
    if name in RESNETS:
        return ResNetEncoder(name, in_channels, y_dim)
    if name == "foldalex64":
        return FoldAlexEncoder(name, in_channels, y_dim)
    return Encoder(name, in_channels, y_dim)


class MI1x1(nn.Module):
    """Encode-and-dot embedding net (official MI1x1ConvNet): on a map [N,C,H,W]
    or a vector [N,C] (as [N,C,1,1]). Output [N, D, H*W] after LayerNorm over D."""

    def __init__(self, c, d):
        super().__init__()
        self.c0 = nn.Conv2d(c, d, 1, bias=False)
        self.bn = nn.BatchNorm2d(d)
        self.c1 = nn.Conv2d(d, d, 1, bias=True)
        self.shortcut = nn.Conv2d(c, d, 1, bias=False)
        self.ln = nn.LayerNorm(d)

    # How the 1x1 convolutions run (benchmarking only; the same function):
    # "nchw" as 1x1 Conv2d, "channels_last" the same in channels-last memory
    # format, "rows" as matmuls on [N*H*W, C] rows (as cldim computes them).
    layout = "nchw"

    def forward(self, x):
        if x.dim() == 2:
            x = x[:, :, None, None]
        if self.layout == "rows":
            n, c, hh, ww = x.shape
            r = x.permute(0, 2, 3, 1).reshape(-1, c)
            bn = self.bn
            h = F.batch_norm(F.linear(r, self.c0.weight.flatten(1)), bn.running_mean,
                             bn.running_var, bn.weight, bn.bias, self.training, bn.momentum, bn.eps)
            h = (F.linear(F.relu(h), self.c1.weight.flatten(1), self.c1.bias)
                 + F.linear(r, self.shortcut.weight.flatten(1)))
            return self.ln(h.reshape(n, hh * ww, -1))
        if self.layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.c1(F.relu(self.bn(self.c0(x)))) + self.shortcut(x)
        n, d = h.shape[:2]
        h = h.reshape(n, d, -1).permute(0, 2, 1)       # [N, L, D]
        return self.ln(h)                                # [N, L, D]


class GlobalCritic(nn.Module):
    """Paper Table 6: concat(flattened conv, Y) -> 512 -> 512 -> 1, scored for
    every (Y of image n, conv of image n') pair."""

    def __init__(self, conv_dim, y_dim, hidden=512):
        super().__init__()
        self.l0 = nn.Linear(conv_dim + y_dim, hidden)
        self.l1 = nn.Linear(hidden, hidden)
        self.l2 = nn.Linear(hidden, 1)

    def forward(self, conv, y):
        n = y.shape[0]
        conv = conv.flatten(1)
        pair = torch.cat([conv[None, :, :].expand(n, n, -1), y[:, None, :].expand(n, n, -1)], 2)
        h = F.relu(self.l1(F.relu(self.l0(pair))))
        return self.l2(h).reshape(n, n, 1)              # S[n, n', 1]


class ConcatCritic(nn.Module):
    """Concat-and-convolve (paper Table 7, official Aug-2018 code): [M ; Y
    broadcast] -> 1x1 conv H -> ReLU -> 1x1 conv H -> ReLU -> 1x1 conv 1, no
    biases. Returns positive and negative scores [N*L]; negatives pair
    location l of image pi_l(n) with Y of image n (neg = row indices)."""

    def __init__(self, c, y_dim, hidden=512):
        super().__init__()
        self.l0 = nn.Conv2d(c + y_dim, hidden, 1, bias=False)
        self.l1 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.l2 = nn.Conv2d(hidden, 1, 1, bias=False)

    def score(self, m_rows, y_rows):
        x = torch.cat([m_rows, y_rows], 1)[:, :, None, None]
        return self.l2(F.relu(self.l1(F.relu(self.l0(x))))).reshape(-1)

    def forward(self, M, y, neg):
        n, c, h, w = M.shape
        rows = M.flatten(2).permute(0, 2, 1).reshape(n * h * w, c)     # [N*L, C]
        yr = y[:, None, :].expand(n, h * w, y.shape[1]).reshape(n * h * w, -1)
        return self.score(rows, yr), self.score(rows[neg], yr)


class Prior(nn.Module):
    """The prior discriminator: Y -> 1000 -> 200 -> 1 (the paper's widths;
    prior_widths(encoder) gives the test encoder tiny12's narrow ones)."""

    def __init__(self, y_dim=64, widths=(1000, 200)):
        super().__init__()
        self.l0 = nn.Linear(y_dim, widths[0])
        self.l1 = nn.Linear(widths[0], widths[1])
        self.l2 = nn.Linear(widths[1], 1)

    def forward(self, v):
        return self.l2(F.relu(self.l1(F.relu(self.l0(v))))).reshape(-1)


# ----------------------------------------------------------------- estimators
def mi_loss(kind, S):
    """S: [N, N, L] scores, S[n, n', l] = critic(global n, local l of image n')."""
    n, _, l = S.shape
    eye = torch.eye(n, dtype=torch.bool, device=S.device)
    pos = S[eye]                      # [N, L]
    neg = S[~eye]                     # [N(N-1), L]
    if kind == "jsd":
        e_pos = (LOG2 - F.softplus(-pos)).mean()
        e_neg = (F.softplus(neg) - LOG2).mean()
        return e_neg - e_pos
    if kind == "nce":
        masked = S.masked_fill(eye[:, :, None], -10.0).reshape(n, 1, n * l).expand(n, l, n * l)
        logits = torch.cat([pos[:, :, None], masked], 2)   # [N, L, 1 + N L]
        return -F.log_softmax(logits, 2)[:, :, 0].mean()
    if kind == "dv":
        return torch.logsumexp(neg.reshape(-1), 0) - math.log(n * (n - 1) * l) - pos.mean()
    raise ValueError(kind)


class DIM(nn.Module):
    def __init__(self, encoder="dcgan32", in_channels=3, y_dim=64, mi_units=2048,
                 estimator="jsd", alpha=0.0, beta=1.0, gamma=0.1, global_critic=True,
                 local_critic="dot", concat_hidden=512):
        super().__init__()
        self.encoder = make_encoder(encoder, in_channels, y_dim)
        size = encoder_input(encoder)
        with torch.no_grad():
            o = self.encoder(torch.zeros(2, in_channels, size, size))
        self.local_critic = local_critic
        if local_critic == "dot":
            self.local_m = MI1x1(o["M"].shape[1], mi_units)
            self.local_y = MI1x1(y_dim, mi_units)
        else:
            self.local_cc = ConcatCritic(o["M"].shape[1], y_dim, concat_hidden)
        self.global_critic = GlobalCritic(o["conv"][0].numel(), y_dim) if global_critic else None
        self.prior = Prior(y_dim, prior_widths(encoder))
        self.estimator, self.alpha, self.beta, self.gamma = estimator, alpha, beta, gamma

    def losses(self, x, z, neg=None):
        """Encoder-side loss terms and the discriminator loss, for batch x and
        prior samples z ~ U[0,1]^d (and, for the concat critic, the negative
        row indices). Returns a dict of scalar tensors."""
        out = self.encoder(x)
        y = out["Y"]
        t = {}
        if self.local_critic == "dot":
            lm = self.local_m(out["M"])                 # [N, L, D]
            ly = self.local_y(y)[:, 0, :]               # [N, D]
            n, l, d = lm.shape
            S = (ly @ lm.reshape(n * l, d).t()).reshape(n, n, l)
            t["local"] = mi_loss(self.estimator, S)
        else:
            pos, negs = self.local_cc(out["M"], y, neg)
            if self.estimator == "jsd":
                t["local"] = F.softplus(-pos).mean() + F.softplus(negs).mean() - 2 * LOG2
            elif self.estimator == "nce":
                t["local"] = F.softplus(negs - pos).mean()
            else:
                raise ValueError("the concat critic supports jsd and nce")
        if self.global_critic is not None:
            t["global"] = mi_loss(self.estimator, self.global_critic(out["conv"], y))
        sy = torch.sigmoid(y)
        t["prior_enc"] = F.softplus(-self.prior(sy)).mean()
        t["prior_disc"] = F.softplus(-self.prior(z)).mean() + F.softplus(self.prior(sy.detach())).mean()
        total = self.beta * t["local"] + self.gamma * t["prior_enc"]
        if "global" in t:
            total = total + self.alpha * t["global"]
        t["encoder_total"] = total
        return t


# ----------------------------------------------------------------- safetensors
def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[base + b:base + end], dtype=dtypes[e["dtype"]]).reshape(e["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta


def load_checkpoint(model, path):
    """Load cldim tensors into a DIM, Encoder (make_encoder) or other module by
    name. Returns the metadata dict. Optimizer state (opt.*) is ignored.

    The file is a full checkpoint (`cldim train`: the encoder's tensors named
    "encoder.<name>") or an exported encoder (`cldim export`: "<name>", as in
    the Encoder's own state_dict, num_batches_tracked included). A bare
    Encoder takes its tensors from either: the "encoder." prefix is added
    when the file holds the name only with it."""
    tensors, meta = load_safetensors(path)
    state = model.state_dict()

    def source(k):
        if k in tensors:
            return k
        if "encoder." + k in tensors:
            return "encoder." + k
        if k.startswith("encoder.") and k[len("encoder."):] in tensors:
            return k[len("encoder."):]
        return None

    missing = [k for k in state if source(k) is None and not k.endswith("num_batches_tracked")]
    if missing:
        raise KeyError(f"{path}: missing tensors {missing[:5]} (the file has "
                       f"{sorted(tensors)[:5]}...; format {meta.get('format', '?')})")
    for k, v in state.items():
        src = source(k)
        if src is None:
            continue
        if tuple(tensors[src].shape) != tuple(v.shape):
            raise ValueError(f"{path}: {src} has shape {tuple(tensors[src].shape)}, model "
                             f"wants {tuple(v.shape)}")
        v.copy_(tensors[src].to(v.dtype))
    return meta


def load_encoder(path):
    """One call from a cldim file to a plain torch.nn.Module: the encoder of an
    exported encoder (`cldim export`) or of a full checkpoint, built from the
    architecture in its metadata (make_encoder), weights and BatchNorm buffers
    loaded, in eval mode. model(x) returns dict(M=, conv=, fc=, Y=) for x of
    shape [N, C, S, S] preprocessed as in training; model.cldim_meta holds the
    file's metadata."""
    _, meta = load_safetensors(path)
    try:
        name = meta["cfg.encoder"]
        in_channels, y_dim = int(meta["cfg.in_channels"]), int(meta["cfg.y_dim"])
    except KeyError as e:
        raise KeyError(f"{path}: not a cldim checkpoint or exported encoder (no {e} "
                       f"metadata)") from None
    model = make_encoder(name, in_channels, y_dim)
    meta = load_checkpoint(model, path)
    model.cldim_meta = meta
    return model.eval()
