#!/usr/bin/env python3
"""Small Keras models that exercise the importer's structural cases, saved as .h5 by tf.keras 2 (tf_keras) and by
Keras 3, with their expectations (make_expected.py, from Keras/h5py) in OUT/expected.txt:

- every supported layer kind with non-default configs (asymmetric ZeroPadding2D, strided 'same' conv with swish,
  dilated grouped conv, BatchNormalization with center/scale off, depth_multiplier 2, n-ary merges, ReLU with
  max_value/negative_slope/threshold, 'same' pooling, Permute, Dense on a 4-D tensor, softmax inside Dense);
- an osnet-style channel gate: a nested Sequential (BatchNormalization on 2-D input) SHARED by two calls;
- a Sequential whose first layer is a nested functional model (no InputLayer of its own).

Usage: make_fixtures.py OUT_DIR     (exit 77 = skipped: tf_keras / keras not installed)
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def randomize(model, rng):
    """Random BatchNormalization statistics and biases so that no parameter is trivially 0 or 1."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            randomize(layer, rng)
            continue
        new = []
        for w, v in zip(layer.get_weights(), layer.weights):
            n = v.name
            if "moving_variance" in n:
                w = rng.uniform(0.5, 1.5, w.shape)
            elif "moving_mean" in n or "beta" in n or "bias" in n:
                w = rng.uniform(-0.2, 0.2, w.shape)
            elif "gamma" in n:
                w = rng.uniform(0.8, 1.2, w.shape)
            new.append(np.asarray(w, np.float32))
        if new:
            layer.set_weights(new)


def layer_zoo(k):
    L = k.layers
    inp = k.Input((20, 20, 6), name="img")
    x = L.ZeroPadding2D(((1, 2), (0, 1)), name="zp")(inp)
    x = L.Conv2D(12, 3, strides=2, padding="same", activation="swish", name="c_swish")(x)
    x = L.Conv2D(12, 3, padding="same", dilation_rate=2, groups=3, name="c_group")(x)
    x = L.BatchNormalization(center=False, scale=False, epsilon=0.01, name="bn_noscale")(x)
    x = L.LeakyReLU(name="leaky")(x)
    a = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=True, activation="relu6", name="dw2")(x)
    b = L.SeparableConv2D(24, 3, depth_multiplier=2, padding="same", activation="hard_sigmoid", name="sep")(x)
    c = L.Conv2D(24, 1, activation="tanh", name="c_tanh")(x)
    s3 = L.Add(name="add3")([a, b, c])
    m = L.Multiply(name="mul")([s3, b])
    sub = L.Subtract(name="sub")([m, c])
    mx = L.Maximum(name="max")([sub, a])
    mn = L.Minimum(name="min")([mx, b])
    av = L.Average(name="avg")([mn, a, c])
    y = L.ReLU(max_value=4.0, negative_slope=0.1, threshold=0.2, name="relu_cfg")(av)
    y = L.ELU(alpha=0.7, name="elu")(y)
    y = L.AveragePooling2D(3, strides=2, padding="same", name="apool")(y)
    y = L.MaxPooling2D(2, padding="same", name="mpool")(y)
    y = L.Activation("gelu", name="act_gelu")(y)
    cat = L.Concatenate(axis=-1, name="cat")([y, y])
    ch = 48
    gate = k.Sequential([k.Input((3, 3, ch)), L.GlobalAveragePooling2D(name="g_gap"),
                         L.Dense(8, use_bias=False, name="g_fc1"), L.BatchNormalization(name="g_bn"),
                         L.Activation("relu", name="g_relu"), L.Dense(ch, activation="sigmoid", name="g_fc2"),
                         L.Reshape((1, 1, ch), name="g_reshape")], name="gate")
    g1 = L.Multiply(name="gated1")([cat, gate(cat)])
    g2 = L.Multiply(name="gated2")([g1, gate(g1)])
    z = L.Dense(10, activation="selu", name="dense4d")(g2)
    z = L.GlobalMaxPooling2D(keepdims=True, name="gmp")(z)
    z = L.Permute((3, 1, 2), name="perm")(z)
    z = L.Flatten(name="flat")(z)
    z = L.Dropout(0.5, name="drop")(z)
    z = L.Dense(7, activation="softmax", name="Logits")(z)
    return k.Model(inp, z, name="layer_zoo")


def nested_first(k):
    L = k.layers
    i = k.Input((16, 16, 3), name="inner_in")
    t = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="inner_conv")(i)
    t = L.BatchNormalization(name="inner_bn")(t)
    t = L.ReLU(6.0, name="inner_relu6")(t)
    backbone = k.Model(i, t, name="backbone")
    return k.Sequential([backbone, L.GlobalAveragePooling2D(name="gap"), L.Dense(5, activation="softmax",
                                                                                    name="head")], name="outer")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    made = []
    for mod in ("tf_keras", "keras"):
        try:
            k = __import__(mod)
        except ImportError:
            continue
        rng = np.random.default_rng(7)
        for build in (layer_zoo, nested_first):
            m = build(k)
            if build is nested_first:
                m.build((None, 16, 16, 3))
            randomize(m, rng)
            name = "%s_%s.h5" % (build.__name__, mod)
            m.save(os.path.join(out, name))
            made.append(name)
    if not made:
        print("SKIP: neither tf_keras nor keras is installed")
        sys.exit(77)
    import make_expected
    sys.argv = [sys.argv[0], out] + made
    with open(os.path.join(out, "expected.txt"), "w") as f:
        sys.stdout = f
        make_expected.main()
        sys.stdout = sys.__stdout__
    print("wrote %d models and %s" % (len(made), os.path.join(out, "expected.txt")))


if __name__ == "__main__":
    main()
