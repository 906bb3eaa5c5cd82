#!/usr/bin/env python3
"""Real trained weights: the Coral MobileNetV2 (ImageNet, 1001 classes, uint8) read with TensorFlow's TFLite
interpreter, dequantized into keras.applications MobileNetV2 and saved as .h5 by Keras; then on every photo of
../shared/data/images kiln's top-1 must equal the TFLite interpreter's top-1 on the same preprocessed input, and the
top-5 sets must share at least 4 classes.

  python3 tests/keras/tflite_mobilenet.py --kiln build/kiln --shared ../shared --out build/tflite_mobilenet

Mapping (the TFLite graph is slim's MobileNetV2 with BatchNorm folded into the convolutions and ReLU6 fused):
every CONV_2D / DEPTHWISE_CONV_2D op, in graph order, fills the next Conv2D / DepthwiseConv2D of Keras's MobileNetV2
(Conv1, expanded_conv_depthwise, ..., Conv_1), weights dequantized as (q - zero_point) * scale (per channel when the
file says so) and moved from TFLite's [O,KH,KW,I] / [1,KH,KW,C] to Keras's [KH,KW,I,O] / [KH,KW,C,1]; the folded
bias goes into the BatchNormalization after it, made an identity plus bias (gamma 1, mean 0, variance 1 - epsilon,
beta = bias). The last 1x1 conv (Logits, 1001) becomes the Dense classifier. Keras's stride-2 ZeroPadding2D
((0,1),(0,1)) + 'valid' equals TFLite's 'SAME' on 224x224.
Input: each photo decoded and resized (bilinear, squash) to 224x224 uint8 by TensorFlow; TFLite gets the uint8, kiln
gets the same pixels dequantized with the model's input scale: (q - 128) / 128. Compared: kiln's softmax vs the
TFLite interpreter's logits (the uint8 tensor before its softmax, dequantized; a top-1 tie in the quantized logits
accepts any of the tied classes, and is reported).
Exit 77 (ctest SKIP) when ../shared or TensorFlow is absent.
"""
import argparse
import os
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402

SKIP = 77


def dequant(it, t):
    q = it.get_tensor(t["index"]).astype(np.float64)
    qp = t["quantization_parameters"]
    scales, zps = qp["scales"], qp["zero_points"]
    if len(scales) <= 1:
        return ((q - (zps[0] if len(zps) else 0)) * (scales[0] if len(scales) else 1.0)).astype("float32")
    shape = [1] * q.ndim
    shape[qp["quantized_dimension"]] = -1
    return ((q - zps.reshape(shape)) * scales.reshape(shape)).astype("float32")


