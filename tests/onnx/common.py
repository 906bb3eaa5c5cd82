"""Helpers shared by the ONNX end-to-end checks: running kiln, reading `kiln inspect`, comparing softmax outputs."""
import os
import re
import subprocess

import numpy as np

ATOL = 1e-4


def kiln_run(kiln, model, x_path, out_path):
    """`kiln run MODEL --input X --output OUT`; returns the output array or raises RuntimeError with kiln's message."""
    r = subprocess.run([kiln, "run", model, "--input", x_path, "--output", out_path], capture_output=True, text=True,
                       timeout=900)
    if r.returncode:
        raise RuntimeError(f"kiln run {os.path.basename(model)}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    return np.load(out_path)


def kiln_run_unfused(kiln, model, x_path, out_path, batch):
    """Build MODEL with every optimizer pass off (`kiln build --no-fusion`), run it, return the output array."""
    engine = out_path + ".nofusion.kiln"
    r = subprocess.run([kiln, "build", model, "-o", engine, "--no-fusion", "--batch", str(batch)],
                       capture_output=True, text=True, timeout=900)
    if r.returncode:
        raise RuntimeError(f"kiln build --no-fusion {os.path.basename(model)}: {r.stderr.strip()[-300:]}")
    try:
        return kiln_run(kiln, engine, x_path, out_path)
    finally:
        os.remove(engine)


def kiln_inspect(kiln, model):
    """(number of Transpose layers, dims of input 0 without the batch) from `kiln inspect MODEL`. A fixed-shape
    engine prints the model's own shape ("[1,224,224,3]"): its first axis is dropped the same way."""
    r = subprocess.run([kiln, "inspect", model], capture_output=True, text=True, timeout=900)
    if r.returncode:
        raise RuntimeError(f"kiln inspect {os.path.basename(model)}: {r.stderr.strip()[-300:]}")
    n_tr = len(re.findall(r"^\s+\d+\s+Transpose\s", r.stdout, re.M))
    m = re.search(r"^inputs:\n\s+0\s+\S+\s+\[(?:N|\d+),([\d,]+)\]", r.stdout, re.M)
    kiln_inspect.last_text = r.stdout
    return n_tr, tuple(int(s) for s in m.group(1).split(",")) if m else None


def googlenet_fusions(text):
    """Problems with the fusions issue 5 asks of googlenet_bn, read from `kiln inspect` text ('' when all hold): no
    BatchNorm left, every Conv2D with a fused relu (or, for the pool branch's 1x1 conv that swap_avgpool_conv runs
    before its average pool, the relu fused into that pool), one horizontal (||) conv per inception module (9), no concat copy
    kernel."""
    layers = re.findall(r"^\s+\d+\s+(\w+)\s+\[N[^\]]*\]\s+(\S+)", text, re.M)
    problems = []
    if any(op == "BatchNorm" for op, _ in layers):
        problems.append("BatchNorm left")
    convs = [act for op, act in layers if op == "Conv2D"]
    pooled = sum(op == "AvgPool" and act == "relu" and i > 0 and layers[i - 1] == ("Conv2D", "-")
                 for i, (op, act) in enumerate(layers))
    if not convs or sum(act != "relu" for act in convs) != pooled:
        problems.append(f"{sum(a != 'relu' for a in convs)} of {len(convs)} convs without a fused relu "
                        f"({pooled} of them before an AvgPool with it)")
    m = re.search(r"(\d+) horizontal \(\|\|\) convs; concat: (\d+) in place, (\d+) copy kernels", text)
    if not m or int(m.group(1)) != 9 or int(m.group(3)) != 0:
        problems.append("summary: " + (m.group(0) if m else "no fusion summary line"))
    return "; ".join(problems)


def as_kiln_input(x_nchw_or_nhwc, kiln_dims, is_nchw):
    """The array in the order kiln's engine input wants: kiln exposes NCHW image inputs as NHWC."""
    x = x_nchw_or_nhwc
    if tuple(x.shape[1:]) == tuple(kiln_dims):
        return np.ascontiguousarray(x)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if is_nchw else x.transpose(0, 3, 1, 2))


def agree(a, b):
    """Softmax criterion: max |a - b| <= 1e-4 and identical top-1 per sample."""
    if a.shape != b.shape:
        return False, f"shape {a.shape} != {b.shape}"
    d = float(np.max(np.abs(a.astype(np.float64) - b)))
    top = int(np.sum(a.argmax(-1) == b.argmax(-1)))
    return d <= ATOL and top == len(b), f"max|d| {d:.1e} top-1 {top}/{len(b)}"
