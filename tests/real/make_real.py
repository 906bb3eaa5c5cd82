#!/usr/bin/env python3
"""Keras references for the REAL .h5 files in ../shared/models/keras_real (written by Keras 2.0.5, 2.2.4, tf.keras
2.4 and Keras 3.11 — files nobody on this project made). Writes OUTDIR/manifest.json in tests/keras/check.py's
format, so the same checker runs them through kiln:

  python3 tests/real/make_real.py SHARED_DIR OUTDIR && python3 tests/keras/check.py OUTDIR --kiln build/kiln

Each file is loaded by tf_keras, or by Keras 3 when tf_keras cannot read it (the Keras 3.11 file); the reference
is that Keras's predict on a seeded random input in [-1, 1], batch 2. The nnom file's Lambda layers hold marshaled
Python: no Keras loads it, and kiln must refuse it with one message naming every Lambda layer.
Exit 77 (ctest SKIP) when SHARED_DIR/models/keras_real is absent or tf_keras is not importable.
"""
import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
warnings.filterwarnings("ignore")

SKIP = 77


def import_quietly():
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tf_keras
        try:
            import keras as keras3
        except ImportError:
            keras3 = None
        return tf_keras, keras3
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src = os.path.join(sys.argv[1], "models", "keras_real")
    out = sys.argv[2]
    if not os.path.isdir(src):
        print(f"make_real: {src} is absent (no ../shared next to the repo); skipping the real-model tests")
        return SKIP
    try:
        import h5py
        import numpy as np
        tf_keras, keras3 = import_quietly()
    except ImportError as e:
        print(f"make_real: {e}; run scripts/install_deps.sh")
        return SKIP
    os.makedirs(out, exist_ok=True)
    models = []
    for i, fn in enumerate(sorted(f for f in os.listdir(src) if f.endswith(".h5"))):
        name, path = fn[:-3], os.path.join(src, fn)
        link = os.path.join(out, fn)
        if not os.path.exists(link):
            os.symlink(os.path.abspath(path), link)
        with h5py.File(path, "r") as f:
            cfg = json.loads(f.attrs["model_config"])
        lambdas = [l["config"]["name"] for l in cfg["config"]["layers"] if l["class_name"] == "Lambda"]
        if lambdas:
            models.append({"name": name, "kind": "refuse", "h5": fn, "x": "", "refuse_names": ["Lambda"] + lambdas})
            print(f"make_real: {name:32s} Lambda x{len(lambdas)}: kiln must refuse it")
            continue
        model, by = None, None
        for label, mod in (("tf_keras", tf_keras), ("keras 3", keras3)):
            if mod is None:
                continue
            try:
                model, by = mod.models.load_model(path, compile=False), label
                break
            except Exception:  # noqa: BLE001 - any reader failure means: try the other Keras
                continue
        if model is None:
            print(f"make_real: {name}: no installed Keras can load it; skipped")
            continue
        shape = (2,) + tuple(model.input_shape[1:])
        x = np.random.default_rng(100 + i).uniform(-1, 1, shape).astype("float32")
        y = np.asarray(model.predict(x, verbose=0), dtype="float32")
        np.save(os.path.join(out, name + ".x.npy"), x)
        np.save(os.path.join(out, name + ".y.npy"), y)
        last = cfg["config"]["layers"][-1]
        softmax = last["class_name"] == "Softmax" or last["config"].get("activation") == "softmax"
        if last["class_name"] in ("Sequential", "Functional", "Model"):  # nested head: look inside
            inner = last["config"]["layers"][-1]
            softmax = inner["config"].get("activation") == "softmax" or inner["class_name"] == "Softmax"
        models.append({"name": name, "kind": "net", "h5": fn, "x": name + ".x.npy", "y": [name + ".y.npy"],
                       "softmax": [bool(softmax)], "input_shape": list(shape[1:])})
        print(f"make_real: {name:32s} reference by {by}, input {shape[1:]}, output {y.shape[1:]}")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"input_size": "native", "models": models}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
