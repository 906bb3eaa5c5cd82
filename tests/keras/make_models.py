#!/usr/bin/env python3
"""Builds kiln's Keras end-to-end corpus: .h5 models written by tf.keras's own model.save(), random inputs, and
Keras's outputs on them (the reference kiln must match).

  python3 tests/keras/make_models.py OUTDIR [--full] [--only NAME,...]

For every model NAME it writes OUTDIR/NAME.h5, OUTDIR/NAME.x.npy (float32, batch 2, seeded) and OUTDIR/NAME.y.npy
(model.predict), and OUTDIR/manifest.json listing them with what check.py must verify. The manifest also records a
hash of this script and the TF / Keras versions: when they match, nothing is regenerated (cache).

Models:
  the post's five, rebuilt from the layer inventory in ../shared/notes/seed-system.md section 2 (own Keras code):
    googlenet_bn, inception_v2, mobilenet_v2 (keras.applications backbone + the post's head), efficientnet_b0 (custom
    `swish` function and custom `FixedDropout` layer), osnet (channel gate = nested Sequential shared by 4 streams);
  keras.applications MobileNetV2 and ResNet50 (weights=None, their own top);
  reader-stress fixtures (small): shared layers, nested models, activation variants, padding/pooling corners,
    conv variants, Dense on 3-D tensors, BN variants, merges, reshapes, optimizer weights in the file;
  `refuse_lambda_custom`: a Lambda layer plus an unknown custom layer, which kiln must refuse with ONE message naming
    both (check.py expects exit code 1).
Input size: 128x128 by default (keeps CI to a few minutes on 2 cores), 224x224 with --full.

Weights are seeded random, and every BatchNormalization gets random gamma/beta and moving statistics that are NOT the
identity (otherwise a BN that kiln forgot or misread would be invisible): gamma ~ U(0.5,1.5), beta ~ N(0,0.1); the
moving mean/variance are first calibrated on a random batch (so activations stay O(1) through 50+ layers and the
softmax is neither one-hot nor uniform), then perturbed: mean += N(0,0.1)*std, var *= U(0.5,1.5). The Logits layer
is scaled so logits have std ~3: a peaked softmax makes the 1e-4 absolute tolerance meaningful.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # Keras's "HDF5 is legacy" notice: HDF5 is exactly what kiln reads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain Eigen kernels: the reference, and no start-up notices

import numpy as np  # noqa: E402


def import_quietly():
    """Imports TensorFlow + tf_keras with fd 2 silenced: TF's C++ start-up notices bypass TF_CPP_MIN_LOG_LEVEL."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
        import tf_keras
        return tensorflow, tf_keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


try:
    tf, keras = import_quietly()
except ImportError as e:  # the ctest wrapper turns this exit code into SKIP
    print(f"make_models: tf_keras not importable ({e}); run scripts/install_deps.sh", file=sys.stderr)
    sys.exit(77)

from tf_keras import layers  # noqa: E402

tf.get_logger().setLevel("ERROR")
SKIP_EXIT = 77


# --------------------------------------------------------------------------------------------------------------
# Custom objects of the post's efficientnet_b0 (as in the qubvel/efficientnet package the post used): a plain
# Python function called `swish` and a Dropout subclass called `FixedDropout`. Keras writes their *names* into the
# .h5; kiln must know what they mean.
def swish(x):
    return x * tf.math.sigmoid(x)


class FixedDropout(layers.Dropout):
    """Dropout whose noise shape may contain None (identity at inference)."""

    def _get_noise_shape(self, inputs):
        if self.noise_shape is None:
            return None
        symbolic = tf.shape(inputs)
        return tuple(symbolic[i] if s is None else s for i, s in enumerate(self.noise_shape))


class UnknownCustomLayer(layers.Layer):
    """A layer kiln cannot know: used only by the refusal fixture."""

    def call(self, x):
        return x * 2.0 + 1.0


CUSTOM_OBJECTS = {"swish": swish, "FixedDropout": FixedDropout, "UnknownCustomLayer": UnknownCustomLayer}


