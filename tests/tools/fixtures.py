"""Shared fixtures of the tools tests (kiln bench / compare / eval): a tiny Keras classifier made with tf_keras, a copy
with one layer's weights perturbed (h5py), and the kiln splitmix64 random inputs reproduced in NumPy.

ensure(work) builds them once per build tree (a lock file serialises parallel ctest jobs). Exits 77 (ctest SKIP) with a
message when tf_keras or h5py is missing; scripts/install_deps.sh installs both."""
import fcntl
import os
import sys

import numpy as np

PERTURBED_LAYER = "conv2d_1"


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def ensure(work):
    os.makedirs(work, exist_ok=True)
    paths = {k: os.path.join(work, k + ".h5") for k in ("tiny", "tiny_perturbed")}
    with open(os.path.join(work, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(os.path.exists(p) for p in paths.values()):
            return paths
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            import h5py
            import tf_keras as K
        except ImportError as e:
            skip(f"{e.name} is not installed (scripts/install_deps.sh installs it)")
        rng = np.random.default_rng(7)
        L = K.layers
        x = inp = L.Input((32, 32, 3), name="image")
        for i, (filters, stride) in enumerate([(8, 1), (16, 2), (16, 1)]):
            x = L.Conv2D(filters, 3, strides=stride, padding="same", name=f"conv2d_{i}")(x)
            x = L.BatchNormalization(name=f"batch_normalization_{i}")(x)
            x = L.ReLU(name=f"re_lu_{i}")(x)
        x = L.GlobalAveragePooling2D(name="gap")(x)
        out = L.Dense(10, activation="softmax", name="probs")(x)
        model = K.Model(inp, out)
        for layer in model.layers:  # BN with non-trivial statistics, so folding it is really exercised
            if isinstance(layer, L.BatchNormalization):
                g, b, m, v = layer.get_weights()
                layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                                   rng.normal(0, 0.2, m.shape), rng.uniform(0.5, 1.5, v.shape)])
        model.save(paths["tiny"] + ".tmp.h5")
        os.replace(paths["tiny"] + ".tmp.h5", paths["tiny"])
        # the perturbed copy: noise on conv2d_1's kernel only
        import shutil
        tmp = paths["tiny_perturbed"] + ".tmp.h5"
        shutil.copy(paths["tiny"], tmp)
        with h5py.File(tmp, "r+") as f:
            hits = []
            f.visititems(lambda name, obj: hits.append(name) if isinstance(obj, h5py.Dataset)
                         and PERTURBED_LAYER + "/" in name and "kernel" in name else None)
            assert len(hits) == 1, hits
            k = f[hits[0]]
            k[...] = k[...] + rng.normal(0, 0.2, k.shape).astype(k.dtype)
        os.replace(tmp, paths["tiny_perturbed"])
    return paths


def kiln_uniform(n, seed, lo=-1.0, hi=1.0):
    """tools/kiln/tensor_io.c cli_fill_uniform: splitmix64, 53-bit uniform, scaled to [lo, hi], as float32."""
    M = (1 << 64) - 1
    s = seed & M
    out = np.empty(n, np.float32)
    for i in range(n):
        s = (s + 0x9E3779B97F4A7C15) & M
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        z ^= z >> 31
        u = (z >> 11) * (1.0 / 9007199254740992.0)
        out[i] = np.float32(lo + (hi - lo) * u)
    return out


def percentile(sorted_values, p):
    """../shared/notes/anchors.md §2: sorted[N-1-floor((1-p/100)*N)] (index clamped), in exact rational arithmetic."""
    from fractions import Fraction
    import math
    n = len(sorted_values)
    k = math.floor((1 - Fraction(str(p)) / 100) * n)
    return sorted_values[min(max(n - 1 - k, 0), n - 1)]
