#!/usr/bin/env python3
"""Write seeded random test cases for kiln's reference kernels, computed independently with NumPy.

Usage: gen_cases.py OUT_DIR [--seed N]

Each case is OUT_DIR/<case>.json plus .npy files:
  {"op": "Conv2D", "name": "conv2d_03", "label": "<fused activation, for messages>", "batch": 2, "attrs": {...kiln_attrs fields...},
   "inputs": [{"file": "<case>_in0.npy", "constant": false, "shape": [...]}, ...],
   "output": {"file": "<case>_out.npy", "shape": [...]}}
Activation inputs and the output hold `batch` samples (shape[0] == batch); constants have their literal shape.
Activation parameters follow kiln_act (src/core/ops.h): alpha, beta, gamma; beta may be "inf".

The expected outputs are computed in float64 from the float32 inputs by code written from the ops' mathematical
definitions (Keras / NumPy semantics), not from kiln's C: convolution is a sum of per-tap tensor contractions over a
padded input, pooling uses strided slices of a padded input, broadcasting is NumPy's own. The checker
(check_ref_ops.c) compares with |got - want| <= 1e-5 + 1e-5 * |want|.
"""
import argparse
import json
import math
import os
import sys

try:
    import numpy as np
except ImportError:  # ctest treats 77 as "skipped"
    print("gen_cases.py: numpy is not installed; skipping the reference-kernel op tests")
    sys.exit(77)

CASES_PER_OP = 6

# ---- activations (Keras definitions) ---------------------------------------------------------------------------

INF = float("inf")

# (kind, alpha, beta, gamma, label): every activation kind and every parameterisation kiln must get right.
ACTS = [
    ("relu", 0.0, INF, 0.0, "relu"),
    ("relu", 0.0, 6.0, 0.0, "relu6"),
    ("relu", 0.3, INF, 0.0, "leaky_relu"),
    ("relu", 0.1, 2.5, 0.4, "relu_slope_max_threshold"),
    ("relu", 0.0, INF, -0.5, "relu_negative_threshold"),
    ("sigmoid", 0.0, 0.0, 0.0, "sigmoid"),
    ("hard_sigmoid", 0.2, 0.5, 0.0, "hard_sigmoid_keras2"),
    ("hard_sigmoid", 1.0 / 6.0, 0.5, 0.0, "hard_sigmoid_keras3"),
    ("swish", 0.0, 0.0, 0.0, "swish"),
    ("hard_swish", 0.0, 0.0, 0.0, "hard_swish"),
    ("tanh", 0.0, 0.0, 0.0, "tanh"),
    ("elu", 1.0, 0.0, 0.0, "elu"),
    ("elu", 0.5, 0.0, 0.0, "elu_alpha_0.5"),
    ("gelu", 0.0, 0.0, 0.0, "gelu_exact"),
    ("gelu", 1.0, 0.0, 0.0, "gelu_tanh"),
    ("selu", 0.0, 0.0, 0.0, "selu"),
    ("softplus", 0.0, 0.0, 0.0, "softplus"),
    ("softsign", 0.0, 0.0, 0.0, "softsign"),
    ("exponential", 0.0, 0.0, 0.0, "exponential"),
]

_erf = np.vectorize(math.erf)


def act_ref(x, kind, alpha, beta, gamma):
    """Activation as Keras defines it (float64)."""
    if kind == "linear":
        return x
    if kind == "relu":  # keras ReLU(max_value=beta, negative_slope=alpha, threshold=gamma)
        return np.where(x >= beta, beta, np.where(x >= gamma, x, alpha * (x - gamma)))
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if kind == "hard_sigmoid":
        return np.clip(alpha * x + beta, 0.0, 1.0)
    if kind == "swish":
        return x / (1.0 + np.exp(-x))
    if kind == "hard_swish":
        return x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0
    if kind == "tanh":
        return np.tanh(x)
    if kind == "elu":
        return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0.0)) - 1.0))
    if kind == "gelu":
        if alpha:
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if kind == "selu":
        a, s = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
        return s * np.where(x > 0, x, a * (np.exp(np.minimum(x, 0.0)) - 1.0))
    if kind == "softplus":
        return np.logaddexp(0.0, x)
    if kind == "softsign":
        return x / (1.0 + np.abs(x))
    if kind == "exponential":
        return np.exp(x)
    if kind == "sqrt":
        return np.sqrt(x)
    if kind == "neg":
        return -x
    if kind == "log":
        return np.log(x)
    if kind == "abs":
        return np.abs(x)
    if kind == "reciprocal":
        return 1.0 / x
    if kind == "floor":
        return np.floor(x)
    if kind == "ceil":
        return np.ceil(x)
    if kind == "pow":
        return np.power(x, alpha)
    raise ValueError(kind)


