#!/usr/bin/env python3
"""Conformance corpus worker: every keras.applications family (and reader-stress fixtures) written by ONE Keras
flavour with seeded random weights, plus Keras's own outputs on a seeded random input.

  python3 tests/keras/make_apps.py --flavour tf_keras|keras3 --tier ci|full OUTDIR [--only NAME,...]

Run by tests/keras/conformance.py (which runs both flavours in separate processes: tf_keras and Keras 3 cannot share
one), not usually by hand. Writes, per model NAME and format:
  tf_keras: NAME.tfk.h5                          (tf-keras 2.x model.save(save_format="h5"), the format in the wild)
  keras3:   NAME.k3.keras and NAME.k3.h5         (Keras 3 native zip, and Keras 3's legacy .h5; same weights)
and NAME.<flavour>.x*.npy / NAME.<flavour>.y*.npy, and one JSON entry per file in OUTDIR/NAME.<flavour>.json (the
cache: an entry whose key matches is not rebuilt).

Weights: keras.applications' own initializers under keras.utils.set_random_seed(seed), then made non-trivial so that
a parameter kiln misreads changes the output: every BatchNormalization gets gamma ~ U(0.5,1.5), beta ~ N(0,0.1) and
moving statistics calibrated on a random batch then perturbed by mean += N(0,0.05)*std, var *= U(0.9,1.1) (milder
than make_models.py's: with its 0.1 / U(0.5,1.5) EfficientNet's activations grow ~6x per stage and any float
round-off, TensorFlow's own included, is amplified past 1e-4; calibrated statistics are far from the identity
anyway, so a skipped or misread BN still shows); LayerNormalization
gamma ~ U(0.5,1.5), beta ~ N(0,0.1); ConvNeXt's LayerScale gamma ~ U(0.2,0.6) (its 1e-6 init would hide the whole
residual branch); Normalization layers with weights get mean ~ N(0,0.2), variance ~ U(0.5,2); zero-initialized
biases ~ N(0,0.05). The classifier (last Dense/Conv with a kernel) is scaled so logits have std ~3 (peaked softmax).
"""
import argparse
import hashlib
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

SKIP = 77

# family -> (CI representative, [every variant], CI input size, preprocessing input range)
# Input size 0 = the architecture's default. Preprocessing families include Rescaling: they see 0..255 pixels.
FAMILIES = {
    "Xception": ("Xception", ["Xception"], 96, "pm1"),
    "VGG": ("VGG16", ["VGG16", "VGG19"], 32, "pm1"),
    "ResNet": ("ResNet50", ["ResNet50", "ResNet101", "ResNet152"], 96, "pm1"),
    "ResNetV2": ("ResNet50V2", ["ResNet50V2", "ResNet101V2", "ResNet152V2"], 96, "pm1"),
    "InceptionV3": ("InceptionV3", ["InceptionV3"], 96, "pm1"),
    "InceptionResNetV2": ("InceptionResNetV2", ["InceptionResNetV2"], 96, "pm1"),
    "MobileNet": ("MobileNet", ["MobileNet"], 96, "pm1"),
    "MobileNetV2": ("MobileNetV2", ["MobileNetV2"], 96, "pm1"),
    "MobileNetV3": ("MobileNetV3Small", ["MobileNetV3Small", "MobileNetV3Large"], 96, "pix"),
    "DenseNet": ("DenseNet121", ["DenseNet121", "DenseNet169", "DenseNet201"], 96, "pm1"),
    "NASNet": ("NASNetMobile", ["NASNetMobile", "NASNetLarge"], 96, "pm1"),
    "EfficientNet": ("EfficientNetB0", [f"EfficientNetB{i}" for i in range(8)], 96, "pix"),
    "EfficientNetV2": ("EfficientNetV2B0", ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
                                            "EfficientNetV2B3", "EfficientNetV2S", "EfficientNetV2M",
                                            "EfficientNetV2L"], 96, "pix"),
    "ConvNeXt": ("ConvNeXtTiny", ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge",
                                  "ConvNeXtXLarge"], 64, "pix"),
    "RegNetX": ("RegNetX002", [f"RegNetX{s}" for s in ("002", "004", "006", "008", "016", "032", "040", "064",
                                                        "080", "120", "160", "320")], 96, "pix"),
    "RegNetY": ("RegNetY002", [f"RegNetY{s}" for s in ("002", "004", "006", "008", "016", "032", "040", "064",
                                                        "080", "120", "160", "320")], 96, "pix"),
}
# NASNetLarge's own default is 331, the rest 224 (EfficientNet B1-B7 / V2 have larger native sizes: their defaults).
DEFAULT_SIZE = {"NASNetLarge": 331, "EfficientNetB1": 240, "EfficientNetB2": 260, "EfficientNetB3": 300,
                "EfficientNetB4": 380, "EfficientNetB5": 456, "EfficientNetB6": 528, "EfficientNetB7": 600,
                "EfficientNetV2B1": 240, "EfficientNetV2B2": 260, "EfficientNetV2B3": 300, "EfficientNetV2S": 384,
                "EfficientNetV2M": 480, "EfficientNetV2L": 480, "InceptionV3": 299, "InceptionResNetV2": 299,
                "Xception": 299}


