#!/usr/bin/env python3
"""How exact is Keras's own float32 output for a conformance-corpus model? The float32 oracle's noise floor.

  python3 tests/keras/f64_reference.py CORPUS_DIR NAME [--flavour tf_keras|keras3] [--kiln build/kiln [-- opts]]

For the corpus input of model NAME it computes, and caches next to the corpus files:
  NAME.<tag>.f64.y0.npy   the same model and weights in float64 (the exact answer up to ~1e-15)
  NAME.<tag>.dnn.y0.npy   Keras float32 with TensorFlow's other CPU kernel path (oneDNN; the corpus's own outputs
                          come from the Eigen path, TF_ENABLE_ONEDNN_OPTS=0)
and prints |Keras fp32 - fp64| for both paths (and |kiln - fp64| with --kiln; extra options after -- go to
`kiln build`). Deep random-weight models amplify float32 round-off: when TensorFlow's two float32 paths already
differ from float64 (and from each other) by more than the 1e-4 criterion, no float32 implementation can meet it
against either of them. conformance.py uses this as its second verdict for such models: kiln must be no farther
from float64 than the farther of TensorFlow's two float32 paths, with float64's top-1 (docs/CONFORMANCE.md).
Each computation runs in its own process (the kernel path is fixed when TensorFlow is imported).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TAGS = {"tf_keras": "tfk", "keras3": "k3"}


def paths(corpus, name, tag):
    return (os.path.join(corpus, f"{name}.{tag}.f64.y0.npy"), os.path.join(corpus, f"{name}.{tag}.dnn.y0.npy"))


def model_file(corpus, name, tag):
    return os.path.join(corpus, f"{name}.{tag}." + ("keras" if tag == "k3" else "h5"))


def compute(corpus, name, flavour, what):
    """Child process: write the float64 (what='f64') or oneDNN float32 (what='dnn') output of NAME."""
    import numpy as np
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    tag = TAGS[flavour]
    with open(os.path.join(corpus, f"{name}.{tag}.json")) as f:
        e = json.load(f)["entries"][0]
    xs = [np.load(os.path.join(corpus, x)) for x in e["x"]]
    if flavour == "tf_keras":
        import tf_keras as keras
    else:
        import keras
    m32 = keras.models.load_model(model_file(corpus, name, tag), compile=False)
    if what == "dnn":
        y = m32.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    else:
        keras.backend.set_floatx("float64")
        cfg = m32.to_json().replace('"float32"', '"float64"')  # tf_keras dtype strings, Keras 3 dtype policies
        m64 = keras.models.model_from_json(cfg)
        m64.set_weights([np.asarray(w, dtype=np.float64) for w in m32.get_weights()])
        for layer in m64._flatten_layers() if hasattr(m64, "_flatten_layers") else m64.layers:
            if type(layer).__name__ == "Normalization" and hasattr(layer, "finalize_state"):
                layer.finalize_state()  # Keras 3 caches mean/variance at build: refresh them from the new weights
        y = m64.predict([x.astype(np.float64) for x in xs] if len(xs) > 1 else xs[0].astype(np.float64), verbose=0)
    y = y[0] if isinstance(y, list) else y
    np.save(paths(corpus, name, tag)[0 if what == "f64" else 1], np.asarray(y, dtype=np.float64))


def ensure(corpus, name, flavour):
    """Compute what is not cached yet (one child process each). Returns (y64, ydnn) as float64 arrays."""
    import numpy as np
    p64, pdnn = paths(corpus, name, TAGS[flavour])
    for what, p, dnn in (("f64", p64, "0"), ("dnn", pdnn, "1")):
        if not os.path.exists(p):
            env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=dnn, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
            subprocess.run([sys.executable, os.path.abspath(__file__), corpus, name, "--flavour", flavour,
                            "--compute", what], check=True, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return np.load(p64), np.load(pdnn)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("name")
    ap.add_argument("--flavour", choices=sorted(TAGS), default="tf_keras")
    ap.add_argument("--kiln", help="also build and run kiln on the model (extra build options after --)")
    ap.add_argument("--compute", choices=["f64", "dnn"], help=argparse.SUPPRESS)
    a, extra = ap.parse_known_args()  # everything else goes to `kiln build` (argparse's '--' handling drops it)
    extra = [e for e in extra if e != "--"]
    if a.compute:
        compute(a.corpus, a.name, a.flavour, a.compute)
        return 0
    import numpy as np
    tag = TAGS[a.flavour]
    with open(os.path.join(a.corpus, f"{a.name}.{tag}.json")) as f:
        e = json.load(f)["entries"][0]
    y32 = np.load(os.path.join(a.corpus, e["y"][0])).astype(np.float64)
    y64, ydnn = ensure(a.corpus, a.name, a.flavour)
    top = lambda y: y.reshape(-1, y.shape[-1]).argmax(-1).tolist()  # noqa: E731
    line = (f"{a.name} ({a.flavour}): |Keras fp32 (Eigen) - fp64| {np.abs(y32 - y64).max():.2e}  |Keras fp32 "
            f"(oneDNN) - fp64| {np.abs(ydnn - y64).max():.2e}  |Eigen - oneDNN| {np.abs(y32 - ydnn).max():.2e}  "
            f"top-1 fp64 {top(y64)} Eigen {top(y32)} oneDNN {top(ydnn)}")
    if a.kiln:
        with tempfile.TemporaryDirectory() as d:
            eng, yp = os.path.join(d, "m.engine"), os.path.join(d, "y.npy")
            subprocess.run([a.kiln, "build", model_file(a.corpus, a.name, tag), "-o", eng, "--batch", "1:2"] + extra,
                           check=True, stdout=subprocess.DEVNULL)
            cmd = [a.kiln, "run", eng, "--output", yp]
            for x in e["x"]:
                cmd += ["--input", os.path.join(a.corpus, x)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            yk = np.load(yp).astype(np.float64)
        line += f"  |kiln - fp64| {np.abs(yk - y64).max():.2e}  |kiln - Eigen| {np.abs(yk - y32).max():.2e}  " \
                f"kiln top-1 {top(yk)}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
