#!/usr/bin/env python3
"""Export torchvision models (weights=None, seeded) to ONNX for kiln: export_onnx.py OUT_DIR [name ...]."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import MODELS  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name in sys.argv[2:] or list(MODELS):
    make, size = MODELS[name]
    torch.manual_seed(0)
    m = make().eval()
    with torch.no_grad():
        torch.onnx.export(m, torch.randn(1, 3, size, size), os.path.join(out, name + ".onnx"), opset_version=17,
                          input_names=["input"], output_names=["logits"], dynamo=False)
    print("exported", name, flush=True)
