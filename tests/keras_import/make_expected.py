#!/usr/bin/env python3
"""Expectations for tests/unit/test_keras_import.c, computed from the real .h5 files with h5py and Keras itself
(never by running kiln). Writes one line per model:

  <file> inputs=<H,W,C> outputs=<D...> params=<N> nodes=<N> layers=<name,name,...>

params: every weight dataset listed in the layer groups' weight_names (h5py), cross-checked with Keras's
count_params(), plus the constants kiln documents it adds (BatchNormalization gamma/beta when scale/center are off,
Average's 1/n); input/output shapes from Keras (or the config when Keras cannot load
it); nodes: kiln's documented layer->node mapping (docs: one node per layer, SeparableConv2D two, n-ary merges n-1,
a softmax activation inside Conv/Dense one extra, InputLayer none); layers: every non-input layer name, nested
models flattened (the names kiln must keep).

Usage: make_expected.py MODELS_DIR [FILE...] > expected_real.txt
"""
import json
import os
import sys

import h5py
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FILES = ["kr205_fer2013_mini_xception.h5", "kr205_tiny_xception_kdef.h5", "tfk240_tm_water.h5",
         "k3113_mnist_cnn.h5"]


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def weight_params(h):
    root = h["model_weights"] if "model_weights" in h else h
    total = 0
    for ln in root.attrs["layer_names"]:
        g = root[s(ln)]
        for wn in g.attrs.get("weight_names", []):
            total += int(np.prod(g[s(wn)].shape))
    return total


def act_name(a):
    if isinstance(a, dict):
        c = a.get("config")
        return c if isinstance(c, str) else a.get("class_name")
    return a


def n_inputs(node):
    if isinstance(node, dict):  # Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
        a = node["args"][0]
        return len(a) if isinstance(a, list) else 1
    return len(node)


def walk(model, names, counts, mult=1):
    cfg = model["config"]
    layers = cfg if isinstance(cfg, list) else cfg["layers"]
    for l in layers:
        cls = l["class_name"]
        calls = mult * max(1, len(l.get("inbound_nodes", [])))
        if cls in ("Sequential", "Functional", "Model"):
            walk(l, names, counts, calls)
            continue
        if cls == "InputLayer":
            continue
        names.append(l.get("name", l["config"].get("name")))
        n = 1
        if cls in ("SeparableConv2D", "Rescaling"):
            n = 2
        if cls in ("Add", "Multiply", "Maximum", "Minimum", "Average") and l.get("inbound_nodes"):
            n = n_inputs(l["inbound_nodes"][0]) - (cls != "Average")
        if act_name(l["config"].get("activation")) == "softmax" and cls != "Activation":
            n += 1
        counts[0] += n * calls


def first_input_shape(model):
    cfg = model["config"]
    layers = cfg if isinstance(cfg, list) else cfg["layers"]
    for l in layers:
        c = l["config"]
        if l["class_name"] in ("Sequential", "Functional", "Model"):
            return first_input_shape(l)
        shp = c.get("batch_input_shape") or c.get("batch_shape")
        if shp:
            return shp[1:]
    return None


def synthesized(m):
    """Constants kiln adds beyond the file's weights: gamma=1 / beta=0 for BatchNormalization with scale/center off,
    the 1/n factor of Average."""
    n = 0
    for l in m.layers:
        if hasattr(l, "layers"):
            n += synthesized(l)
        elif type(l).__name__ == "BatchNormalization":
            c = l.moving_mean.shape[0]
            n += (0 if l.center else c) + (0 if l.scale else c)
        elif type(l).__name__ == "Average":
            n += 1
    return n


def keras_view(path):
    """(input shape, output shape, params, synthesized constants) from Keras, or None when no installed Keras can load
    the file."""
    for mod in ("tf_keras", "keras"):
        try:
            k = __import__(mod)
            m = k.models.load_model(path, compile=False)
            return list(m.input_shape[1:]), list(m.output_shape[1:]), int(m.count_params()), synthesized(m)
        except Exception:  # this Keras cannot read the file; try the next
            continue
    return None


def main():
    d = sys.argv[1]
    for f in sys.argv[2:] or FILES:
        p = os.path.join(d, f)
        with h5py.File(p, "r") as h:
            cfg = json.loads(s(h.attrs["model_config"]))
            params = weight_params(h)
        names, counts = [], [0]
        walk(cfg, names, counts)
        inp = first_input_shape(cfg)
        kv = keras_view(p)
        if kv is None:
            sys.exit("no Keras could load %s" % f)
        kin, kout, kparams, extra = kv
        assert kin == inp, (f, kin, inp)
        assert kparams == params, (f, kparams, params)
        print("%s inputs=%s outputs=%s params=%d nodes=%d layers=%s" % (
            f, ",".join(map(str, kin)), ",".join(map(str, kout)), params + extra, counts[0], ",".join(names)))


if __name__ == "__main__":
    main()