def import_quietly(flavour):
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        if flavour == "tf_keras":
            import tf_keras as keras
        else:
            import keras
            if not keras.__version__.startswith("3"):
                raise ImportError(f"`import keras` gives Keras {keras.__version__}, not Keras 3")
        return tf, keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# --------------------------------------------------------------------------------------------------------------
# Reader-stress fixtures (both flavours unless noted). Each returns (model, input range, channels_first twin or None).
def stress_fixtures(keras, flavour):
    L = keras.layers

    def crop_upsample():
        inp = keras.Input((13, 11, 4), name="img")
        x = L.Conv2D(6, 3, padding="same", name="c0")(inp)
        a = L.Cropping2D(((1, 2), (3, 0)), name="crop_asym")(x)              # 10x8
        a = L.UpSampling2D((2, 3), interpolation="nearest", name="up_nearest")(a)   # 20x24
        b = L.Cropping2D(1, name="crop_sym")(x)                               # 11x9
        b = L.UpSampling2D(2, interpolation="bilinear", name="up_bilinear")(b)      # 22x18
        b = L.Cropping2D(((2, 0), (0, 0)), name="crop_top")(b)                # 20x18
        b = L.ZeroPadding2D(((0, 0), (3, 3)), name="pad")(b)                  # 20x24
        y = L.Concatenate(name="cat")([a, b])
        p = L.Permute((2, 1, 3), name="perm_hw")(y)                           # 24x20x12
        p = L.Permute((3, 1, 2), name="perm_chw")(p)                          # 12x24x20
        p = L.Dense(5, name="dense_3d")(L.Reshape((12, 480), name="rs")(p))   # Dense on a 3-D tensor
        g = L.GlobalAveragePooling2D(name="gap")(y)
        out = L.Dense(10, activation="softmax", name="probs")(L.Concatenate(name="feat")([g, L.Flatten()(p)]))
        return keras.Model(inp, out, name="stress_crop_upsample"), "pm1"

    def multi_io():
        a_in = keras.Input((16, 16, 3), name="image_a")
        b_in = keras.Input((8, 8, 5), name="image_b")
        v_in = keras.Input((7,), name="vector")
        a = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_a")(a_in)
        b = L.Conv2D(8, 1, activation="relu", name="conv_b")(b_in)
        m = L.Add(name="merge")([a, b])
        head1 = L.Dense(6, activation="softmax", name="class_probs")(L.GlobalAveragePooling2D(name="gap")(m))
        v = L.Dense(8, activation="tanh", name="vec_dense")(v_in)
        head2 = L.Dense(3, name="regression")(L.Concatenate(name="join")([L.GlobalMaxPooling2D()(m), v]))
        return keras.Model([a_in, b_in, v_in], [head1, head2, m], name="stress_multi_io"), "pm1"

    def odd_names():
        # tf_keras allows '/' (a TF name scope separator, also the HDF5 path separator); Keras 3 refuses it, and
        # with the TensorFlow backend both refuse ':' (weight NAMES carry ':0' in tf_keras files: the reader strips
        # it). Keras 3 gets '.', '-' and '>' instead.
        sep = "/" if flavour == "tf_keras" else ".-"
        inp = keras.Input((12, 12, 3), name=f"input{sep}image")
        x = L.Conv2D(8, 3, padding="same", name=f"block1{sep}conv")(inp)
        x = L.BatchNormalization(name=f"block1{sep}bn")(x)
        x = L.ReLU(name=f"block1{sep}relu{sep}0")(x)
        y = L.Conv2D(8, 1, name="block1")(x)            # a name that equals another layer's path component
        x = L.Add(name=f"block1{sep}add")([x, y])
        x = L.GlobalAveragePooling2D(name=f"pool{sep}gap")(x)
        return keras.Model(inp, L.Dense(4, activation="softmax", name=f"head{sep}probs")(x),
                           name="stress_odd_names"), "pm1"

    def channels_first():
        # NCHW layers: Keras on CPU cannot run them (no NCHW conv kernel), so Keras's reference is the channels_last
        # twin below with the very same weights, fed the transposed input.
        def build(fmt):
            shape = (3, 14, 14) if fmt == "channels_first" else (14, 14, 3)
            ax = 1 if fmt == "channels_first" else -1
            inp = keras.Input(shape, name="nchw_in")
            x = L.Conv2D(8, 3, padding="same", data_format=fmt, name="cf_conv")(inp)
            x = L.BatchNormalization(axis=ax, name="cf_bn")(x)
            x = L.Activation("relu", name="cf_relu")(x)
            s = L.SeparableConv2D(8, 3, strides=2, padding="same", data_format=fmt, name="cf_sep")(x)
            d = L.DepthwiseConv2D(3, strides=2, padding="same", data_format=fmt, name="cf_dw")(x)
            x = L.Concatenate(axis=ax, name="cf_cat")([s, d])
            x = L.ZeroPadding2D(((1, 0), (0, 1)), data_format=fmt, name="cf_pad")(x)
            x = L.MaxPooling2D(2, data_format=fmt, name="cf_pool")(x)
            x = L.UpSampling2D(2, data_format=fmt, name="cf_up")(x)
            x = L.Cropping2D(((1, 1), (0, 2)), data_format=fmt, name="cf_crop")(x)
            x = L.AveragePooling2D(2, data_format=fmt, name="cf_avg")(x)
            x = L.GlobalAveragePooling2D(data_format=fmt, name="cf_gap")(x)
            return keras.Model(inp, L.Dense(5, activation="softmax", name="cf_probs")(x), name="stress_channels_first")
        return build("channels_first"), "pm1", build("channels_last")

    out = {"stress_crop_upsample": crop_upsample, "stress_multi_io": multi_io, "stress_odd_names": odd_names,
           "stress_channels_first": channels_first}
    return out


