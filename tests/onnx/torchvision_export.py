#!/usr/bin/python3
"""Exports torchvision classifiers to ONNX with seeded random weights (Debian's python3-torch / python3-torchvision,
run by /usr/bin/python3: the pip Python of the other tests has no torch).

  /usr/bin/python3 tests/onnx/torchvision_export.py OUTDIR [--only NAME,...]

Per model NAME: OUTDIR/NAME.onnx (opset 13; mobilenet_v2_opset7 / resnet50_opset17 at 160x160 at those opsets;
vit_small: a 4-block ViT defined here (ViT class below) at 96x96, opsets 13 and 17; symbolic batch, softmax appended so
the output is probabilities; vit_b_16: torchvision's ViT-B/16 at a FIXED batch of 1, kiln's fixed-shape mode) and
OUTDIR/NAME.x.npy (NCHW float32, batch 2; vit_b_16 batch 1). Like the Keras corpus, every BatchNorm gets gamma ~ U(0.5,1.5),
beta ~ N(0,0.1) and running statistics calibrated on a random batch then perturbed (mean += N(0,0.05) std,
var *= U(0.9,1.1): milder than the Keras corpus's make_models.py, as in make_apps.py, because with U(0.5,1.5) random
EfficientNet-B0 amplifies float round-off so much that ONNX Runtime's optimized and unoptimized graphs differ by
1e-4), and the last linear layer is scaled so the logits have std ~3 (a peaked softmax makes the 1e-4
tolerance meaningful). Exit 77 when torch/torchvision are missing.
"""
import argparse
import os
import sys
import warnings

warnings.filterwarnings("ignore")
try:
    import numpy as np
    import torch
    import torchvision
except ImportError as e:
    print(f"torchvision_export: {e}; install python3-torch python3-torchvision (scripts/install_deps.sh)",
          file=sys.stderr)
    sys.exit(77)



class ViT(torch.nn.Module):
    """A Vision Transformer in the layout of Hugging Face's ViT/DeiT (separate query/key/value projections, heads
    split by reshape + permute, class token concatenated, pre-norm blocks, GELU MLP, head on the class token).
    torchvision's own vit_b_16 exports nn.MultiheadAttention, which folds the batch into the heads axis
    ([T, N*heads, d]): kiln runs it only as a fixed-shape engine (exported at batch 1, below)."""

    def __init__(self, image=96, patch=16, dim=192, depth=4, heads=3, classes=1000):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.patch = torch.nn.Conv2d(3, dim, patch, patch)
        self.cls = torch.nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = torch.nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = torch.nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(torch.nn.ModuleDict({
                "ln1": torch.nn.LayerNorm(dim, eps=1e-6), "q": torch.nn.Linear(dim, dim),
                "k": torch.nn.Linear(dim, dim), "v": torch.nn.Linear(dim, dim), "proj": torch.nn.Linear(dim, dim),
                "ln2": torch.nn.LayerNorm(dim, eps=1e-6), "fc1": torch.nn.Linear(dim, 4 * dim),
                "fc2": torch.nn.Linear(4 * dim, dim)}))
        self.norm = torch.nn.LayerNorm(dim, eps=1e-6)
        self.head = torch.nn.Linear(dim, classes)

    def split(self, t):  # [N, T, D] -> [N, heads, T, d]
        n, tokens, _ = t.shape
        return t.reshape(n, tokens, self.heads, self.dim // self.heads).permute(0, 2, 1, 3)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for b in self.blocks:
            h = b["ln1"](x)
            q, k, v = self.split(b["q"](h)), self.split(b["k"](h)), self.split(b["v"](h))
            a = torch.softmax(q @ k.transpose(-2, -1) * (self.dim // self.heads) ** -0.5, dim=-1)
            o = (a @ v).permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], self.dim)
            x = x + b["proj"](o)
            x = x + b["fc2"](torch.nn.functional.gelu(b["fc1"](b["ln2"](x))))
        return self.head(self.norm(x)[:, 0])


# name -> (constructor, input size)
MODELS = {
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), 224),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), 224),
    "googlenet": (lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True), 224),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(weights=None), 224),
    "inception_v3": (lambda: torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True), 299),
    "vit_small": (lambda: ViT(), 96),
    "vit_b_16": (lambda: torchvision.models.vit_b_16(weights=None), 224),
}
# Exported with a fixed batch of 1 (no symbolic batch): torchvision's vit_b_16 (nn.MultiheadAttention folds the batch
# into the heads axis) runs in kiln's fixed-shape mode only.
FIXED_BATCH = {"vit_b_16"}
# Extra exports at other opsets (ONNX from opset 7: Clip with attributes, BatchNormalization-7, Flatten...):
# name -> (model, opset, input size).
OPSET_VARIANTS = {"mobilenet_v2_opset7": ("mobilenet_v2", 7, 160), "resnet50_opset17": ("resnet50", 17, 160),
                  "vit_small_opset17": ("vit_small", 17, 96)}  # opset 17: LayerNormalization instead of ReduceMean...


def last_linear(model):
    lin = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return lin[-1]


def randomize(model, size, gen):
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5, generator=gen)
            bn.bias.normal_(0.0, 0.1, generator=gen)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: the calibration batch's statistics
        calib = torch.randn(4, 3, size, size, generator=gen)
        model.train()
        model(calib)
        model.eval()
        for bn in bns:
            std = bn.running_var.sqrt()
            bn.running_mean += torch.randn(bn.running_mean.shape, generator=gen) * 0.05 * std
            bn.running_var *= torch.empty(bn.running_var.shape).uniform_(0.9, 1.1, generator=gen)
        for lin in [m for m in model.modules() if isinstance(m, torch.nn.Linear)]:  # ViT: no BN, heads zero-init
            if not bns:
                lin.weight.normal_(0.0, lin.in_features ** -0.5, generator=gen)
                lin.bias.normal_(0.0, 0.02, generator=gen)
        logits = model(calib)
        fc = last_linear(model)
        s = 3.0 / float(logits.std())
        fc.weight *= s
        fc.bias *= s


def export(name, outdir):
    base, opset, size = OPSET_VARIANTS.get(name, (name, 13, None))
    ctor, default_size = MODELS[base]
    size = size or default_size
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    model = ctor()
    randomize(model, size, gen)
    net = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()
    fixed = base in FIXED_BATCH
    x = torch.randn(1 if fixed else 2, 3, size, size, generator=gen)
    path = os.path.join(outdir, f"{name}.onnx")
    torch.onnx.export(net, x, path, opset_version=opset, input_names=["input"], output_names=["probs"],
                      dynamic_axes=None if fixed else {"input": {0: "N"}, "probs": {0: "N"}}, do_constant_folding=True)
    np.save(os.path.join(outdir, f"{name}.x.npy"), x.numpy())
    print(f"exported {name} ({size}x{size}, opset {opset}) with torch {torch.__version__}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--only")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(2)
    for name in list(MODELS) + list(OPSET_VARIANTS):
        if args.only and name not in args.only.split(","):
            continue
        if os.path.exists(os.path.join(args.outdir, f"{name}.onnx")):
            continue
        export(name, args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
