#!/usr/bin/env python3
"""ONNX backend node tests (the generators shipped in the `onnx` wheel, onnx.backend.test.case.node) through kiln.

  python3 tests/onnx/node_tests.py --kiln build/kiln [--only SUBSTRING] [--markdown FILE] [-v]

Claim rule (documented in docs/ONNX.md). A node test is CLAIMED when
  1. every operator of its graph is in kiln's ONNX operator table (parsed from src/import/onnx/onnx_ops.c), and
  2. none of them is one kiln computes only on constants at import (Gather, Slice, Neg... of shape subgraphs), and
  3. after the harness bakes weight-like inputs into initializers (every graph input after the first whose shape
     differs from the first input's: kiln is an inference engine for models with fixed weights), the remaining
     run-time inputs and every output are float32 tensors of rank >= 1.
A claimed test then ends one of three ways:
  PASS     kiln's outputs match the expected ones: |kiln - expected| <= atol + rtol * |expected| elementwise with
           atol = 1e-5, rtol = 1e-4, or the test generator's own tolerance where it is looser (ONNX's default
           rtol 1e-3: some expected outputs are literals rounded to 4 digits);
  REFUSED  kiln's importer refuses the model with a message naming the node and the reason (an attribute value,
           axis or shape kiln does not support, e.g. an op over the batch axis); listed, never hidden;
  FAIL     anything else: wrong numbers, a crash, an error that is not an import refusal.
Inputs go to `kiln run` as they are: the first axis is kiln's batch (the test runs with that batch), or, for a model
that uses that axis as data (every node test declares static shapes), kiln builds a fixed-shape engine that takes
the ONNX shapes whole (docs/ONNX.md, fixed-shape mode). A 4-D input feeding a spatial operator (Conv, pooling,
BatchNormalization...) is given to kiln as NHWC, as kiln's importer exposes it (in both modes).
Prints one line per non-passing test, per-operator tallies and `N passed, M failed`; exits 1 when M > 0.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import onnx.backend.test.case.node as node_cases
except ImportError as e:
    print(f"node_tests: onnx not importable ({e}); run scripts/install_deps.sh", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
RTOL, ATOL = 1e-4, 1e-5
SPATIAL = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Resize",
           "Upsample", "ConvTranspose", "InstanceNormalization", "LRN"}
PASSTHROUGH = {"Add", "Sub", "Mul", "Div", "Relu", "Clip", "Identity", "Cast", "Pad", "LeakyRelu", "Sigmoid", "Tanh",
               "HardSwish", "HardSigmoid", "PRelu", "Elu", "Dropout"}


def kiln_ops():
    """kiln's table in onnx_ops.c, the single source of what kiln claims: (operators converted to kernels,
    operators computed only on constants at import, e.g. Gather/Slice of shape subgraphs)."""
    with open(os.path.join(SRC, "src", "import", "onnx", "onnx_ops.c")) as f:
        text = f.read()
    table = text[text.index("} table[] = {"):]
    table = table[:table.index("};")]
    entries = re.findall(r'\{\s*"(\w+)"\s*,\s*(\w+)\s*\}', table)
    return {op for op, fn in entries if fn != "fold_only"}, {op for op, fn in entries if fn == "fold_only"}


def input_is_nchw(graph, name):
    """kiln's rule (onnx_import.c input_is_nchw): a 4-D input reaching a spatial op through elementwise ops."""
    front = {name}
    for n in graph.node:
        if not any(i in front for i in n.input):
            continue
        if n.op_type in SPATIAL:
            return True
        if n.op_type in PASSTHROUGH:
            front.update(n.output)
    return False


def is_f32_tensor(vi):
    t = vi.type
    return t.HasField("tensor_type") and t.tensor_type.elem_type == onnx.TensorProto.FLOAT