def act_json(act):
    kind, alpha, beta, gamma = act[:4]
    return {"kind": kind, "alpha": alpha, "beta": "inf" if beta == INF else beta, "gamma": gamma}


# ---- independent NumPy implementations of each op ---------------------------------------------------------------

def pad_hw(x, pads, value):
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), mode="constant", constant_values=value)


def out_size(n, k, s, d, p0, p1):
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def conv2d_ref(x, w, b, stride, dilation, pads, groups):
    """Sum over kernel taps of (strided slice of the padded input) x (weights of that tap), group by group."""
    n, h, wd, cin = x.shape
    kh, kw, cin_g, cout = w.shape
    oh = out_size(h, kh, stride[0], dilation[0], pads[0], pads[2])
    ow = out_size(wd, kw, stride[1], dilation[1], pads[1], pads[3])
    xp = pad_hw(x, pads, 0.0)
    y = np.zeros((n, oh, ow, cout))
    cout_g = cout // groups
    for g in range(groups):
        xg = xp[..., g * cin_g:(g + 1) * cin_g]
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilation[0], j * dilation[1]
                patch = xg[:, r0:r0 + stride[0] * (oh - 1) + 1:stride[0], c0:c0 + stride[1] * (ow - 1) + 1:stride[1], :]
                y[..., g * cout_g:(g + 1) * cout_g] += np.einsum("nhwc,co->nhwo", patch,
                                                                  w[i, j, :, g * cout_g:(g + 1) * cout_g])
    if b is not None:
        y = y + b
    return y


def windows(xp, k, s, oh, ow):
    """All pooling-window taps of a padded input as an array [KH*KW, N, OH, OW, C]."""
    return np.stack([xp[:, i:i + s[0] * (oh - 1) + 1:s[0], j:j + s[1] * (ow - 1) + 1:s[1], :]
                     for i in range(k[0]) for j in range(k[1])])


def maxpool_ref(x, k, s, pads):
    oh = out_size(x.shape[1], k[0], s[0], 1, pads[0], pads[2])
    ow = out_size(x.shape[2], k[1], s[1], 1, pads[1], pads[3])
    return windows(pad_hw(x, pads, -np.inf), k, s, oh, ow).max(axis=0)


def avgpool_ref(x, k, s, pads, count_include_pad):
    oh = out_size(x.shape[1], k[0], s[0], 1, pads[0], pads[2])
    ow = out_size(x.shape[2], k[1], s[1], 1, pads[1], pads[3])
    total = windows(pad_hw(x, pads, 0.0), k, s, oh, ow).sum(axis=0)
    if count_include_pad:
        return total / (k[0] * k[1])
    cells = windows(pad_hw(np.ones_like(x), pads, 0.0), k, s, oh, ow).sum(axis=0)
    return total / cells


def softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


BINARY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
    "Max": np.maximum, "Min": np.minimum,
}

# ---- case writer --------------------------------------------------------------------------------------------------


