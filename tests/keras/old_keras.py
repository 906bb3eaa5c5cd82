#!/usr/bin/env python3
"""Old Keras file variants: .h5 files as Keras 2.0-2.3 and tf.keras 1.x wrote them, made by rewriting files saved by
today's tf_keras (same weights, so tf_keras's own outputs stay the reference), then run through kiln.

  python3 tests/keras/old_keras.py --kiln build/kiln --out DIR

What changed across Keras's history (from its release notes and saving code: keras/engine/saving.py 2.0-2.3,
tensorflow/python/keras/saving/hdf5_format.py 1.x-2.x, keras/src/legacy/saving 3.x), and the fixture for each:
  keras_2_0   model class `Model`, keras_version "2.0.5", a Sequential whose config is the bare LIST of layers (no
              "layers"/"name" keys, Keras <= 2.1), attributes as fixed-length byte strings (np.bytes_, as h5py wrote
              `json.dumps(...).encode()`), weight_names as a fixed-length byte array, no "module"/"registered_name"
  keras_2_2   functional `Model`, keras_version "2.2.4", inbound nodes [[name, node, tensor, {kwargs}]], BN axis 3
              (positive), TF name scopes made unique in weight names ("conv_1/kernel:0" for layer "conv", as when a
              graph was built twice in one session)
  tf_keras_1  keras_version "2.1.6-tf" (tf.keras 1.x), class `Model`, numbers wrapped as {"value": n} (TF 1.x
              Dimension objects), tuples as {"class_name": "__tuple__", "items": [...]} (tf.keras 2.x), optimizer
              weights group present
  keras_3_h5  Keras 3 legacy-h5 spellings: `batch_shape` instead of `batch_input_shape`, dtype as a DTypePolicy dict,
              inbound nodes as {"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}],
              "kwargs": {}}, weight names without ':0'
  colon_names every layer named "stage:NAME" (Keras 3 with the JAX/PyTorch backends allows ':' in names; TensorFlow
              refuses it) in the config, the weight groups and weight_names ("stage:conv/kernel:0"): the reader must
              not split names at the first ':'
Exit 77 when tf_keras is not importable.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check import compare, first_line, run  # noqa: E402


def base_models(keras):
    L = keras.layers
    inp = keras.Input((12, 12, 3), name="input_1")
    x = L.Conv2D(8, 3, padding="same", name="conv")(inp)
    x = L.BatchNormalization(axis=3, name="bn")(x)
    x = L.Activation("relu", name="relu")(x)
    s = L.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    x = L.Add(name="add")([x, s])
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Reshape((36, 8), name="reshape")(x)
    x = L.Dense(6, activation="tanh", name="dense3d")(x)
    x = L.Flatten(name="flatten")(x)
    functional = keras.Model(inp, L.Dense(5, activation="softmax", name="probs")(x), name="model_1")
    seq = keras.Sequential([L.Conv2D(4, 3, input_shape=(10, 10, 2), name="conv2d_1"),
                            L.BatchNormalization(name="batch_normalization_1"), L.Activation("relu", name="act"),
                            L.GlobalAveragePooling2D(name="gap"), L.Dense(3, activation="softmax", name="dense_1")],
                           name="sequential_1")
    return {"functional": functional, "sequential": seq}


def randomize(model, rng):
    for l in model.layers:
        ws = l.get_weights()
        if not ws:
            continue
        if type(l).__name__ == "BatchNormalization":
            ws = [rng.uniform(0.5, 1.5, ws[0].shape), rng.normal(0, 0.1, ws[1].shape), rng.normal(0, 0.3, ws[2].shape),
                  rng.uniform(0.5, 1.5, ws[3].shape)]
        else:
            ws = [rng.normal(0, 0.4, w.shape) for w in ws]
        l.set_weights([w.astype("float32") for w in ws])


# ---- config rewriting -------------------------------------------------------------------------------------------
def strip_modern(obj):
    """Drops keys old Keras never wrote (module, registered_name, build_config, compile_config)."""
    if isinstance(obj, dict):
        return {k: strip_modern(v) for k, v in obj.items()
                if k not in ("module", "registered_name", "build_config", "compile_config")}
    if isinstance(obj, list):
        return [strip_modern(v) for v in obj]
    return obj


def wrap_numbers(cfg):
    """tf.keras 1.x: numbers as {"value": n} (shape dims, units, filters); tuples as __tuple__ records."""
    for l in cfg["config"]["layers"]:
        c = l["config"]
        if "batch_input_shape" in c:
            c["batch_input_shape"] = [d if d is None else {"value": d} for d in c["batch_input_shape"]]
        for k in ("units", "filters"):
            if k in c:
                c[k] = {"value": c[k]}
        for k in ("kernel_size", "strides", "pool_size"):
            if isinstance(c.get(k), list):
                c[k] = {"class_name": "__tuple__", "items": c[k]}
        if "target_shape" in c:
            c["target_shape"] = [{"value": d} for d in c["target_shape"]]
    return cfg


def keras3_nodes(cfg):
    """Keras 3 spellings: batch_shape, DTypePolicy dicts, inbound nodes with __keras_tensor__ args."""
    for l in cfg["config"]["layers"]:
        c = l["config"]
        if "batch_input_shape" in c:
            c["batch_shape"] = c.pop("batch_input_shape")
        if isinstance(c.get("dtype"), str) and l["class_name"] != "InputLayer":
            c["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": c["dtype"]},
                          "registered_name": None}
        nodes = []
        for node in l.get("inbound_nodes", []):
            args = [{"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                                  "keras_history": r[:3]}} for r in node]
            nodes.append({"args": [args] if len(args) > 1 else args, "kwargs": {}})
        l["inbound_nodes"] = nodes
    return cfg


def sequential_as_list(cfg):
    """Keras <= 2.1: a Sequential's config is the layer list itself."""
    layers = [l for l in cfg["config"]["layers"] if l["class_name"] != "InputLayer"]
    first = cfg["config"]["layers"][0]
    if first["class_name"] == "InputLayer":
        layers[0]["config"]["batch_input_shape"] = first["config"]["batch_input_shape"]
    return {"class_name": "Sequential", "config": layers}