# --------------------------------------------------------------------------------------------------------------
def all_layers(keras, model):
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


def call_big(keras, model, x, training=False):
    """model(x): eagerly, or traced for inputs of 600x600 and more in Keras 3, whose eager call holds every
    intermediate tensor until it returns (> 23 GiB for EfficientNetB7 x 8 samples: killed on a 24 GiB machine).
    Only EfficientNetB7 takes that branch, so every other model's weights stay bit-identical to earlier corpora."""
    if keras.__version__.startswith("3") and model.inputs[0].shape[1] >= 600:
        import tensorflow as tf
        return tf.function(lambda t: model(t, training=training))(x)
    return model(x, training=training)


def randomize(keras, model, rng, calib):
    L = keras.layers
    layers = all_layers(keras, model)
    f32 = lambda a: np.asarray(a, dtype="float32")  # noqa: E731
    for l in layers:
        cls = type(l).__name__
        if isinstance(l, L.BatchNormalization):
            if l.scale:
                l.gamma.assign(f32(rng.uniform(0.5, 1.5, l.gamma.shape)))
            if l.center:
                l.beta.assign(f32(rng.normal(0, 0.1, l.beta.shape)))
        elif isinstance(l, L.LayerNormalization):
            if l.scale:
                l.gamma.assign(f32(rng.uniform(0.5, 1.5, l.gamma.shape)))
            if l.center:
                l.beta.assign(f32(rng.normal(0, 0.1, l.beta.shape)))
        elif cls == "LayerScale":
            l.gamma.assign(f32(rng.uniform(0.2, 0.6, l.gamma.shape)))
        elif cls == "Normalization" and l.get_weights():
            w = l.get_weights()
            w[0] = rng.normal(0, 0.2, w[0].shape).astype(w[0].dtype)
            w[1] = rng.uniform(0.5, 2.0, w[1].shape).astype(w[1].dtype)
            l.set_weights(w)
            if hasattr(l, "finalize_state"):  # Keras 3 caches mean/variance at build: refresh them, as loading does
                l.finalize_state()
        b = getattr(l, "bias", None)
        if b is not None and hasattr(b, "assign") and not np.any(np.asarray(b)):
            b.assign(f32(rng.normal(0, 0.05, b.shape)))
    bns = [l for l in layers if isinstance(l, L.BatchNormalization)]
    if bns:
        drops = [l for l in layers if isinstance(l, L.Dropout)]
        saved = [(bn, "momentum", bn.momentum) for bn in bns] + [(d, "rate", d.rate) for d in drops]
        for obj, attr, _ in saved:
            setattr(obj, attr, 0.0)
        call_big(keras, model, calib, training=True)
        for obj, attr, v in saved:
            setattr(obj, attr, v)
        for bn in bns:
            var = np.asarray(bn.moving_variance)
            std = np.sqrt(var + bn.epsilon)
            bn.moving_mean.assign(f32(np.asarray(bn.moving_mean) + rng.normal(0, 0.05, var.shape) * std))
            bn.moving_variance.assign(f32(var * rng.uniform(0.9, 1.1, var.shape)))