class Writer:
    def __init__(self, out_dir, rng):
        self.out_dir = out_dir
        self.rng = rng
        self.count = {}

    def write(self, op, batch, attrs, inputs, expected, act=None, label=None):
        """inputs: list of (array, is_constant); expected: float64 result before the fused activation."""
        k = self.count.get(op, 0)
        self.count[op] = k + 1
        name = "%s_%02d" % (op.lower(), k)
        if act is not None:
            attrs = dict(attrs, act=act_json(act))
            expected = act_ref(expected, *act[:4])
        ins = []
        for i, (arr, const) in enumerate(inputs):
            f = "%s_in%d.npy" % (name, i)
            np.save(os.path.join(self.out_dir, f), np.ascontiguousarray(arr, dtype=np.float32))
            ins.append({"file": f, "constant": bool(const), "shape": list(arr.shape)})
        fo = "%s_out.npy" % name
        # C order: np.save of a transposed view would write fortran_order True, which kiln refuses by design.
        np.save(os.path.join(self.out_dir, fo), np.ascontiguousarray(expected, dtype=np.float32))
        case = {"op": op, "name": name, "label": label or (act[4] if act else ""), "batch": batch, "attrs": attrs,
                "inputs": ins, "output": {"file": fo, "shape": list(expected.shape)}}
        with open(os.path.join(self.out_dir, name + ".json"), "w") as fh:
            json.dump(case, fh, indent=1)

    # random helpers
    def u(self, shape, lo=-1.0, hi=1.0):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def i(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def maybe_act(self, k):
        """Case 0 of each op has no fused activation; the others take a random one (epilogues work on every op)."""
        if k == 0:
            return None
        return ACTS[self.i(0, len(ACTS) - 1)]


def f64(a):
    return a.astype(np.float64)


def gen_conv(w):
    # (H, W, Cin, Cout, k, stride, dilation, pads, groups, bias): fixed interesting configurations, then random ones.
    fixed = [
        (7, 9, 3, 5, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1, True),      # same padding, odd channels
        (9, 8, 4, 6, (3, 3), (2, 2), (1, 1), (0, 0, 1, 1), 1, True),      # stride 2, TF-style asymmetric pads
        (10, 11, 5, 7, (3, 3), (1, 1), (2, 2), (2, 1, 2, 3), 1, False),   # dilation 2, no bias, odd pads
        (8, 8, 6, 6, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 6, True),      # depthwise
        (9, 7, 3, 6, (5, 5), (2, 2), (1, 1), (1, 2, 2, 1), 3, True),      # depthwise, multiplier 2, stride 2
        (6, 7, 6, 9, (1, 3), (1, 2), (1, 1), (0, 1, 0, 1), 3, True),      # grouped, rectangular kernel
        (5, 6, 8, 4, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1, True),      # pointwise
        (12, 10, 4, 8, (3, 3), (2, 1), (2, 1), (2, 1, 2, 1), 2, True),    # grouped, mixed stride/dilation
    ]
    for k in range(len(fixed) + 4):
        if k < len(fixed):
            h, wd, cin, cout, ks, st, dl, pads, groups, bias = fixed[k]
        else:
            groups = [1, 1, 2, 3][w.i(0, 3)]
            cin = groups * w.i(1, 4)
            cout = groups * w.i(1, 3)
            ks = (w.i(1, 4), w.i(1, 4))
            st = (w.i(1, 2), w.i(1, 2))
            dl = (w.i(1, 2), w.i(1, 2))
            pads = tuple(w.i(0, 2) for _ in range(4))
            h, wd = w.i(dl[0] * (ks[0] - 1) + 1, 12), w.i(dl[1] * (ks[1] - 1) + 1, 12)
            bias = w.i(0, 1) == 1
        batch = w.i(1, 3)
        x = w.u((batch, h, wd, cin))
        wt = w.u((ks[0], ks[1], cin // groups, cout)) / np.float32(math.sqrt(ks[0] * ks[1] * cin / groups))
        b = w.u((cout,)) if bias else None
        y = conv2d_ref(f64(x), f64(wt), None if b is None else f64(b), st, dl, pads, groups)
        attrs = {"kernel": list(ks), "stride": list(st), "dilation": list(dl), "pads": list(pads), "groups": groups}
        ins = [(x, False), (wt, True)] + ([(b, True)] if bias else [])
        w.write("Conv2D", batch, attrs, ins, y, w.maybe_act(k))


def gen_dense(w):
    for k in range(CASES_PER_OP):
        batch = w.i(1, 3)
        lead = [(), (), (w.i(1, 4),), (w.i(1, 3), w.i(1, 4))][k % 4]
        cin, cout = w.i(1, 37), w.i(1, 19)
        x = w.u((batch,) + lead + (cin,))
        wt = w.u((cin, cout)) / np.float32(math.sqrt(cin))
        bias = k % 3 != 2
        b = w.u((cout,)) if bias else None
        y = f64(x) @ f64(wt) + (f64(b) if bias else 0.0)
        ins = [(x, False), (wt, True)] + ([(b, True)] if bias else [])
        w.write("Dense", batch, {}, ins, y, w.maybe_act(k))


def gen_batchnorm(w):
    for k in range(CASES_PER_OP):
        batch = w.i(1, 3)
        shape = [(w.i(1, 6), w.i(1, 6), w.i(1, 17)), (w.i(1, 17),), (w.i(1, 5), w.i(1, 9))][k % 3]
        c = shape[-1]
        x = w.u((batch,) + shape, -3, 3)
        gamma, beta, mean = w.u((c,), 0.5, 1.5), w.u((c,)), w.u((c,))
        var = w.u((c,), 0.05, 2.0)
        eps = [1e-3, 1.001e-5, 0.1][k % 3]
        y = (f64(x) - f64(mean)) / np.sqrt(f64(var) + np.float64(np.float32(eps))) * f64(gamma) + f64(beta)
        ins = [(x, False), (gamma, True), (beta, True), (mean, True), (var, True)]
        w.write("BatchNorm", batch, {"eps": eps}, ins, y, w.maybe_act(k))


def gen_activation(w):
    # Every activation twice: a 4-D tensor over a wide range, and a 2-D one around the interesting points.
    for act in ACTS:
        for shape, lo, hi in (((w.i(1, 5), w.i(1, 5), w.i(1, 7)), -8.0, 8.0), ((w.i(1, 40),), -4.0, 4.0)):
            batch = w.i(1, 3)
            x = w.u((batch,) + shape, lo, hi)
            w.write("Activation", batch, {}, [(x, False)], f64(x), act)


# ONNX unary math kinds (Sqrt, Neg, Log, Abs, Reciprocal, Floor, Ceil, Pow with a scalar exponent): (kind, alpha,
# label, input domain). Kept out of ACTS so the fused-epilogue picks of the other ops stay as they were (sqrt/log of a
# conv output could be NaN); "positive" draws x in [0.05, 8], "nonzero" |x| in [0.1, 4] with a random sign.
UNARY_MATH = [
    ("sqrt", 0.0, "sqrt", "positive"),
    ("neg", 0.0, "neg", "any"),
    ("log", 0.0, "log", "positive"),
    ("abs", 0.0, "abs", "any"),
    ("reciprocal", 0.0, "reciprocal", "nonzero"),
    ("floor", 0.0, "floor", "any"),
    ("ceil", 0.0, "ceil", "any"),
    ("pow", 2.0, "pow_2", "any"),
    ("pow", 3.0, "pow_3", "any"),
    ("pow", 0.5, "pow_0.5", "positive"),
    ("pow", -1.5, "pow_-1.5", "positive"),
]


def gen_unary_math(w):
    rng = np.random.default_rng(7)  # its own stream: the cases of the other generators do not move
    for kind, alpha, label, domain in UNARY_MATH:
        for shape in ((int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 8))),
                      (int(rng.integers(1, 41)),)):
            batch = int(rng.integers(1, 4))
            if domain == "positive":
                x = rng.uniform(0.05, 8.0, size=(batch,) + shape)
            elif domain == "nonzero":
                x = rng.uniform(0.1, 4.0, size=(batch,) + shape) * rng.choice([-1.0, 1.0], size=(batch,) + shape)
            else:
                x = rng.uniform(-8.0, 8.0, size=(batch,) + shape)
            x = x.astype(np.float32)
            w.write("Activation", batch, {}, [(x, False)], f64(x), (kind, alpha, 0.0, 0.0, label))


def gen_softmax(w):
    for k in range(CASES_PER_OP + 2):
        batch = w.i(1, 3)
        shape = [(w.i(2, 30),), (w.i(1, 4), w.i(1, 4), w.i(2, 9)), (w.i(2, 5), w.i(2, 6))][k % 3]
        axis = [1, len(shape), w.i(1, len(shape))][k % 3]
        x = w.u((batch,) + shape, -5, 5)
        if k >= CASES_PER_OP:  # large logits: a softmax without the max subtraction overflows expf here
            x = x * np.float32(4.0) + np.float32(100.0)
        w.write("Softmax", batch, {"axis": axis}, [(x, False)], softmax_ref(f64(x), axis), w.maybe_act(k))


def pool_config(w, k):
    fixed = [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (2, 2), (1, 1, 1, 1)), ((3, 3), (1, 1), (1, 1, 1, 1)),
             ((2, 2), (2, 2), (0, 0, 1, 1)), ((3, 2), (2, 1), (0, 1, 2, 1)), ((3, 3), (3, 2), (2, 0, 1, 1))]
    if k < len(fixed):
        return fixed[k]
    ks = (w.i(1, 4), w.i(1, 4))
    return ks, (w.i(1, 3), w.i(1, 3)), (w.i(0, ks[0] - 1), w.i(0, ks[1] - 1), w.i(0, ks[0] - 1), w.i(0, ks[1] - 1))


