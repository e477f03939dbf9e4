"""A checkpoint written by `cldim train` loads into the PyTorch reference
(tools/pytorch/cldim_torch.py) and its encoder, in eval mode, gives the same
features as cldim on the same images. Run by tests/test_train_torch.c:

    check_train_ckpt.py DIR CHECKPOINT N

DIR holds x.f32 [N, C, S, S] (the images as cldim normalised them) and
cldim's eval-mode outputs Y.f32, fc.f32, conv.f32. The model is built from
the checkpoint's cfg.* metadata alone."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.environ.get("CLDIM_SOURCE_DIR", "."), "tools", "pytorch"))
import cldim_torch  # noqa: E402
import torchcheck as tc  # noqa: E402

d, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
_, meta = cldim_torch.load_safetensors(path)
enc = meta["cfg.encoder"]
model = cldim_torch.DIM(encoder=enc, in_channels=int(meta["cfg.in_channels"]),
                        y_dim=int(meta["cfg.y_dim"]), mi_units=int(meta["cfg.mi_units"]),
                        estimator=meta["cfg.estimator"], alpha=float(meta["cfg.alpha"]),
                        beta=float(meta["cfg.beta"]), gamma=float(meta["cfg.gamma"]),
                        global_critic=float(meta["cfg.alpha"]) > 0,
                        local_critic=meta.get("cfg.local_critic", "dot"),
                        concat_hidden=int(meta.get("cfg.concat_hidden", 512)))
got_meta = cldim_torch.load_checkpoint(model, path)
assert got_meta["step"] == meta["step"]
# every tensor of the checkpoint (optimizer state aside) has a home in the model
tensors, _ = cldim_torch.load_safetensors(path)
state = model.state_dict()
extra = [k for k in tensors if not k.startswith("opt.") and k not in state]
if extra:
    print(f"{path}: tensors the PyTorch model does not have: {extra[:5]}", file=sys.stderr)
    tc._failures += 1

model = model.double().eval()
c, s = int(meta["cfg.in_channels"]), cldim_torch.ENCODERS[enc]["input"]
x = tc.load(d, "x", (n, c, s, s))
with torch.no_grad():
    out = model.encoder(x)
tc.close(f"{path} Y", tc.load(d, "Y", tuple(out["Y"].shape)), out["Y"], rtol=1e-4, atol=1e-4)
tc.close(f"{path} fc", tc.load(d, "fc", tuple(out["fc"].shape)), out["fc"], rtol=1e-4, atol=1e-4)
tc.close(f"{path} conv", tc.load(d, "conv", tuple(out["conv"].shape)), out["conv"], rtol=1e-4,
         atol=1e-4)
tc.finish()