def scale_logits(keras, model, calib, target_std=3.0):
    """Scales the classifier (the last layer with a kernel) so its logits have std ~target_std on calib."""
    last = [l for l in model.layers if getattr(l, "kernel", None) is not None][-1]
    feats = np.asarray(call_big(keras, keras.Model(model.inputs, last.input), calib))
    w = last.get_weights()
    k = w[0].reshape(-1, w[0].shape[-1])   # Dense [C,K] or a 1x1 Conv2D [1,1,C,K] classifier
    logits = feats.reshape(-1, k.shape[0]) @ k
    s = target_std / max(float(logits.std()), 1e-12)
    w[0] = (w[0] * s).astype("float32")
    if len(w) > 1:
        w[1] = (w[1] * s).astype("float32")
    last.set_weights(w)


def make_input(rng, shape, kind):
    if kind == "pix":
        return rng.uniform(0, 255, shape).astype("float32")
    return rng.uniform(-1, 1, shape).astype("float32")


def build(keras, name, tier, fixtures):
    """(model, input kind, reference twin or None, input size text)"""
    if name in fixtures:
        r = fixtures[name]()
        return r[0], r[1], (r[2] if len(r) > 2 else None), "fixture"
    fam = next(f for f, v in FAMILIES.items() if name in v[1])
    size = FAMILIES[fam][2] if tier == "ci" else DEFAULT_SIZE.get(name, 224)
    ctor = getattr(keras.applications, name)
    kw = {"weights": None, "input_shape": (size, size, 3)}
    return ctor(**kw), FAMILIES[fam][3], None, f"{size}x{size}"


def outputs_softmax(model):
    flags = []
    for t in model.outputs:
        hist = getattr(t, "_keras_history", None)
        layer = hist[0] if hist is not None else None
        act = getattr(layer, "activation", None)
        name = getattr(act, "__name__", "")
        flags.append(bool(type(layer).__name__ == "Softmax" or name == "softmax"))
    return flags


