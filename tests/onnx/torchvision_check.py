#!/usr/bin/env python3
"""PyTorch exports (torchvision ResNet50, MobileNetV2, GoogLeNet, EfficientNet-B0, Inception-v3 and a small Vision
Transformer defined in torchvision_export.py, torchvision's ViT-B/16 exported at a fixed batch of 1, which kiln runs as
a fixed-shape engine; random weights) through kiln vs ONNX Runtime.

  python3 tests/onnx/torchvision_check.py --kiln build/kiln [--cache DIR] [--only NAME,...]

torchvision_export.py (run by /usr/bin/python3 with Debian's python3-torch/python3-torchvision) writes the .onnx
files and NCHW inputs into CACHE (default ${KILN_CACHE_DIR:-~/.cache/kiln}/onnx-torchvision-<hash>). Then per model:
ONNX Runtime with graph optimizations off (op by op, in the model's order) is the reference; `kiln run` (NCHW model, kiln's input is NHWC) must match it with max |d| <= 1e-4 on
the softmax and identical top-1 (the distance to ORT's optimized graph is printed too: on efficientnet_b0 ORT's
optimized and unoptimized graphs themselves differ by ~1e-4). `kiln inspect`'s Transpose layer count is printed (expected 0: PyTorch's NCHW
tensors are kept NHWC, and the Flatten after global pooling moves no data). Exit 77 when torch or onnxruntime is
missing. `make onnx-torchvision` runs it (exports take ~2.5 minutes on 2 cores the first time).
"""
import argparse
import hashlib
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_PY = os.environ.get("KILN_TORCH_PYTHON", "/usr/bin/python3")
try:
    import numpy as np
    import onnxruntime as ort
    sys.path.insert(0, HERE)
    from common import agree, as_kiln_input, kiln_inspect, kiln_run
except ImportError as e:
    print(f"torchvision_check: {e}; run scripts/install_deps.sh", file=sys.stderr)
    sys.exit(77)
NAMES = ["resnet50", "mobilenet_v2", "googlenet", "efficientnet_b0", "inception_v3", "mobilenet_v2_opset7",
         "resnet50_opset17", "vit_small", "vit_small_opset17", "vit_b_16"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default=os.environ.get("KILN", "build/kiln"))
    ap.add_argument("--cache")
    ap.add_argument("--only")
    args = ap.parse_args()
    names = [n for n in NAMES if not args.only or n in args.only.split(",")]
    if not os.access(TORCH_PY, os.X_OK):
        print(f"torchvision_check: {TORCH_PY} not found", file=sys.stderr)
        return 77
    d = args.cache
    if not d:
        h = hashlib.sha256()
        with open(os.path.join(HERE, "torchvision_export.py"), "rb") as f:
            h.update(f.read())
        v = subprocess.run([TORCH_PY, "-c", "import torch, torchvision; print(torch.__version__, "
                            "torchvision.__version__)"], capture_output=True, text=True)
        if v.returncode:
            print("torchvision_check: torch/torchvision not importable by " + TORCH_PY +
                  " (install python3-torch python3-torchvision)", file=sys.stderr)
            return 77
        h.update(v.stdout.encode())
        root = os.environ.get("KILN_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "kiln")
        d = os.path.join(root, f"onnx-torchvision-{h.hexdigest()[:16]}")
    r = subprocess.run([TORCH_PY, os.path.join(HERE, "torchvision_export.py"), d, "--only", ",".join(names)])
    if r.returncode:
        return r.returncode
    passed = failed = 0
    for name in names:
        t0 = time.time()
        model = os.path.join(d, f"{name}.onnx")
        try:
            x = np.load(os.path.join(d, f"{name}.x.npy"))
            refs = []
            for tag, level in (("ort_plain", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
                               ("ort_opt", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)):
                ref_path = os.path.join(d, f"{name}.{tag}.npy")
                if not os.path.exists(ref_path):
                    so = ort.SessionOptions()
                    so.graph_optimization_level = level
                    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
                    np.save(ref_path, sess.run(None, {"input": x})[0])
                refs.append(np.load(ref_path))
            ref = refs[0]
            n_tr, dims = kiln_inspect(args.kiln, model)
            xp = os.path.join(d, f"{name}.kiln_x.npy")
            np.save(xp, as_kiln_input(x, dims, is_nchw=True))
            k = kiln_run(args.kiln, model, xp, os.path.join(d, f"{name}.kiln.npy"))
            ok, info = agree(k, ref)
            d_opt = float(np.max(np.abs(k - refs[1])))
            d_ort = float(np.max(np.abs(refs[0] - refs[1])))
            info = (f"vs onnxruntime {info} (vs ORT's optimized graph {d_opt:.1e}; ORT optimized vs unoptimized "
                    f"{d_ort:.1e}); Transpose layers {n_tr}; top prob {float(ref.max()):.2f}")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            ok, info = False, str(e)
        passed, failed = passed + ok, failed + (not ok)
        print(f"{name:18s} {'PASS' if ok else 'FAIL'}  {info}  ({time.time() - t0:.1f} s)", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