def gen_pools(w):
    for k in range(CASES_PER_OP + 3):
        ks, st, pads = pool_config(w, k)
        batch = w.i(1, 3)
        x = w.u((batch, w.i(ks[0], 11), w.i(ks[1], 11), w.i(1, 9)), -3, -0.5 if k % 2 else 3)  # negatives: pad loses
        attrs = {"kernel": list(ks), "stride": list(st), "pads": list(pads)}
        w.write("MaxPool", batch, attrs, [(x, False)], maxpool_ref(f64(x), ks, st, pads), w.maybe_act(k))
    for k in range(2 * CASES_PER_OP):
        ks, st, pads = pool_config(w, k // 2)
        cip = k % 2
        batch = w.i(1, 3)
        x = w.u((batch, w.i(ks[0], 11), w.i(ks[1], 11), w.i(1, 9)), -3, 3)
        attrs = {"kernel": list(ks), "stride": list(st), "pads": list(pads), "count_include_pad": cip}
        w.write("AvgPool", batch, attrs, [(x, False)], avgpool_ref(f64(x), ks, st, pads, cip), w.maybe_act(k))


def gen_global_pools(w):
    for op, fn in (("GlobalAvgPool", np.mean), ("GlobalMaxPool", np.max)):
        for k in range(CASES_PER_OP):
            keep = k % 2
            batch = w.i(1, 3)
            x = w.u((batch, w.i(1, 9), w.i(1, 9), w.i(1, 17)), -3, 3)
            y = fn(f64(x), axis=(1, 2), keepdims=bool(keep))
            w.write(op, batch, {"keepdims": keep}, [(x, False)], y, w.maybe_act(k))


def gen_pad(w):
    for k in range(CASES_PER_OP):
        batch = w.i(1, 3)
        rank = [4, 4, 2, 3, 5, 4][k]
        shape = tuple(w.i(1, 5) for _ in range(rank - 1))
        begin = [0] + [w.i(0, 3) for _ in range(rank - 1)]
        end = [0] + [w.i(0, 3) for _ in range(rank - 1)]
        value = 0.0 if k % 2 == 0 else float(np.float32(w.rng.uniform(-2, 2)))
        x = w.u((batch,) + shape)
        y = np.pad(f64(x), list(zip(begin, end)), mode="constant", constant_values=value)
        attrs = {"pads_begin": begin, "pads_end": end, "pad_value": value}
        w.write("Pad", batch, attrs, [(x, False)], y, w.maybe_act(k))


def gen_concat(w):
    for k in range(CASES_PER_OP + 2):
        batch = w.i(1, 3)
        rank = [4, 4, 4, 2, 3, 4, 4, 3][k]
        axis = [3, 1, 2, 1, 2, 3, 3, 1][k]
        base = [w.i(1, 5) for _ in range(rank - 1)]
        n_in = w.i(1, 4) if k != 6 else 2
        arrays, ins = [], []
        for i in range(n_in):
            shape = list(base)
            shape[axis - 1] = w.i(1, 5)
            if k == 6 and i == 1:  # a constant input: one sample, reused for every sample of the batch
                c = w.u([1] + shape)
                ins.append((c, True))
                arrays.append(np.broadcast_to(f64(c), (batch,) + tuple(shape)))
            else:
                x = w.u([batch] + shape)
                ins.append((x, False))
                arrays.append(f64(x))
        w.write("Concat", batch, {"axis": axis}, ins, np.concatenate(arrays, axis=axis), w.maybe_act(k))


# Broadcast patterns: (shape of a, a constant?, shape of b, b constant?). Activation shapes exclude the batch.
PATTERNS = [
    ((5, 6, 7), False, (5, 6, 7), False),        # same shape
    ((5, 6, 7), False, (1, 1, 7), False),        # squeeze-excite: [N,H,W,C] * [N,1,1,C]
    ((1, 1, 7), False, (4, 3, 7), False),        # the broadcast side first
    ((4, 5, 9), False, (9,), True),              # activation + per-channel constant [C] (kiln puts activations first)
    ((4, 5, 6), False, (4, 1, 6), True),         # constant broadcast on a middle axis
    ((4, 5, 3), False, (1, 1, 1, 3), True),      # constant of full rank, batch axis 1
    ((6, 11), False, (6, 1), True),              # middle-axis constant
    ((13,), False, (1, 13), True),               # [N,C] with [1,C]
    ((3, 4, 5), False, (4, 1), True),            # constant broadcast on two axes
    ((2, 3, 4, 5), False, (2, 1, 4, 1), False),  # rank 5, both activations
]


def gen_binary(w):
    for op, fn in BINARY.items():
        for k, (sa, ca, sb, cb) in enumerate(PATTERNS):
            batch = w.i(1, 3)
            a = w.u(sa if ca else (batch,) + sa, -2, 2)
            b = w.u(sb if cb else (batch,) + sb, -2, 2)
            if op == "Div":  # keep the divisor away from zero
                b = (np.sign(b) + (b == 0)) * (np.abs(b) * np.float32(0.75) + np.float32(0.5))
                b = b.astype(np.float32)
            w.write(op, batch, {}, [(a, ca), (b, cb)], fn(f64(a), f64(b)), w.maybe_act(k))


def gen_reshape(w):
    # (input shape without batch, target shape without batch)
    cases = [((4, 6, 3), (-1,)), ((4, 6, 3), (6, 12)), ((4, 6, 3), (2, -1, 3)), ((10,), (2, 5)),
             ((2, 3, 4, 5), (5, -1)), ((7, 1, 1), (1, 1, 7))]
    for k, (shape, target) in enumerate(cases):
        batch = w.i(1, 3)
        x = w.u((batch,) + shape)
        y = f64(x).reshape((batch,) + target)
        w.write("Reshape", batch, {"shape": list(target)}, [(x, False)], y, w.maybe_act(k))


def gen_transpose(w):
    perms = [(0, 3, 1, 2), (0, 2, 3, 1), (0, 2, 1), (0, 1, 2, 3), (0, 4, 2, 1, 3), (0, 3, 2, 1)]
    for k, perm in enumerate(perms):
        batch = w.i(1, 3)
        x = w.u((batch,) + tuple(w.i(1, 5) for _ in range(len(perm) - 1)))
        w.write("Transpose", batch, {"perm": list(perm)}, [(x, False)], np.transpose(f64(x), perm), w.maybe_act(k))


def gen_identity(w):
    for k in range(CASES_PER_OP // 2):
        batch = w.i(1, 3)
        x = w.u((batch,) + tuple(w.i(1, 6) for _ in range(k + 1)), -3, 3)
        w.write("Identity", batch, {}, [(x, False)], f64(x), w.maybe_act(k))


def gen_erf(w):
    erf = np.vectorize(math.erf)
    for k in range(CASES_PER_OP // 2):
        batch = w.i(1, 3)
        x = w.u((batch,) + tuple(w.i(1, 6) for _ in range(k % 3 + 1)), -3, 3)
        w.write("Erf", batch, {}, [(x, False)], erf(f64(x)), w.maybe_act(k))


def gen_slice(w):
    # Channel slice of the last axis: y = x[..., begin : C - end]. pads_begin/pads_end cover every axis (batch too);
    # only the last entry is non-zero. (shape without batch, begin, end)
    cfgs = [((5, 6, 7), 0, 3), ((9,), 4, 0), ((3, 11), 2, 5), ((4, 5, 13), 6, 6), ((2, 3, 6), 1, 1),
            ((1, 1, 5), 0, 4), ((6, 4, 3), 2, 0), ((3, 3, 2, 9), 3, 2)]
    for k, (shape, begin, end) in enumerate(cfgs):
        batch = w.i(1, 3)
        rank = len(shape) + 1
        x = w.u((batch,) + shape, -3, 3)
        y = f64(x)[..., begin:shape[-1] - end]
        attrs = {"axis": rank - 1, "pads_begin": [0] * (rank - 1) + [begin], "pads_end": [0] * (rank - 1) + [end]}
        w.write("Slice", batch, attrs, [(x, False)], y, w.maybe_act(k))


def gen_squeeze_excite(w):
    # s = mean over H,W; h = act(s W1 + b1); g = act2(h W2 + b2); y = x * g[:, None, None, :].
    # The activations are the block's own (attrs.act, attrs.act2), not an output epilogue, so they go into attrs.
    first = [("linear", 0.0, INF, 0.0, "linear")] + [a for a in ACTS if a[4] in ("relu", "swish", "hard_swish",
                                                                                    "relu6", "gelu_exact")]
    gates = [a for a in ACTS if a[0] in ("sigmoid", "hard_sigmoid")]
    # (H, W, C, Cr, weights as 1x1 conv kernels [1,1,C,Cr] instead of [C,Cr])
    cfgs = [(7, 7, 5, 2, False), (1, 1, 3, 1, False), (4, 6, 16, 4, True), (3, 5, 9, 9, False),
            (8, 3, 13, 3, True), (5, 5, 1, 1, False), (2, 9, 24, 6, True), (6, 2, 7, 5, False)]
    for k, (h, wd, c, cr, conv_layout) in enumerate(cfgs):
        batch = [1, 2, 3][k % 3]
        act = first[k % len(first)]
        gate = gates[k % len(gates)]
        x = w.u((batch, h, wd, c), -2, 2)
        w1 = w.u((c, cr)) / np.float32(math.sqrt(c))
        b1 = w.u((cr,))
        w2 = w.u((cr, c)) / np.float32(math.sqrt(cr))
        b2 = w.u((c,))
        s = f64(x).mean(axis=(1, 2))
        hid = act_ref(s @ f64(w1) + f64(b1), *act[:4])
        g = act_ref(hid @ f64(w2) + f64(b2), *gate[:4])
        y = f64(x) * g[:, None, None, :]
        if conv_layout:
            w1, w2 = w1.reshape(1, 1, c, cr), w2.reshape(1, 1, cr, c)
        attrs = {"act": act_json(act), "act2": act_json(gate)}
        ins = [(x, False), (w1, True), (b1, True), (w2, True), (b2, True)]
        w.write("SqueezeExcite", batch, attrs, ins, y, label="%s, gate %s%s" % (act[4], gate[4],
                                                                                  ", 1x1 conv weights" if conv_layout else ""))


def gen_layernorm(w):
    # Keras LayerNormalization(axis=-1): biased variance over the last axis of each position, then gamma/beta.
    shapes = [(5, 6, 7), (13,), (4, 9), (3, 4, 2, 11), (2, 3, 1), (1, 1, 32), (6, 17), (3, 3, 3)]
    for k, shape in enumerate(shapes):
        batch = w.i(1, 3)
        c = shape[-1]
        offset = [0.0, 5.0, -2.0, 50.0][k % 4]  # a large common offset: mean/variance must not lose the signal
        x = (w.u((batch,) + shape, -3, 3) + np.float32(offset)).astype(np.float32)
        gamma, beta = w.u((c,), 0.5, 1.5), w.u((c,))
        eps = [1e-3, 1e-5, 1e-6, 0.1][k % 4]
        xd = f64(x)
        mean = xd.mean(axis=-1, keepdims=True)
        var = ((xd - mean) ** 2).mean(axis=-1, keepdims=True)
        y = (xd - mean) / np.sqrt(var + np.float64(np.float32(eps))) * f64(gamma) + f64(beta)
        ins = [(x, False), (gamma, True), (beta, True)]
        act = w.maybe_act(k)
        w.write("LayerNorm", batch, {"eps": eps}, ins, y, act, label="eps %g%s" % (eps, ", " + act[4] if act else ""))


def gen_crop(w):
    # Keras Cropping1D/2D/3D (and any other non-batch axis): drop begin/end elements of each axis.
    shapes = [(7, 9, 3), (10, 5), (6, 8, 5), (5, 6, 7, 3), (9, 9, 1), (4, 11, 13), (8, 3), (3, 4, 5, 6)]
    for k, shape in enumerate(shapes):
        batch = w.i(1, 3)
        rank = len(shape) + 1
        begin, end = [0], [0]
        for d, n in enumerate(shape):
            last = d == len(shape) - 1
            if last and k % 3 != 2:  # the channel axis is left whole, as in Keras, except every third case
                begin.append(0)
                end.append(0)
                continue
            b = w.i(0, (n - 1) // 2)
            e = w.i(0, n - 1 - b)
            begin.append(b)
            end.append(e)
        x = w.u((batch,) + shape, -3, 3)
        y = f64(x)[tuple(slice(b, n - e) for b, e, n in zip(begin, end, (batch,) + shape))]
        w.write("Crop", batch, {"pads_begin": begin, "pads_end": end}, [(x, False)], y, w.maybe_act(k))


def resize_nearest_index(out, n):
    """tf.image.resize nearest (TF 2, half-pixel centers): src = floor((o + 0.5) * in / out), in exact integers."""
    return np.minimum(((2 * np.arange(out) + 1) * n) // (2 * out), n - 1)


def resize_bilinear_matrix(out, n):
    """[out, in] interpolation weights of tf.image.resize bilinear (half-pixel centers, no antialias): source
    coordinate (o + 0.5) * in / out - 0.5; neighbours outside the input are clamped to the edge."""
    m = np.zeros((out, n))
    for o in range(out):
        src = (o + 0.5) * n / out - 0.5
        lo = math.floor(src)
        frac = src - lo
        m[o, min(max(lo, 0), n - 1)] += 1.0 - frac
        m[o, min(max(lo + 1, 0), n - 1)] += frac
    return m


def gen_resize(w):
    # (H, W, OH, OW): Keras UpSampling2D integer factors, then arbitrary tf.image.resize sizes (up, down, mixed).
    sizes = [(3, 4, 6, 8), (2, 3, 4, 9), (5, 5, 5, 5), (1, 1, 3, 2), (4, 7, 7, 3), (9, 6, 4, 11), (3, 2, 8, 5),
             (6, 6, 2, 3)]
    for mode in (0, 1):
        for k, (h, wd, oh, ow) in enumerate(sizes):
            batch = w.i(1, 3)
            c = [3, 1, 5, 7, 2, 9, 4, 11][k]
            x = w.u((batch, h, wd, c), -3, 3)
            if mode == 0:
                y = f64(x)[:, resize_nearest_index(oh, h)][:, :, resize_nearest_index(ow, wd)]
            else:
                y = np.einsum("ph,qw,nhwc->npqc", resize_bilinear_matrix(oh, h), resize_bilinear_matrix(ow, wd), f64(x))
            act = w.maybe_act(k)
            lab = "%s %dx%d -> %dx%d%s" % (("nearest", "bilinear")[mode], h, wd, oh, ow, ", " + act[4] if act else "")
            w.write("Resize", batch, {"shape": [oh, ow], "groups": mode}, [(x, False)], y, act, label=lab)


def gen_matmul(w):
    # (A shape, A constant, B shape, B constant) without the batch for activations: NumPy matmul broadcasting
    patterns = [((3, 4, 5), False, (3, 5, 6), False), ((2, 4, 3), False, (3, 7), True), ((1, 4, 3), False, (2, 3, 5), False),
                ((4, 3), False, (1, 3, 2), True), ((2, 3, 4), False, (1, 4, 5), True), ((5, 1), False, (1, 6), False)]
    for k, (sa, ca, sb, cb) in enumerate(patterns):
        batch = w.i(1, 3)
        a = w.u(sa if ca else (batch,) + sa, -2, 2)
        b = w.u(sb if cb else (batch,) + sb, -2, 2)
        w.write("MatMul", batch, {}, [(a, ca), (b, cb)], np.matmul(f64(a), f64(b)), w.maybe_act(k))


def gen_pow(w):
    # positive bases: any real exponent is defined (the harness takes an activation first)
    for k, (sa, ca, sb, cb) in enumerate([((4, 5), False, (4, 5), False), ((3, 6), False, (6,), True),
                                          ((2, 6), False, (1, 6), True), ((2, 3, 4), False, (1, 3, 1), False)]):
        batch = w.i(1, 3)
        a = w.u(sa if ca else (batch,) + sa, 0.5, 2)
        b = w.u(sb if cb else (batch,) + sb, -2, 2)
        w.write("Pow", batch, {}, [(a, ca), (b, cb)], np.power(f64(a), f64(b)), w.maybe_act(k))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=20240602)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for f in os.listdir(args.out_dir):  # stale cases from an earlier generator would be checked too
        if f.endswith(".json") or f.endswith(".npy"):
            os.remove(os.path.join(args.out_dir, f))
    w = Writer(args.out_dir, np.random.default_rng(args.seed))
    for gen in (gen_conv, gen_dense, gen_batchnorm, gen_activation, gen_softmax, gen_pools, gen_global_pools,
                gen_pad, gen_concat, gen_binary, gen_reshape, gen_transpose, gen_identity, gen_erf,
                gen_slice, gen_squeeze_excite, gen_layernorm, gen_crop, gen_resize, gen_unary_math, gen_matmul, gen_pow):
        gen(w)
    total = sum(w.count.values())
    print("gen_cases.py: wrote %d cases for %d ops to %s (seed %d)" % (total, len(w.count), args.out_dir, args.seed))


if __name__ == "__main__":
    main()