# ---- weight rewriting -------------------------------------------------------------------------------------------
def rewrite_weights(f, rename):
    """rename(layer, weight_name) -> new weight_name; moves the datasets to match."""
    mw = f["model_weights"]
    for lname in list(mw.keys()):
        g = mw[lname]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
        new = []
        for n in names:
            m = rename(lname, n)
            if m != n:
                data = g[n][()]
                del g[n]
                g.create_dataset(m, data=data)
            new.append(m)
        if names:
            g.attrs["weight_names"] = np.array([n.encode() for n in new])  # fixed-length bytes (Keras 2.0)


def scope_suffix(lname, n):
    parts = n.split("/")
    parts[-2] = parts[-2] + "_1"  # TF uniquified name scope: conv/kernel:0 -> conv_1/kernel:0
    return "/".join(parts)


def no_colon(lname, n):
    return n.split(":")[0]


def colon_names(cfg):
    """Every layer renamed "stage:NAME" (':' is legal in Keras 3 names with the JAX/PyTorch backends and in HDF5 paths;
    TensorFlow refuses it, so no file of this corpus could have it otherwise). The weights move in rename_layers."""
    def walk(o):
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            if o and isinstance(o[0], str) and o[0] in COLON_LAYERS:  # [layer, node, tensor(, kwargs)]
                return ["stage:" + o[0]] + [walk(v) for v in o[1:]]
            return [walk(v) for v in o]
        return o
    cfg = walk(cfg)
    for layer in cfg["config"]["layers"]:
        for d in (layer, layer["config"]):
            if d.get("name") in COLON_LAYERS:
                d["name"] = "stage:" + d["name"]
    return cfg


COLON_LAYERS = set()


def rename_layers(f):
    """Moves model_weights/NAME to model_weights/stage:NAME (with its TF scope group and weight_names)."""
    mw = f["model_weights"]
    for lname in list(mw.keys()):
        if lname not in COLON_LAYERS:
            continue
        new = "stage:" + lname
        mw.move(lname, new)
        g = mw[new]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
        if lname in g:
            g.move(lname, new)
        g.attrs["weight_names"] = [("stage:" + n if n.startswith(lname + "/") else n) for n in names]
    mw.attrs["layer_names"] = [("stage:" + n if n in COLON_LAYERS else n)
                               for n in (x.decode() if isinstance(x, bytes) else x for x in mw.attrs["layer_names"])]