def build_keras(tf, keras, it):
    details = {t["index"]: t for t in it.get_tensor_details()}
    convs = [op for op in it._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None, classes=1001,
                                           classifier_activation="softmax")
    klayers = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
    dense = model.layers[-1]
    if len(convs) != len(klayers) + 1:
        raise SystemExit(f"tflite_mobilenet: {len(convs)} TFLite convolutions vs {len(klayers)} Keras ones + Logits")
    for op, layer in zip(convs[:-1], klayers):
        w = dequant(it, details[op["inputs"][1]])
        b = dequant(it, details[op["inputs"][2]])
        if op["op_name"] == "DEPTHWISE_CONV_2D":
            if not isinstance(layer, keras.layers.DepthwiseConv2D):
                raise SystemExit(f"tflite_mobilenet: op {op['index']} is depthwise, Keras layer {layer.name} is not")
            kw = w[0].reshape(w.shape[1], w.shape[2], w.shape[3], 1)
        else:
            kw = np.transpose(w, (1, 2, 3, 0))
        layer.set_weights([kw])
        # the BatchNormalization right after it: identity + bias
        nxt = model.layers[model.layers.index(layer) + 1]
        if not isinstance(nxt, keras.layers.BatchNormalization):
            raise SystemExit(f"tflite_mobilenet: {layer.name} is not followed by BatchNormalization")
        n = b.shape[0]
        nxt.set_weights([np.ones(n, "float32"), b, np.zeros(n, "float32"),
                         np.full(n, 1.0 - nxt.epsilon, "float32")])
    op = convs[-1]
    w = dequant(it, details[op["inputs"][1]])  # [1001, 1, 1, 1280]
    b = dequant(it, details[op["inputs"][2]])
    dense.set_weights([w.reshape(w.shape[0], -1).T.copy(), b])
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    ap.add_argument("--out", default="build/tflite_mobilenet")
    args = ap.parse_args()
    tfl = os.path.join(args.shared, "models", "coral", "mobilenet_v2_1.0_224_quant.tflite")
    img_dir = os.path.join(args.shared, "data", "images")
    if not os.path.exists(tfl) or not os.path.isdir(img_dir):
        print(f"tflite_mobilenet: {tfl} or {img_dir} is absent (no ../shared next to the repo); skipping")
        return SKIP
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        import tf_keras as keras
    except ImportError as e:
        print(f"tflite_mobilenet: TensorFlow / tf_keras not importable ({e}); skipping", file=sys.stderr)
        return SKIP
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    os.makedirs(args.out, exist_ok=True)
    resolver = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = tf.lite.Interpreter(model_path=tfl, experimental_op_resolver_type=resolver,
                             experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    h5 = os.path.join(args.out, "mobilenet_v2_coral.h5")
    model = build_keras(tf, keras, it)
    model.save(h5, save_format="h5")
    engine = os.path.join(args.out, "mobilenet_v2_coral.engine")
    subprocess.run([args.kiln, "build", h5, "-o", engine, "--batch", "1:16"], check=True, capture_output=True)

    inp = it.get_input_details()[0]
    scale, zp = inp["quantization"]
    logits_t = [t for t in it.get_tensor_details() if t["name"].endswith("Logits/Squeeze1")
                or t["name"] == "MobilenetV2/Logits/Squeeze1"]
    names = sorted(f for f in os.listdir(img_dir) if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
    pix, ref = [], []
    for f in names:
        raw = tf.io.read_file(os.path.join(img_dir, f))
        img = tf.io.decode_image(raw, channels=3, expand_animations=False)
        img = tf.image.resize(tf.cast(img, tf.float32), (224, 224), method="bilinear")
        q = np.clip(np.round(img.numpy()), 0, 255).astype(np.uint8)[None]
        it.set_tensor(inp["index"], q)
        it.invoke()
        lt = logits_t[0] if logits_t else it.get_output_details()[0]
        ref.append(dequant(it, lt).reshape(-1))
        pix.append(q[0])
    x = ((np.stack(pix).astype(np.float32) - zp) * scale).astype(np.float32)
    xpath, ypath = os.path.join(args.out, "photos.npy"), os.path.join(args.out, "kiln.npy")
    np.save(xpath, x)
    subprocess.run([args.kiln, "run", engine, "--input", xpath, "--output", ypath], check=True, capture_output=True)
    out = np.load(ypath)
    failed = 0
    for i, f in enumerate(names):
        r, k = ref[i], out[i]
        best = np.flatnonzero(r == r.max())
        k5, r5 = np.argsort(-k)[:5], np.argsort(-r, kind="stable")[:5]
        overlap = len(set(k5.tolist()) & set(r5.tolist()))
        ok = int(k5[0]) in best.tolist() and overlap >= 4
        failed += not ok
        tie = f" (TFLite tie among {best.tolist()})" if len(best) > 1 else ""
        print(f"{f:22s} {'PASS' if ok else 'FAIL'}  kiln top-1 {k5[0]} p={k[k5[0]]:.3f}  TFLite top-1 "
              f"{best[0]}{tie}  top-5 overlap {overlap}/5", flush=True)
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