def conv_bn(x, filters, k, strides=1, padding="same", act="relu", name=None):
    """Conv2D (no bias) -> BatchNormalization -> Activation, the googlenet_bn / inception_v2 primitive."""
    x = layers.Conv2D(filters, k, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation(act)(x) if act else x


def head(x, dropout=0.2, classes=1000):
    """The post's head: GAP -> Dropout -> Dense(1000, softmax, name='Logits')."""
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(classes, activation="softmax", name="Logits")(x)


# --------------------------------------------------------------------------------------------------------------
# googlenet_bn: GoogLeNet (Inception v1) with BN after every conv; 9 inception modules; 4 branches concatenated.
def inception_v1(x, c1, c3r, c3, c5r, c5, cp):
    b1 = conv_bn(x, c1, 1)
    b2 = conv_bn(conv_bn(x, c3r, 1), c3, 3)
    b3 = conv_bn(conv_bn(x, c5r, 1), c5, 5)
    b4 = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    b4 = conv_bn(b4, cp, 1)
    return layers.Concatenate(axis=3)([b1, b2, b3, b4])


def googlenet_bn(size):
    inp = keras.Input((size, size, 3))
    x = conv_bn(inp, 64, 7, strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = conv_bn(x, 64, 1)
    x = conv_bn(x, 192, 3)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = inception_v1(x, 64, 96, 128, 16, 32, 32)
    x = inception_v1(x, 128, 128, 192, 32, 96, 64)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = inception_v1(x, 192, 96, 208, 16, 48, 64)
    x = inception_v1(x, 160, 112, 224, 24, 64, 64)
    x = inception_v1(x, 128, 128, 256, 24, 64, 64)
    x = inception_v1(x, 112, 144, 288, 32, 64, 64)
    x = inception_v1(x, 256, 160, 320, 32, 128, 128)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = inception_v1(x, 256, 160, 320, 32, 128, 128)
    x = inception_v1(x, 384, 192, 384, 48, 128, 128)
    return keras.Model(inp, head(x, 0.4), name="googlenet_bn")


# --------------------------------------------------------------------------------------------------------------
# inception_v2 (BN-Inception): the 5x5 branch is two 3x3; stride-2 modules concatenate 3 branches incl. MaxPooling.
def inception_v2_module(x, c1, c3r, c3, d3r, d3, cp, pool="avg"):
    b1 = conv_bn(x, c1, 1)
    b2 = conv_bn(conv_bn(x, c3r, 1), c3, 3)
    b3 = conv_bn(conv_bn(conv_bn(x, d3r, 1), d3, 3), d3, 3)
    pool_layer = layers.AveragePooling2D if pool == "avg" else layers.MaxPooling2D
    b4 = conv_bn(pool_layer(3, strides=1, padding="same")(x), cp, 1)
    return layers.Concatenate(axis=3)([b1, b2, b3, b4])


def inception_v2_reduce(x, c3r, c3, d3r, d3):
    b1 = conv_bn(conv_bn(x, c3r, 1), c3, 3, strides=2)
    b2 = conv_bn(conv_bn(conv_bn(x, d3r, 1), d3, 3), d3, 3, strides=2)
    b3 = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    return layers.Concatenate(axis=3)([b1, b2, b3])


def inception_v2(size):
    inp = keras.Input((size, size, 3))
    x = conv_bn(inp, 64, 7, strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = conv_bn(x, 64, 1)
    x = conv_bn(x, 192, 3)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = inception_v2_module(x, 64, 64, 64, 64, 96, 32)
    x = inception_v2_module(x, 64, 64, 96, 64, 96, 64)
    x = inception_v2_reduce(x, 128, 160, 64, 96)
    x = inception_v2_module(x, 224, 64, 96, 96, 128, 128)
    x = inception_v2_module(x, 192, 96, 128, 96, 128, 128)
    x = inception_v2_module(x, 160, 128, 160, 128, 160, 128)
    x = inception_v2_module(x, 96, 128, 192, 160, 192, 128)
    x = inception_v2_reduce(x, 128, 192, 192, 256)
    x = inception_v2_module(x, 352, 192, 320, 160, 224, 128)
    x = inception_v2_module(x, 352, 192, 320, 192, 224, 128, pool="max")
    return keras.Model(inp, head(x, 0.4), name="inception_v2")


# --------------------------------------------------------------------------------------------------------------
def mobilenet_v2_post(size):
    """The post's mobilenet_v2: keras.applications backbone (include_top=False) + the post's head."""
    base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=None)
    return keras.Model(base.input, head(base.output, 0.2), name="mobilenet_v2")


# --------------------------------------------------------------------------------------------------------------
# efficientnet_b0: MBConv blocks with squeeze-excite, activation = the custom `swish` function (by name), custom
# FixedDropout before the residual Add (as the qubvel/efficientnet package the post used wrote it).
B0_BLOCKS = [  # (repeats, kernel, stride, expand, in, out)
    (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


def mbconv(x, cin, cout, k, stride, expand, drop, prefix):
    c = cin * expand
    h = x
    if expand != 1:
        h = layers.Conv2D(c, 1, padding="same", use_bias=False, name=prefix + "expand_conv")(h)
        h = layers.BatchNormalization(name=prefix + "expand_bn")(h)
        h = layers.Activation(swish, name=prefix + "expand_activation")(h)
    h = layers.DepthwiseConv2D(k, strides=stride, padding="same", use_bias=False, name=prefix + "dwconv")(h)
    h = layers.BatchNormalization(name=prefix + "bn")(h)
    h = layers.Activation(swish, name=prefix + "activation")(h)
    se = max(1, cin // 4)
    s = layers.GlobalAveragePooling2D(name=prefix + "se_squeeze")(h)
    s = layers.Reshape((1, 1, c), name=prefix + "se_reshape")(s)
    s = layers.Conv2D(se, 1, activation=swish, padding="same", name=prefix + "se_reduce")(s)
    s = layers.Conv2D(c, 1, activation="sigmoid", padding="same", name=prefix + "se_expand")(s)
    h = layers.Multiply(name=prefix + "se_excite")([h, s])
    h = layers.Conv2D(cout, 1, padding="same", use_bias=False, name=prefix + "project_conv")(h)
    h = layers.BatchNormalization(name=prefix + "project_bn")(h)
    if stride == 1 and cin == cout:
        h = FixedDropout(drop, noise_shape=(None, 1, 1, 1), name=prefix + "drop")(h)
        h = layers.Add(name=prefix + "add")([h, x])
    return h


def efficientnet_b0(size):
    inp = keras.Input((size, size, 3))
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation(swish, name="stem_activation")(x)
    n_total, n = sum(r for r, *_ in B0_BLOCKS), 0
    for stage, (reps, k, s, e, cin, cout) in enumerate(B0_BLOCKS):
        for j in range(reps):
            x = mbconv(x, cin if j == 0 else cout, cout, k, s if j == 0 else 1, e, 0.2 * n / n_total,
                       f"block{stage + 1}{chr(97 + j)}_")
            n += 1
    x = layers.Conv2D(1280, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    x = layers.Activation(swish, name="top_activation")(x)
    return keras.Model(inp, head(x, 0.2), name="efficientnet_b0")


# --------------------------------------------------------------------------------------------------------------
# osnet (x1.0): omni-scale blocks; 4 streams of 1..4 "lite" 3x3 convs; ONE channel gate per block, a nested
# Sequential model called by all 4 streams (shared weights); AveragePooling2D(2,2) transitions.
def channel_gate(c, name):
    return keras.Sequential([
        layers.GlobalAveragePooling2D(input_shape=(None, None, c)),
        layers.Dense(max(1, c // 16), use_bias=False),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Dense(c),
        layers.Activation("sigmoid"),
        layers.Reshape((1, 1, c)),
    ], name=name)


def light_conv(x, c):
    x = layers.Conv2D(c, 1, use_bias=False)(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def os_block(x, cin, cout, name):
    mid = cout // 4
    h = conv_bn(x, mid, 1)
    gate = channel_gate(mid, name + "_gate")
    streams = []
    for t in range(1, 5):
        s = h
        for _ in range(t):
            s = light_conv(s, mid)
        streams.append(layers.Multiply()([s, gate(s)]))
    h = layers.Add()(streams)
    h = conv_bn(h, cout, 1, act=None)
    if cin != cout:
        x = conv_bn(x, cout, 1, act=None)
    return layers.Activation("relu")(layers.Add()([h, x]))


def osnet(size):
    inp = keras.Input((size, size, 3))
    x = conv_bn(inp, 64, 7, strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    chans = [64, 256, 384, 512]
    for stage in range(3):
        cin, cout = chans[stage], chans[stage + 1]
        x = os_block(x, cin, cout, f"os{stage + 2}a")
        x = os_block(x, cout, cout, f"os{stage + 2}b")
        if stage < 2:
            x = conv_bn(x, cout, 1)
            x = layers.AveragePooling2D(2, strides=2)(x)
    x = conv_bn(x, 512, 1)
    return keras.Model(inp, head(x, 0.2), name="osnet")


# --------------------------------------------------------------------------------------------------------------
def app_mobilenet_v2(size):
    return keras.applications.MobileNetV2(input_shape=(size, size, 3), weights=None, classes=1000)


def app_resnet50(size):
    return keras.applications.ResNet50(input_shape=(size, size, 3), weights=None, classes=1000)


# --------------------------------------------------------------------------------------------------------------
# Reader-stress fixtures: small, each aimed at one corner of the .h5 format or of an op's semantics.
def fx_shared_layer(_):
    inp = keras.Input((16, 16, 3))
    conv = layers.Conv2D(8, 3, padding="same", activation="relu", name="shared_conv")
    a = conv(inp)
    b = conv(layers.Conv2D(3, 1, name="pre")(inp))          # the same layer (same weights) called twice
    dense = layers.Dense(10, name="shared_dense")
    ga = dense(layers.GlobalAveragePooling2D()(a))
    gb = dense(layers.GlobalMaxPooling2D()(b))
    out = layers.Softmax()(layers.Add()([ga, gb]))
    return keras.Model(inp, out, name="shared_layer")


def fx_nested_models(_):
    inner_in = keras.Input((16, 16, 8))
    t = layers.Conv2D(8, 3, padding="same", use_bias=False)(inner_in)
    t = layers.BatchNormalization()(t)
    t = layers.Add()([t, inner_in])
    inner = keras.Model(inner_in, layers.ReLU()(t), name="inner_functional")
    seq = keras.Sequential([layers.Conv2D(8, 1, input_shape=(16, 16, 8)), layers.Activation("tanh")], name="inner_seq")
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same")(inp)
    x = inner(x)
    x = inner(x)            # a nested model called twice
    x = seq(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(10, activation="softmax")(x), name="nested_models")


def fx_sequential(_):
    return keras.Sequential([
        keras.Input((20, 20, 3)),
        layers.Conv2D(8, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, strides=2, padding="same", activation="relu6"),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="sequential")


def fx_relu_variants(_):
    inp = keras.Input((12, 12, 4))
    x = layers.Conv2D(8, 3, padding="same")(inp)
    a = layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2)(x)
    b = layers.ReLU(max_value=6.0)(x)
    c = layers.ReLU(negative_slope=0.3)(x)
    d = layers.LeakyReLU(alpha=0.2)(x)
    e = layers.ReLU(threshold=0.5)(x)
    out = layers.Concatenate(axis=-1)([a, b, c, d, e])
    return keras.Model(inp, out, name="relu_variants")


def fx_activations(_):
    inp = keras.Input((10, 10, 3))
    outs = []
    for name in ["relu", "relu6", "sigmoid", "hard_sigmoid", "swish", "silu", "tanh", "elu", "gelu", "linear"]:
        outs.append(layers.Conv2D(4, 3, padding="same", activation=name, name="conv_" + name)(inp))   # string
        outs.append(layers.Activation(name, name="act_" + name)(layers.Conv2D(4, 1)(inp)))           # layer
    x = layers.Concatenate()(outs)
    x = layers.Activation("softmax", name="act_softmax")(layers.Dense(16)(layers.GlobalAveragePooling2D()(x)))
    return keras.Model(inp, [x, layers.Concatenate()(outs)], name="activations")


def fx_activations_extra(_):
    inp = keras.Input((8, 8, 3))
    outs = [layers.Activation(n, name="act_" + n)(layers.Conv2D(4, 3, padding="same")(inp))
            for n in ["softplus", "softsign", "selu", "exponential"]]
    outs.append(layers.ELU(alpha=0.5)(inp))
    return keras.Model(inp, layers.Concatenate()(outs), name="activations_extra")


def fx_padding_pooling(_):
    inp = keras.Input((15, 17, 3))
    x = layers.ZeroPadding2D(((1, 2), (0, 3)))(inp)                  # asymmetric
    x = layers.Conv2D(8, 3, padding="valid")(x)
    a = layers.AveragePooling2D(3, strides=2, padding="same")(x)      # Keras 'same': pad excluded from the mean
    b = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    c = layers.AveragePooling2D(2, strides=2, padding="same")(x)      # odd input: pad at the end only
    y = layers.Concatenate()([a, b, c])
    z = layers.AveragePooling2D((2, 3), strides=(1, 2), padding="valid")(y)
    g1 = layers.GlobalAveragePooling2D(keepdims=True)(z)
    g2 = layers.GlobalMaxPooling2D(keepdims=True)(z)
    return keras.Model(inp, [y, layers.Add()([z, g1, g2])], name="padding_pooling")


def fx_conv_variants(_):
    inp = keras.Input((19, 19, 8))
    a = layers.Conv2D(8, 3, dilation_rate=2, padding="same")(inp)
    b = layers.Conv2D(8, 3, groups=4, padding="same", activation="relu")(inp)
    c = layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2)(inp)
    d = layers.Conv2D(8, 3, strides=2, padding="same")(inp)          # odd size, stride 2, 'same'
    e = layers.DepthwiseConv2D(5, strides=2, padding="same", depth_multiplier=1)(inp)
    f = layers.Conv2D(8, (1, 5), strides=(2, 1), padding="valid")(inp)
    g = layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")(inp)
    x = layers.Concatenate()([a, b, c, g])
    return keras.Model(inp, [x, layers.Concatenate()([d, e]), f], name="conv_variants")


def fx_dense_nd(_):
    inp = keras.Input((6, 7, 5))
    x = layers.Dense(4, activation="tanh")(inp)                       # Dense on the last axis of a 4-D tensor
    x = layers.Reshape((42, 4))(x)
    x = layers.Dense(3)(x)                                            # Dense on a 3-D tensor
    x = layers.Flatten()(x)
    x = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inp, x, name="dense_nd")


def fx_bn_variants(_):
    inp = keras.Input((9, 9, 6))
    a = layers.BatchNormalization(center=False, epsilon=1e-5)(inp)
    b = layers.BatchNormalization(scale=False, epsilon=0.1)(inp)
    c = layers.BatchNormalization(center=False, scale=False)(inp)
    x = layers.Concatenate(axis=-1)([a, b, c])
    g = layers.GlobalAveragePooling2D()(x)
    g = layers.Dense(12)(g)
    g = layers.BatchNormalization(axis=-1)(g)                          # BN on a 2-D tensor
    return keras.Model(inp, [x, g], name="bn_variants")


def fx_merges(_):
    inp = keras.Input((8, 8, 4))
    a = layers.Conv2D(4, 1)(inp)
    b = layers.Conv2D(4, 3, padding="same")(inp)
    c = layers.Conv2D(4, 1, activation="sigmoid")(inp)
    x = layers.Concatenate(axis=-1)([layers.Add()([a, b, c]), layers.Multiply()([a, b, c]), a])
    x = layers.Reshape((8, 8, 3, 4))(x)
    x = layers.Reshape((16, 4, 12))(x)
    return keras.Model(inp, layers.Flatten()(x), name="merges")


def fx_merges_extra(_):
    inp = keras.Input((8, 8, 4))
    a = layers.Conv2D(4, 1)(inp)
    b = layers.Conv2D(4, 3, padding="same")(inp)
    out = layers.Concatenate()([layers.Subtract()([a, b]), layers.Maximum()([a, b, inp]), layers.Minimum()([a, b]),
                                layers.Average()([a, b, inp])])
    return keras.Model(inp, out, name="merges_extra")


def fx_optimizer_weights(_):
    """A compiled and trained model: the .h5 carries optimizer weights (kiln ignores them)."""
    m = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, use_bias=False), layers.BatchNormalization(),
                          layers.ReLU(), layers.GlobalAveragePooling2D(), layers.Dense(5, activation="softmax")],
                         name="optimizer_weights")
    try:
        opt = keras.optimizers.AdamW(1e-3)
    except AttributeError:
        opt = keras.optimizers.Adam(1e-3)
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    r = np.random.default_rng(5)
    m.fit(r.normal(size=(4, 8, 8, 3)).astype("float32"), r.integers(0, 5, 4), epochs=1, verbose=0)
    return m


def fx_refuse_lambda_custom(_):
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(inp)
    x = layers.Lambda(lambda t: t * 3.0, name="my_lambda")(x)
    x = UnknownCustomLayer(name="my_custom")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x), name="refuse_lambda_custom")


# name -> (builder, kind). kind: "net" = full network (BN calibration, logits scaling), "fixture" = small model,
# "optional" = a fixture whose features the issue does not require (a clean refusal is accepted),
# "refuse" = kiln must refuse it (exit 1, message naming every listed layer).
MODELS = {
    "googlenet_bn": (googlenet_bn, "net"),
    "inception_v2": (inception_v2, "net"),
    "mobilenet_v2": (mobilenet_v2_post, "net"),
    "efficientnet_b0": (efficientnet_b0, "net"),
    "osnet": (osnet, "net"),
    "keras_mobilenet_v2": (app_mobilenet_v2, "net"),
    "keras_resnet50": (app_resnet50, "net"),
    "shared_layer": (fx_shared_layer, "fixture"),
    "nested_models": (fx_nested_models, "fixture"),
    "sequential": (fx_sequential, "fixture"),
    "relu_variants": (fx_relu_variants, "fixture"),
    "activations": (fx_activations, "fixture"),
    "padding_pooling": (fx_padding_pooling, "fixture"),
    "conv_variants": (fx_conv_variants, "fixture"),
    "dense_nd": (fx_dense_nd, "fixture"),
    "bn_variants": (fx_bn_variants, "fixture"),
    "merges": (fx_merges, "fixture"),
    "optimizer_weights": (fx_optimizer_weights, "fixture"),
    "activations_extra": (fx_activations_extra, "optional"),
    "merges_extra": (fx_merges_extra, "optional"),
    "refuse_lambda_custom": (fx_refuse_lambda_custom, "refuse"),
}
REFUSE_NAMES = {"refuse_lambda_custom": ["my_lambda", "Lambda", "my_custom", "UnknownCustomLayer"]}


# --------------------------------------------------------------------------------------------------------------
def all_layers(model):
    """Every layer, descending into nested models (each layer object once)."""
    seen, out = set(), []

    def walk(m):
        for layer in m.layers:
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            if isinstance(layer, keras.Model):
                walk(layer)
            else:
                out.append(layer)
    walk(model)
    return out


def randomize(model, rng, calib_x):
    """Seeded random BN parameters, BN statistics calibrated on calib_x then perturbed (see module docstring)."""
    bns = [l for l in all_layers(model) if isinstance(l, layers.BatchNormalization)]
    drops = [l for l in all_layers(model) if isinstance(l, layers.Dropout)]
    for bn in bns:
        if bn.scale:
            bn.gamma.assign(rng.uniform(0.5, 1.5, bn.gamma.shape).astype("float32"))
        if bn.center:
            bn.beta.assign(rng.normal(0, 0.1, bn.beta.shape).astype("float32"))
    # One forward pass in training mode with momentum 0 sets every moving statistic to the batch statistic of its
    # own input (computed with the already-calibrated layers before it). Dropout is silenced meanwhile.
    saved = [(bn, bn.momentum) for bn in bns] + [(d, d.rate) for d in drops]
    for bn in bns:
        bn.momentum = 0.0
    for d in drops:
        d.rate = 0.0
    model(calib_x, training=True)
    for obj, v in saved:
        if isinstance(obj, layers.BatchNormalization):
            obj.momentum = v
        else:
            obj.rate = v
    for bn in bns:
        var = bn.moving_variance.numpy()
        std = np.sqrt(var + bn.epsilon)
        bn.moving_mean.assign((bn.moving_mean.numpy() + rng.normal(0, 0.1, var.shape) * std).astype("float32"))
        bn.moving_variance.assign((var * rng.uniform(0.5, 1.5, var.shape)).astype("float32"))


def scale_logits(model, calib_x, target_std=3.0):
    """Scales the last Dense (softmax) layer so its logits have std ~target_std on calib_x."""
    dense = [l for l in model.layers if isinstance(l, layers.Dense)][-1]
    feats = keras.Model(model.inputs, dense.input)(calib_x).numpy()
    kernel, bias = dense.get_weights()
    logits = feats.reshape(-1, feats.shape[-1]) @ kernel
    s = target_std / max(float(logits.std()), 1e-6)
    bias = np.random.default_rng(7).normal(0, 0.3, bias.shape)
    dense.set_weights([(kernel * s).astype("float32"), bias.astype("float32")])


def make_one(name, size, outdir, seed):
    builder, kind = MODELS[name]
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = builder(size)
    if len(model.outputs) > 1:  # one output per model keeps `kiln run --output FILE` unambiguous
        flat = [layers.Flatten()(o) if len(o.shape) > 2 else o for o in model.outputs]
        model = keras.Model(model.inputs, layers.Concatenate(name="all_outputs")(flat), name=model.name)
    ins = model.inputs
    rng = np.random.default_rng(seed)
    shape = (2,) + tuple(ins[0].shape[1:])
    x = rng.uniform(-1, 1, shape).astype("float32")
    calib = rng.uniform(-1, 1, (8,) + shape[1:]).astype("float32")
    has_bn = any(isinstance(l, layers.BatchNormalization) for l in all_layers(model))
    if has_bn or kind == "net":
        randomize(model, rng, calib)
    else:  # still give biases non-zero values: a bias kiln drops must show
        for l in all_layers(model):
            if getattr(l, "bias", None) is not None:
                l.bias.assign(rng.normal(0, 0.2, l.bias.shape).astype("float32"))
    if kind == "net":
        scale_logits(model, calib)
    path = os.path.join(outdir, name + ".h5")
    model.save(path, save_format="h5", include_optimizer=True)
    np.save(os.path.join(outdir, name + ".x.npy"), x)
    entry = {"name": name, "kind": kind, "h5": name + ".h5", "x": name + ".x.npy",
             "input_shape": list(shape[1:]), "params": int(model.count_params()), "layers": len(all_layers(model))}
    if kind == "refuse":
        entry["refuse_names"] = REFUSE_NAMES[name]
        return entry
    ys = model.predict(x, verbose=0)
    ys = ys if isinstance(ys, list) else [ys]
    entry["y"], entry["softmax"] = [], []
    for i, y in enumerate(ys):
        fn = f"{name}.y{i}.npy" if len(ys) > 1 else f"{name}.y.npy"
        np.save(os.path.join(outdir, fn), y.astype("float32"))
        entry["y"].append(fn)
    # which outputs are softmax probabilities (absolute tolerance) vs raw tensors (relative tolerance)
    for t in model.outputs:
        layer = t._keras_history.layer
        act = getattr(layer, "activation", None)
        entry["softmax"].append(bool(isinstance(layer, layers.Softmax) or getattr(act, "__name__", "") == "softmax"))
    return entry


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--full", action="store_true", help="224x224 inputs (default 128x128)")
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--force", action="store_true", help="regenerate even when the cache matches")
    args = ap.parse_args()
    size = 224 if args.full else 128
    names = args.only.split(",") if args.only else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    os.makedirs(args.outdir, exist_ok=True)
    key = {"script": script_hash(), "tensorflow": tf.__version__, "tf_keras": keras.__version__,
           "numpy": np.__version__, "size": size, "names": names}
    mpath = os.path.join(args.outdir, "manifest.json")
    if not args.force and os.path.exists(mpath):
        try:
            with open(mpath) as f:
                old = json.load(f)
            if old.get("key") == key and all(os.path.exists(os.path.join(args.outdir, m["h5"])) for m in old["models"]):
                print(f"make_models: cache up to date ({len(old['models'])} models in {args.outdir})")
                return 0
        except (ValueError, KeyError):
            pass
    t_all = time.time()
    models = []
    for i, name in enumerate(names):
        t0 = time.time()
        entry = make_one(name, size, args.outdir, seed=1000 + i)
        entry["seconds"] = round(time.time() - t0, 1)
        models.append(entry)
        print(f"make_models: {name:22s} {entry['params']:>10,d} params {entry['layers']:4d} layers "
              f"{entry['seconds']:6.1f} s", flush=True)
    with open(mpath, "w") as f:
        json.dump({"key": key, "input_size": size, "models": models}, f, indent=1)
    print(f"make_models: {len(models)} models in {time.time() - t_all:.0f} s -> {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