def set_attr_bytes(f, key, text):
    f.attrs[key] = np.bytes_(text.encode())


VARIANTS = {
    # name: (base model, config transform, weight rename, keras_version, class for functional)
    "keras_2_0_sequential": ("sequential", sequential_as_list, None, "2.0.5"),
    "keras_2_0_functional": ("functional", None, None, "2.0.5"),
    "keras_2_2_functional": ("functional", None, scope_suffix, "2.2.4"),
    "tf_keras_1_functional": ("functional", wrap_numbers, None, "2.1.6-tf"),
    "tf_keras_1_sequential": ("sequential", wrap_numbers, scope_suffix, "2.2.4-tf"),
    "keras_3_h5_functional": ("functional", keras3_nodes, no_colon, "3.0.0"),
    "colon_names_functional": ("functional", colon_names, None, "2.15.0"),
}


def make(keras, out):
    rng = np.random.default_rng(42)
    refs = {}
    for name, model in base_models(keras).items():
        randomize(model, rng)
        x = rng.uniform(-1, 1, (2,) + tuple(model.inputs[0].shape[1:])).astype("float32")
        path = os.path.join(out, f"base_{name}.h5")
        if name == "functional":
            model.compile(optimizer="adam", loss="mse")  # tf_keras_1 variants keep the optimizer group
        model.save(path, save_format="h5")
        np.save(os.path.join(out, f"{name}.x.npy"), x)
        np.save(os.path.join(out, f"{name}.y.npy"), model.predict(x, verbose=0))
        refs[name] = path
        if name == "functional":
            COLON_LAYERS.update(layer.name for layer in model.layers)
    import h5py
    for vname, (base, transform, rename, version) in VARIANTS.items():
        dst = os.path.join(out, vname + ".h5")
        shutil.copy(refs[base], dst)
        with h5py.File(dst, "r+") as f:
            cfg = json.loads(f.attrs["model_config"])
            cfg = strip_modern(copy.deepcopy(cfg))
            if cfg["class_name"] == "Functional" and not version.startswith("3"):
                cfg["class_name"] = "Model"
            if transform:
                cfg = transform(cfg)
            del f.attrs["model_config"]
            if version.startswith("2.0") or version.startswith("2.1"):
                set_attr_bytes(f, "model_config", json.dumps(cfg))
                set_attr_bytes(f, "keras_version", version)
                set_attr_bytes(f, "backend", "tensorflow")
            else:
                f.attrs["model_config"] = json.dumps(cfg)
                f.attrs["keras_version"] = version
            if transform is colon_names:
                rename_layers(f)
            if rename:
                rewrite_weights(f, rename)
            elif version.startswith("2.0"):
                rewrite_weights(f, lambda l, n: n)  # weight_names as fixed-length bytes
            if "optimizer_weights" in f and not vname.startswith("tf_keras_1"):
                del f["optimizer_weights"]
    return {v: b[0] for v, b in VARIANTS.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--out", default="build/old_keras")
    args = ap.parse_args()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tf_keras as keras
    except ImportError as e:
        print(f"old_keras: tf_keras not importable ({e}); run scripts/install_deps.sh", file=sys.stderr)
        return 77
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    os.makedirs(args.out, exist_ok=True)
    variants = make(keras, args.out)
    failed = 0
    for vname, base in variants.items():
        d = args.out
        engine, outp = os.path.join(d, vname + ".engine"), os.path.join(d, vname + ".out.npy")
        rc, _, err = run([args.kiln, "build", os.path.join(d, vname + ".h5"), "-o", engine, "--batch", "1:2"], 300)
        if rc == 0:
            rc, _, err = run([args.kiln, "run", engine, "--input", os.path.join(d, base + ".x.npy"), "--output", outp],
                             300)
        if rc != 0:
            ok, info = False, f"exit {rc}: {first_line(err)}"
        else:
            ok, info = compare({}, np.load(outp), np.load(os.path.join(d, base + ".y.npy")), True)
        failed += not ok
        print(f"{vname:24s} {'PASS' if ok else 'FAIL'}  {info}", flush=True)
    print(f"{len(variants) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