def prepare(case, claimed_ops):
    """Returns (reason_unclaimed, model, kept_inputs, outputs) for the first data set."""
    g = case.model.graph
    ops = sorted({n.op_type for n in g.node})
    folded = [o for o in ops if o in claimed_ops[1]]
    if folded:
        return (f"{', '.join(folded)}: kiln computes {'these' if len(folded) > 1 else 'it'} only on constants "
                "(shape subgraphs, folded at import)"), None, None, None
    missing = [o for o in ops if o not in claimed_ops[0]]
    if missing:
        return f"operator{'s' if len(missing) > 1 else ''} not in kiln: {', '.join(missing)}", None, None, None
    if not case.data_sets:
        return "no data set", None, None, None
    inputs, outputs = case.data_sets[0]
    init_names = {t.name for t in g.initializer}
    graph_inputs = [vi for vi in g.input if vi.name not in init_names]
    if len(inputs) != len(graph_inputs):
        return "optional inputs omitted from the data set", None, None, None
    if not all(isinstance(x, np.ndarray) for x in inputs) or not all(isinstance(y, np.ndarray) for y in outputs):
        return "non-tensor inputs or outputs (sequences, optionals)", None, None, None
    if not graph_inputs:
        return "no run-time input", None, None, None
    first = inputs[0]
    keep, bake = [], []
    for k, (vi, x) in enumerate(zip(graph_inputs, inputs)):
        (keep if k == 0 or (x.shape == first.shape and x.dtype == np.float32) else bake).append((vi, x))
    for vi, x in keep:
        if not is_f32_tensor(vi) or x.dtype != np.float32 or x.ndim < 1 or 0 in x.shape:
            return (f"run-time input '{vi.name}' is {x.dtype} of shape {x.shape} (kiln: float32, rank >= 1, "
                    "not empty)"), None, None, None
    for vi, y in zip(g.output, outputs):
        if not is_f32_tensor(vi) or y.dtype != np.float32 or y.ndim < 1:
            return f"output '{vi.name}' is {y.dtype} of rank {y.ndim} (kiln: float32, rank >= 1)", None, None, None
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    baked = {vi.name for vi, _ in bake}
    kept_vis = [vi for vi in m.graph.input if vi.name not in baked]
    del m.graph.input[:]
    m.graph.input.extend(kept_vis)
    for vi, x in bake:
        m.graph.initializer.append(numpy_helper.from_array(x, vi.name))
    return None, m, keep, list(zip(g.output, outputs))


