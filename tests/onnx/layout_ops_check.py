#!/usr/bin/env python3
"""kiln vs onnxruntime on small NCHW models (stored NHWC by kiln) for the operators whose ONNX node tests cannot
exercise the layout: unary math fused after a Conv (Abs, Sqrt, Log, Exp, Pow, Reciprocal, Neg), LogSoftmax over the
channel and W axes, LayerNormalization over W (a transpose is needed), over the last axis of 2-D/3-D tensors and
over two axes with its Mean/InvStdDev outputs, Slice of run-time tensors along C/H/W (opset 13 inputs and opset 9
attributes), 1-D Conv/MaxPool/AveragePool, dilated 2-D pooling, Resize modes checked against onnxruntime's own
implementation (cubic, align_corners, pytorch_half_pixel, antialias, nearest_mode ceil, tf_crop_and_resize with
extrapolation), MatMul of two run-time tensors (attention), Pow and PRelu with run-time second inputs.
Tolerance |kiln - ort| <= 1e-5 + 1e-4 |ort|. Exit 77 when onnx or onnxruntime is missing."""
import argparse
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
    print("onnx.layout_ops: skipped: %s (scripts/install_deps.sh installs onnx and onnxruntime)" % e)
    sys.exit(77)

RNG = np.random.default_rng(20240602)
C = 7


