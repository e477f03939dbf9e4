#!/usr/bin/env python3
"""Time the same DIM(L) training step as `cldim bench --step-only` in PyTorch.

The model is tools/pytorch/cldim_torch.py's DIM (same encoder, encode-and-dot
local critic, prior discriminator, JSD), DIM(L) weights alpha=0 beta=1
gamma=0.1, and the step is what dim_train_step does: forward of every term,
backward, Adam on encoder+critics, then Adam on the prior discriminator.
Warm-up steps excluded; prints one JSON object (median/min/max seconds and
images/s). Device: cpu here, cuda when asked for and available.

  tools/bench/pytorch_step.py --batch 64 [--device cpu|cuda] [--threads 2] [--tf32 0|1]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pytorch"))
import torch  # noqa: E402

from cldim_torch import DIM, MI1x1  # noqa: E402


def proc_mib(key):
    """A 'Vm...: N kB' line of /proc/self/status in MiB; None where unreadable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def rss_peak_reset():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--encoder", default="dcgan32")
    ap.add_argument("--mi-units", type=int, default=2048)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--layout", default="nchw", choices=["nchw", "rows", "channels_last"],
                    help="how the critic's 1x1 convolutions run: Conv2d (nchw), Conv2d in "
                    "channels-last format, or matmuls on [N*H*W, C] rows")
    ap.add_argument("--tf32", type=int, default=0, choices=[0, 1],
                    help="CUDA: allow TF32 in matmuls and convolutions (default 0: full fp32)")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print("pytorch_step.py: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 77
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = bool(a.tf32)
    torch.backends.cudnn.allow_tf32 = bool(a.tf32)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    # memory of model creation + the steps, as cldim bench measures its own
    hwm = rss_peak_reset()
    rss_base = proc_mib("VmRSS")
    size = {"basic28": 28, "dcgan28": 28, "dcgan32": 32, "dcgan64": 64, "alexnet64": 64}[a.encoder]
    cin = 1 if size == 28 else 3
    m = DIM(a.encoder, cin, 64, a.mi_units, "jsd", 0.0, 1.0, 0.1, global_critic=False).to(dev)
    for mod in m.modules():
        if isinstance(mod, MI1x1):
            mod.layout = a.layout
    if a.layout == "channels_last":
        m = m.to(memory_format=torch.channels_last)
    prior = list(m.prior.parameters())
    prior_ids = {id(p) for p in prior}
    enc = [p for p in m.parameters() if id(p) not in prior_ids]
    opt_e = torch.optim.Adam(enc, lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(prior, lr=1e-4, betas=(0.5, 0.999))
    x = torch.rand(a.batch, cin, size, size, device=dev) * 2 - 1

    def step():
        z = torch.rand(a.batch, 64, device=dev)
        t = m.losses(x, z)
        opt_e.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)
        t["encoder_total"].backward(inputs=enc)
        t["prior_disc"].backward(inputs=prior)
        opt_e.step()
        opt_d.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    rss_peak = proc_mib("VmHWM") if hwm else None
    dev_peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    med = statistics.median(times)
    if dev.type == "cuda":
        name = "%s (TF32 %s)" % (torch.cuda.get_device_name(0), "on" if a.tf32 else "off")
    else:
        name = "cpu (%d threads)" % a.threads
    print(json.dumps({"framework": "pytorch " + torch.__version__, "device": name,
                      "layout": a.layout,
                      "encoder": a.encoder, "mi_units": a.mi_units, "batch": a.batch,
                      "reps": a.reps, "median_ms": med * 1e3, "min_ms": min(times) * 1e3,
                      "max_ms": max(times) * 1e3, "images_per_s": a.batch / med,
                      "rss_base_mib": rss_base, "rss_peak_mib": rss_peak,
                      "device_peak_mib": dev_peak}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
