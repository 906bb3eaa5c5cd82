#!/usr/bin/env python3
"""Fixed-shape mode (docs/ONNX.md "Batch rule"): ONNX models whose nodes use the first axis as data, with every input
shape static, build as fixed-shape engines. Checked against onnxruntime (graph optimizations off) and the CLI contract:

  python3 tests/onnx/fixed_shape_check.py --kiln build/kiln

- `kiln build` says "fixed-shape engine: node '...' (Op) uses axis 0 as data" and writes a batch 1..1 engine;
  `kiln build --batch 2` of such a model is refused with a message saying why;
- `kiln inspect` (text and --json) gives the ONNX shapes of inputs and outputs, no batch axis ("FixedShape": true);
- `kiln run ENGINE --input x.npy` takes the ONNX shape as is (an NCHW image input as NHWC) and writes outputs of the
  ONNX output shape, |kiln - ort| <= 1e-5 + 1e-4 |ort|;
- the same graphs with a symbolic batch are still refused, the message pointing at re-exporting with a fixed batch;
- a Conv on an ONNX batch of 2 in fixed-shape mode is refused naming the node.
Exit 77 when onnx or onnxruntime is missing."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper as h, numpy_helper as nh
except ImportError as e:
    print("onnx.fixed_shape: skipped: %s (scripts/install_deps.sh installs onnx and onnxruntime)" % e)
    sys.exit(77)

RNG = np.random.default_rng(20261126)
failures = []


def check(cond, what):
    print("%-78s %s" % (what, "PASS" if cond else "FAIL"), flush=True)
    if not cond:
        failures.append(what)


def model(tmp, name, nodes, inits, inputs, outputs, opset=17):
    """inputs/outputs: {name: shape}; a shape may hold a string (symbolic dim). Returns the file path."""
    g = h.make_graph(nodes, name, [h.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in inputs.items()],
                     [h.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in outputs.items()],
                     [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    path = os.path.join(tmp, name + ".onnx")
    onnx.save(m, path)
    return path


def kiln(k, *args):
    return subprocess.run([k, *args], capture_output=True, text=True, timeout=120)


def ort_run(path, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def close(got, ref):
    return got.shape == ref.shape and bool(np.all(np.abs(got.astype(np.float64) - ref) <= 1e-5 + 1e-4 * np.abs(ref)))


def engine_case(k, tmp, name, path, feeds, kiln_feeds, expect_in_shapes):
    """Build, inspect and run one fixed-shape model; compare with onnxruntime."""
    eng = os.path.join(tmp, name + ".kiln")
    r = kiln(k, "build", path, "-o", eng)
    check(r.returncode == 0 and "fixed-shape engine: node '" in r.stdout and "uses axis 0 as data" in r.stdout
          and "batch       1..1" in r.stdout, f"{name}: kiln build says fixed-shape, batch 1..1")
    if r.returncode:
        print(r.stderr)
        return
    refs = ort_run(path, feeds)
    r = kiln(k, "inspect", eng, "--json")
    info = json.loads(r.stdout) if r.returncode == 0 else {}
    binds = {b["Name"]: b for b in info.get("Bindings", [])}
    outs = [o.name for o in onnx.load(path).graph.output]
    ok = info.get("FixedShape") is True and info.get("BatchMin") == 1 and info.get("BatchMax") == 1
    for n, s in expect_in_shapes.items():
        ok = ok and binds.get(n, {}).get("Dimensions") == list(s)
    for n, ref in zip(outs, refs):
        ok = ok and binds.get(n, {}).get("Dimensions") == list(ref.shape)
    check(ok, f"{name}: kiln inspect --json: FixedShape, batch 1:1, ONNX shapes {list(expect_in_shapes.values())}")
    r = kiln(k, "inspect", eng)
    text_ok = r.returncode == 0 and all(
        ("[" + ",".join(str(d) for d in s) + "]") in r.stdout for s in list(expect_in_shapes.values()) +
        [ref.shape for ref in refs])
    check(text_ok and "fixed-shape engine" in r.stdout, f"{name}: kiln inspect text shows the ONNX shapes")
    cmd = ["run", eng]
    for n, x in kiln_feeds.items():
        p = os.path.join(tmp, f"{name}.{n}.npy")
        np.save(p, np.ascontiguousarray(x))
        cmd += ["--input", f"{n}={p}"]
    for i, n in enumerate(outs):
        cmd += ["--output", f"{n}={os.path.join(tmp, f'{name}.out{i}.npy')}"]
    r = kiln(k, *cmd)
    if r.returncode:
        check(False, f"{name}: kiln run: {r.stderr.strip()[:200]}")
        return
    for i, (n, ref) in enumerate(zip(outs, refs)):
        got = np.load(os.path.join(tmp, f"{name}.out{i}.npy"))
        d = float(np.max(np.abs(got.astype(np.float64) - ref))) if got.shape == ref.shape else float("nan")
        check(close(got, ref), f"{name}: kiln run output '{n}' {got.shape} vs onnxruntime {ref.shape}, "
              f"max |d| {d:.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default=os.environ.get("KILN", "build/kiln"))
    args = ap.parse_args()
    k = args.kiln
    with tempfile.TemporaryDirectory(prefix="kiln-fixed-") as tmp:
        # 1. Attention-style data use of axis 0: x[2,3,4] -> Transpose [3,2,4] -> Softmax over axis 0 -> Concat with
        #    x's transpose along axis 0 -> Reshape to [4, 3, 4] -> MatMul by a constant varying along axis 0 ->
        #    ReduceMean over every axis (keepdims) as a second output. The ONNX shapes go in and out as they are.
        w = RNG.standard_normal((4, 4, 5)).astype(np.float32)
        nodes = [h.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
                 h.make_node("Softmax", ["t"], ["s"], axis=0),
                 h.make_node("Concat", ["s", "t"], ["c"], axis=0),
                 h.make_node("Reshape", ["c", "shape"], ["r"]),
                 h.make_node("MatMul", ["r", "w"], ["y"]),
                 h.make_node("ReduceMean", ["y"], ["m"], keepdims=1)]
        inits = {"w": w, "shape": np.array([4, 3, 4], np.int64)}
        x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
        path = model(tmp, "attention_like", nodes, inits, {"x": [2, 3, 4]}, {"y": None, "m": None})
        engine_case(k, tmp, "attention_like", path, {"x": x}, {"x": x}, {"x": (2, 3, 4)})

        # 2. NCHW image [1,3,8,8] -> Conv -> heads-style Reshape/Transpose moving axis 0 -> Gemm transA=1: the image
        #    input is still exposed NHWC ([1,8,8,3]), the Conv runs on the size-1 ONNX batch.
        wc = RNG.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3
        wg = RNG.standard_normal((6, 5)).astype(np.float32)
        nodes = [h.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1]),
                 h.make_node("Relu", ["c"], ["a"]),
                 h.make_node("Reshape", ["a", "shape"], ["f"]),        # [6, 64]
                 h.make_node("Gemm", ["f", "wg"], ["y"], transA=1)]      # f^T [64, 6] x [6, 5]
        inits = {"wc": wc, "wg": wg, "shape": np.array([6, 64], np.int64)}
        x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
        path = model(tmp, "conv_head", nodes, inits, {"x": [1, 3, 8, 8]}, {"y": None})
        engine_case(k, tmp, "conv_head", path, {"x": x}, {"x": x.transpose(0, 2, 3, 1)}, {"x": (1, 8, 8, 3)})

        # 2b. BatchNormalization (+ fused Relu) on an ONNX batch of 2 then Concat on axis 0: BATCHNORM works on the
        #     last axis, so no size-1 batch is needed; the NCHW input [2,3,4,5] is exposed NHWC [2,4,5,3].
        bn = {"s": RNG.uniform(0.5, 1.5, 3).astype(np.float32), "b": RNG.standard_normal(3).astype(np.float32),
              "mu": RNG.standard_normal(3).astype(np.float32), "var": RNG.uniform(0.5, 1.5, 3).astype(np.float32)}
        nodes = [h.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["n"]),
                 h.make_node("Relu", ["n"], ["a"]),
                 h.make_node("Concat", ["a", "x"], ["y"], axis=0)]
        x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
        path = model(tmp, "bn_concat", nodes, bn, {"x": [2, 3, 4, 5]}, {"y": None})
        engine_case(k, tmp, "bn_concat", path, {"x": x}, {"x": x.transpose(0, 2, 3, 1)}, {"x": (2, 4, 5, 3)})

        # 3. --batch other than 1 is refused for a fixed-shape model.
        r = kiln(k, "build", path, "-o", os.path.join(tmp, "b2.kiln"), "--batch", "2")
        check(r.returncode == 1 and "fixed-shape" in r.stderr and "batch 1 only" in r.stderr,
              "kiln build --batch 2 of a fixed-shape model: refused, saying why")

        # 4. The same use of axis 0 with a symbolic batch: refused, pointing at a fixed re-export.
        path = model(tmp, "symbolic", [h.make_node("Softmax", ["x"], ["y"], axis=0)], {}, {"x": ["N", 4]},
                     {"y": ["N", 4]})
        r = kiln(k, "build", path, "-o", os.path.join(tmp, "sym.kiln"))
        check(r.returncode == 1 and "softmax over the batch axis" in r.stderr and
              "re-export with a fixed batch" in r.stderr, "symbolic batch + Softmax over axis 0: refused, "
              "'re-export with a fixed batch'")

        # 5. Fixed-shape mode with a Conv on an ONNX batch of 2: refused naming the node.
        nodes = [h.make_node("Conv", ["x", "wc"], ["c"], name="the_conv"),
                 h.make_node("Softmax", ["c"], ["y"], axis=0)]
        path = model(tmp, "conv_batch2", nodes, {"wc": wc}, {"x": [2, 3, 8, 8]}, {"y": None})
        r = kiln(k, "build", path, "-o", os.path.join(tmp, "cb2.kiln"))
        check(r.returncode == 1 and "node 'the_conv' (Conv" in r.stderr and "fixed-shape mode: Conv with batch 2"
              in r.stderr, "fixed-shape Conv on an ONNX batch of 2: refused naming the node")

        # 6. A model that needs no fixed shape keeps its batch axis (normal engine, --batch range accepted).
        path = model(tmp, "normal", [h.make_node("Softmax", ["x"], ["y"], axis=1)], {}, {"x": ["N", 4]},
                     {"y": ["N", 4]})
        r = kiln(k, "build", path, "-o", os.path.join(tmp, "n.kiln"), "--batch", "1:4")
        check(r.returncode == 0 and "fixed-shape" not in r.stdout and "batch       1..4" in r.stdout,
              "a model without axis-0 data use: normal engine, batch 1..4")

        # 7. An empty result (Slice past the end) as a graph output: an engine whose output has a zero-length axis,
        #    through save -> load, shaped as onnxruntime's; read by another node: refused naming the node.
        ends = {"s": np.array([1000], np.int64), "e": np.array([1000], np.int64), "a": np.array([1], np.int64)}
        path = model(tmp, "empty_out", [h.make_node("Slice", ["x", "s", "e", "a"], ["y"])], ends, {"x": ["N", 10, 5]},
                     {"y": ["N", 0, 5]})
        x = RNG.standard_normal((3, 10, 5)).astype(np.float32)
        xp, yp, ep = (os.path.join(tmp, f) for f in ("xe.npy", "ye.npy", "e.kiln"))
        np.save(xp, x)
        r = kiln(k, "build", path, "-o", ep, "--batch", "1:3")
        r2 = kiln(k, "run", ep, "--input", xp, "--output", yp) if r.returncode == 0 else r
        ref = ort_run(path, {"x": x})[0]
        check(r2.returncode == 0 and np.load(yp).shape == ref.shape == (3, 0, 5),
              "empty Slice result as the graph output: shape (3, 0, 5) like onnxruntime's")
        nodes = [h.make_node("Slice", ["x", "s", "e", "a"], ["t"], name="the_slice"),
                 h.make_node("Concat", ["t", "x"], ["y"], axis=1)]
        path = model(tmp, "empty_read", nodes, ends, {"x": ["N", 10, 5]}, {"y": ["N", 10, 5]})
        r = kiln(k, "build", path, "-o", os.path.join(tmp, "er.kiln"))
        check(r.returncode == 1 and "node 'the_slice' (Slice" in r.stderr and "empty slice" in r.stderr,
              "empty Slice result read by another node: refused naming the node")
    print("fixed-shape checks: %s" % ("all passed" if not failures else "%d failed" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