def run_case(kiln, case, claimed_ops, tmp):
    why, m, keep, outs = prepare(case, claimed_ops)
    if why:
        return "unclaimed", why
    d = os.path.join(tmp, case.name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    onnx.save(m, path)
    cmd = [kiln, "run", path]
    for k, (vi, x) in enumerate(keep):
        if x.ndim == 4 and input_is_nchw(m.graph, vi.name):
            x = x.transpose(0, 2, 3, 1)
        p = os.path.join(d, f"in{k}.npy")
        np.save(p, np.ascontiguousarray(x))
        cmd += ["--input", f"{vi.name}={p}" if "=" not in vi.name and "/" not in vi.name else p]
    for k, (vi, _) in enumerate(outs):
        cmd += ["--output", f"{vi.name}={os.path.join(d, f'out{k}.npy')}" if "=" not in vi.name and "/" not in vi.name
                else os.path.join(d, f"out{k}.npy")]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "fail", "kiln timed out"
    err = (p.stderr.strip().splitlines() or ["(no message)"])
    if p.returncode != 0:
        msg = " ".join(err)[:300]
        if p.returncode == 1 and path in msg:
            return "refused", msg.replace(path + ": ", "")
        return "fail", f"exit {p.returncode}: {msg}"
    worst = 0.0
    for k, (vi, y) in enumerate(outs):
        try:
            got = np.load(os.path.join(d, f"out{k}.npy"))
        except (OSError, ValueError) as e:
            return "fail", f"no output {k}: {e}"
        if got.shape != y.shape:
            return "fail", f"output '{vi.name}' shape {got.shape}, expected {y.shape}"
        # The generator's own tolerance when looser (some expected values are literals rounded to 4 digits).
        rtol, atol = max(RTOL, getattr(case, "rtol", 0) or 0), max(ATOL, getattr(case, "atol", 0) or 0)
        bad = np.abs(got.astype(np.float64) - y) > atol + rtol * np.abs(y)
        nan_ok = np.isnan(got) == np.isnan(y)
        if np.any(bad & ~np.isnan(y)) or not np.all(nan_ok):
            return "fail", f"output '{vi.name}' max |d| {float(np.nanmax(np.abs(got - y))):.3g}"
        if y.size:
            worst = max(worst, float(np.nanmax(np.abs(got - y))) if np.any(~np.isnan(y)) else 0.0)
    shutil.rmtree(d, ignore_errors=True)
    return "pass", f"max |d| {worst:.2g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default=os.environ.get("KILN", "build/kiln"))
    ap.add_argument("--only", help="run tests whose name contains this")
    ap.add_argument("--markdown", help="write the per-test results as Markdown tables here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing tests too")
    args = ap.parse_args()
    if not os.access(args.kiln, os.X_OK):
        print(f"node_tests: kiln binary {args.kiln} not found", file=sys.stderr)
        return 1
    claimed_ops = kiln_ops()
    saved = os.dup(2)  # the generators print numpy warnings (inf/nan cases) on stderr
    with open(os.devnull, "w") as dn:
        os.dup2(dn.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cases = [c for c in node_cases.collect_testcases() if c.kind == "node"]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    results = {}
    tmp = tempfile.mkdtemp(prefix="kiln-onnx-node-")
    try:
        for case in sorted(cases, key=lambda c: c.name):
            status, info = run_case(args.kiln, case, claimed_ops, tmp)
            results[case.name] = (status, info, sorted({n.op_type for n in case.model.graph.node}))
            if status in ("fail", "refused") or args.verbose:
                print(f"{case.name:60s} {status.upper():8s} {info}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    count = {s: sum(1 for r in results.values() if r[0] == s) for s in ("pass", "fail", "refused", "unclaimed")}
    tested_ops = sorted({op for r in results.values() if r[0] != "unclaimed" for op in r[2]})
    all_ops = sorted({op for r in results.values() for op in r[2]})
    unclaimed_ops = [o for o in all_ops if o not in claimed_ops[0] and o not in claimed_ops[1]]
    const_only = [o for o in all_ops if o in claimed_ops[1]]
    print(f"onnx node tests (onnx {onnx.__version__}): {len(results)} tests, "
          f"{count['pass'] + count['fail'] + count['refused']} claimed ({len(tested_ops)} operators): "
          f"{count['pass']} passed, {count['fail']} failed, {count['refused']} refused by the importer with a reason; "
          f"{count['unclaimed']} unclaimed")
    print(f"operators in ONNX node tests that kiln does not claim ({len(unclaimed_ops)}): {' '.join(unclaimed_ops)}")
    print(f"operators kiln computes only on constants at import ({len(const_only)}; their node tests feed run-time "
          f"tensors, so unclaimed): {' '.join(const_only)}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"onnx {onnx.__version__}: {count['pass']} passed, {count['fail']} failed, "
                    f"{count['refused']} refused, {count['unclaimed']} unclaimed\n\n")
            f.write("| operator | passed | failed | refused |\n|---|---|---|---|\n")
            for op in tested_ops:
                rs = [r[0] for r in results.values() if r[0] != "unclaimed" and op in r[2]]
                f.write(f"| {op} | {rs.count('pass')} | {rs.count('fail')} | {rs.count('refused')} |\n")
            f.write("\n| test | result | detail |\n|---|---|---|\n")
            for name, (s, info, _) in sorted(results.items()):
                if s != "unclaimed":
                    f.write(f"| {name} | {s} | {info.replace('|', '/')} |\n")
            f.write(f"\nUnclaimed operators ({len(unclaimed_ops)}): {', '.join(unclaimed_ops)}\n")
            f.write(f"\nComputed only on constants ({len(const_only)}): {', '.join(const_only)}\n")
    print(f"{count['pass']} passed, {count['fail']} failed")
    return 1 if count["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