def make_one(tf, keras, flavour, name, tier, outdir, seed, fixtures):
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model, in_kind, twin, size_text = build(keras, name, tier, fixtures)
    rng = np.random.default_rng(seed)
    ref = twin if twin is not None else model
    xs = [make_input(rng, (2,) + tuple(t.shape[1:]), in_kind) for t in model.inputs]
    calib = [make_input(rng, (8,) + tuple(t.shape[1:]), in_kind) for t in ref.inputs]
    calib = calib[0] if len(calib) == 1 else calib
    randomize(keras, ref, rng, calib)
    if len(ref.outputs) == 1:
        scale_logits(keras, ref, calib)
    if twin is not None:  # same weights into the NCHW model (kernels are stored HWIO whatever the data_format)
        model.set_weights(twin.get_weights())
        ref_x = [np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1))) for x in xs]
    else:
        ref_x = xs
    ys = ref.predict(ref_x if len(ref_x) > 1 else ref_x[0], verbose=0)
    ys = ys if isinstance(ys, list) else [ys]
    tag = "tfk" if flavour == "tf_keras" else "k3"
    base = f"{name}.{tag}"
    xfiles, yfiles = [], []
    for i, x in enumerate(xs):
        xfiles.append(f"{base}.x{i}.npy")
        np.save(os.path.join(outdir, xfiles[-1]), x)
    for i, y in enumerate(ys):
        yfiles.append(f"{base}.y{i}.npy")
        np.save(os.path.join(outdir, yfiles[-1]), np.asarray(y, dtype="float32"))
    files = []
    if flavour == "tf_keras":
        model.save(os.path.join(outdir, base + ".h5"), save_format="h5")
        files.append((base + ".h5", "tf_keras .h5"))
    else:
        model.save(os.path.join(outdir, base + ".keras"))
        files.append((base + ".keras", "Keras 3 .keras"))
        model.save(os.path.join(outdir, base + ".h5"))
        files.append((base + ".h5", "Keras 3 .h5"))
    common = {"name": name, "kind": "net", "x": xfiles, "y": yfiles, "softmax": outputs_softmax(ref),
              "input": size_text, "params": int(model.count_params()), "flavour": flavour}
    return [dict(common, h5=f, format=fmt) for f, fmt in files]


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def model_names(tier, flavour):
    names = []
    for fam, (rep, variants, _, _) in FAMILIES.items():
        if flavour == "keras3" and fam.startswith("RegNet"):
            continue  # Keras 3 has no RegNet
        names += [rep] if tier == "ci" else variants
    return names + ["stress_crop_upsample", "stress_multi_io", "stress_odd_names", "stress_channels_first"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--flavour", choices=["tf_keras", "keras3"], required=True)
    ap.add_argument("--tier", choices=["ci", "full"], default="ci")
    ap.add_argument("--only", help="comma-separated model names")
    args = ap.parse_args()
    try:
        tf, keras = import_quietly(args.flavour)
    except ImportError as e:
        print(f"make_apps: {args.flavour} not importable ({e}); run scripts/install_deps.sh", file=sys.stderr)
        return SKIP
    tf.get_logger().setLevel("ERROR")
    os.makedirs(args.outdir, exist_ok=True)
    names = model_names(args.tier, args.flavour)
    if args.only:
        want = args.only.split(",")
        names = [n for n in names if n in want]
    fixtures = stress_fixtures(keras, args.flavour)
    key = {"script": script_hash(), "tf": tf.__version__, "keras": keras.__version__, "tier": args.tier}
    for i, name in enumerate(names):
        tag = "tfk" if args.flavour == "tf_keras" else "k3"
        jpath = os.path.join(args.outdir, f"{name}.{tag}.json")
        if os.path.exists(jpath):
            with open(jpath) as f:
                old = json.load(f)
            if old.get("key") == key and all(os.path.exists(os.path.join(args.outdir, e["h5"]))
                                              for e in old["entries"]):
                continue
        t0 = time.time()
        seed = 2000 + int(hashlib.sha256(name.encode()).hexdigest()[:6], 16) % 10000
        entries = make_one(tf, keras, args.flavour, name, args.tier, args.outdir, seed, fixtures)
        with open(jpath, "w") as f:
            json.dump({"key": key, "entries": entries}, f, indent=1)
        print(f"make_apps[{args.flavour}]: {name:24s} {entries[0]['params']:>12,d} params "
              f"{time.time() - t0:6.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