def check(kiln, tmp, name, nodes, inits, xshape, outputs=("y",), opset=17, nchw=False):
    """Runs the one-input model through onnxruntime and kiln; returns an error string or None."""
    g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", TensorProto.FLOAT, xshape)],
                     [h.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                     [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    path = os.path.join(tmp, name + ".onnx")
    onnx.save(m, path)
    x = RNG.standard_normal(xshape).astype(np.float32)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    refs = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(list(outputs), {"x": x})
    xin = os.path.join(tmp, name + "_in.npy")
    np.save(xin, np.ascontiguousarray(x.transpose(0, 2, 3, 1) if nchw else x))  # kiln exposes NCHW images as NHWC
    cmd = [kiln, "run", path, "--input", "x=" + xin]
    for o in outputs:
        cmd += ["--output", "%s=%s" % (o, os.path.join(tmp, "%s_%s.npy" % (name, o)))]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode:
        return "kiln exit %d: %s" % (p.returncode, p.stderr.strip()[:300])
    worst = 0.0
    for o, ref in zip(outputs, refs):
        got = np.load(os.path.join(tmp, "%s_%s.npy" % (name, o)))
        if got.shape != ref.shape:
            return "output %s shape %s, onnxruntime %s" % (o, got.shape, ref.shape)
        d = np.abs(got.astype(np.float64) - ref)
        if np.any(d > 1e-5 + 1e-4 * np.abs(ref)):
            return "output %s max |d| %.3g" % (o, d.max())
        worst = max(worst, float(d.max()))
    print("%-28s PASS max |d| %.2g" % (name, worst))
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", required=True)
    args = ap.parse_args()
    f32 = lambda *s: RNG.standard_normal(s).astype(np.float32)
    i64 = lambda *v: np.array(v, np.int64)
    w, sc, b = f32(4, 3, 3, 3), f32(C), f32(C)
    conv = h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])
    cases = [
        ("unary_math_after_conv", [conv, h.make_node("Abs", ["c"], ["a"]), h.make_node("Add", ["a", "one"], ["a1"]),
                                   h.make_node("Sqrt", ["a1"], ["s"]), h.make_node("Log", ["s"], ["l"]),
                                   h.make_node("Exp", ["l"], ["e"]), h.make_node("Pow", ["e", "p"], ["q"]),
                                   h.make_node("Reciprocal", ["q"], ["r"]), h.make_node("Neg", ["r"], ["y"])],
         {"w": w, "one": np.array(1.0, np.float32), "p": np.array(3.0, np.float32)}, [2, 3, 5, C], ("y",), 17, True),
        ("logsoftmax_channels", [conv, h.make_node("LogSoftmax", ["c"], ["y"], axis=1)], {"w": w}, [2, 3, 5, C],
         ("y",), 13, True),
        ("logsoftmax_width", [conv, h.make_node("LogSoftmax", ["c"], ["y"], axis=-1)], {"w": w}, [2, 3, 5, C],
         ("y",), 13, True),
        ("layernorm_width_nchw", [conv, h.make_node("LayerNormalization", ["c", "s", "b"], ["y", "m", "v"])],
         {"w": w, "s": sc, "b": b}, [2, 3, 5, C], ("y", "m", "v"), 17, True),
        ("layernorm_2d", [h.make_node("LayerNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)],
         {"s": sc, "b": b}, [3, C], ("y",), 17, False),
        ("layernorm_3d_no_bias", [h.make_node("LayerNormalization", ["x", "s"], ["y", "m", "v"], axis=2)],
         {"s": sc}, [3, 5, C], ("y", "m", "v"), 17, False),
        ("slice_channels_width", [conv, h.make_node("Slice", ["c", "st", "en", "ax"], ["y"])],
         {"w": w, "st": i64(1, 2), "en": i64(3, -1), "ax": i64(1, 3)}, [2, 3, 5, C], ("y",), 13, True),
        ("slice_opset9_attributes", [conv, h.make_node("Slice", ["c"], ["y"], starts=[0, 1], ends=[2, 100],
                                                       axes=[1, 2])], {"w": w}, [2, 3, 5, C], ("y",), 9, True),
    ]
    # 1-D Conv/pooling (run as 2-D on [N, 1, L, C]), dilated 2-D pooling (ceil_mode too)
    w1 = f32(5, 3, 3)
    cases += [
        ("conv_pool_1d", [h.make_node("Conv", ["x", "w1"], ["c"], pads=[2, 2], dilations=[2], strides=[1]),
                          h.make_node("MaxPool", ["c"], ["m"], kernel_shape=[3], strides=[2], dilations=[2]),
                          h.make_node("AveragePool", ["m"], ["y"], kernel_shape=[2], pads=[1, 0])],
         {"w1": w1}, [2, 3, 17], ("y",), 19, False),
        ("pools_dilated_2d", [conv, h.make_node("MaxPool", ["c"], ["m"], kernel_shape=[2, 3], dilations=[2, 2],
                                                ceil_mode=1, strides=[2, 1]),
                              h.make_node("AveragePool", ["m"], ["y"], kernel_shape=[2, 2], dilations=[1, 2],
                                          pads=[1, 1, 0, 1])],
         {"w": w}, [2, 3, 9, 11], ("y",), 19, True),
    ]
    # Resize through kiln's RESIZE vs onnxruntime's own implementation (sizes given, so no scale rounding question)
    sz = lambda *v: np.array([2, 4] + list(v), np.int64)
    for name, attrs, sizes in [
        ("resize_cubic_half_pixel", dict(mode="cubic"), sz(13, 16)),
        ("resize_cubic_a05_excl", dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1), sz(4, 5)),
        ("resize_linear_align_corners", dict(mode="linear", coordinate_transformation_mode="align_corners"),
         sz(11, 4)),
        ("resize_linear_pytorch", dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
         sz(1, 17)),
        ("resize_linear_antialias", dict(mode="linear", antialias=1), sz(3, 4)),
        ("resize_nearest_ceil_asym", dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                                          nearest_mode="ceil"), sz(14, 20)),
        ("resize_nearest_tf_nn", dict(mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn"),
         sz(5, 7)),
    ]:
        cases.append((name, [conv, h.make_node("Resize", ["c", "", "", "sz"], ["y"], **attrs)], {"w": w, "sz": sizes},
                      [2, 3, 7, 9], ("y",), 19, True))
    cases.append(("resize_tf_crop_extrapolate",
                  [conv, h.make_node("Resize", ["c", "roi", "", "sz"], ["y"], mode="linear",
                                     coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=2.5)],
                  {"w": w, "roi": np.array([0, 0, -0.2, 0.3, 1, 1, 0.9, 1.4], np.float32), "sz": sz(6, 5)},
                  [2, 3, 7, 9], ("y",), 19, True))
    # MatMul of run-time tensors (attention: softmax(x x^T) x), Pow and PRelu with run-time second inputs
    cases += [
        ("matmul_attention", [h.make_node("Transpose", ["x"], ["xt"], perm=[0, 1, 3, 2]),
                              h.make_node("MatMul", ["x", "xt"], ["s"]), h.make_node("Softmax", ["s"], ["p"]),
                              h.make_node("MatMul", ["p", "x"], ["y"])], {}, [2, 3, 5, C], ("y",), 17, False),
        ("pow_prelu_runtime", [h.make_node("Abs", ["x"], ["a"]), h.make_node("Add", ["a", "one"], ["b"]),
                               h.make_node("Pow", ["b", "x"], ["p"]), h.make_node("Sigmoid", ["x"], ["s"]),
                               h.make_node("PRelu", ["x", "s"], ["q"]), h.make_node("Add", ["p", "q"], ["y"])],
         {"one": np.array(1.0, np.float32)}, [2, 3, C], ("y",), 17, False),
        ("layernorm_two_axes", [h.make_node("LayerNormalization", ["x", "s2", "b2"], ["y", "m", "v"], axis=-2)],
         {"s2": f32(5, C), "b2": f32(C)}, [3, 5, C], ("y", "m", "v"), 17, False),
    ]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="kiln-onnx-layout-") as tmp:
        for case in cases:
            why = check(args.kiln, tmp, *case)
            if why:
                print("%-28s FAIL %s" % (case[0], why))
                failed += 1
    print("onnx layout ops: %d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
