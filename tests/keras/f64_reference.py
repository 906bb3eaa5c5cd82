#!/usr/bin/env python3
"""Is Keras's float32 output a valid oracle for this model? Rebuilds a conformance-corpus model in float64 (same
weights), and prints |Keras fp32 - Keras fp64|, |kiln - Keras fp64| and |kiln - Keras fp32| on the corpus input.

  python3 tests/keras/f64_reference.py CORPUS_DIR NAME --kiln build/kiln [-- extra kiln build options]

Use it on a conformance failure: when Keras fp32 itself is farther from fp64 than the 1e-4 criterion (random-weight
EfficientNetB7 / V2L amplify round-off), the model, not kiln, is at fault; when kiln is much farther from fp64 than
Keras fp32 is, kiln's float32 error is the problem. tf_keras (.tfk.h5) files only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("name")
    ap.add_argument("--kiln", default="build/kiln")
    a, extra = ap.parse_known_args()  # everything else goes to `kiln build` (argparse's '--' handling drops it)
    a.extra = [e for e in extra if e != "--"]
    import tf_keras as keras
    h5 = os.path.join(a.corpus, f"{a.name}.tfk.h5")
    with open(os.path.join(a.corpus, f"{a.name}.tfk.json")) as f:
        e = json.load(f)["entries"][0]
    x = np.load(os.path.join(a.corpus, e["x"][0]))
    y32 = np.load(os.path.join(a.corpus, e["y"][0]))
    m32 = keras.models.load_model(h5, compile=False)
    keras.backend.set_floatx("float64")
    m64 = keras.models.model_from_json(m32.to_json().replace('"dtype": "float32"', '"dtype": "float64"'))
    m64.set_weights([w.astype(np.float64) for w in m32.get_weights()])
    y64 = m64.predict(x.astype(np.float64), verbose=0)
    with tempfile.TemporaryDirectory() as d:
        eng, xp, yp = (os.path.join(d, n) for n in ("m.engine", "x.npy", "y.npy"))
        np.save(xp, x)
        subprocess.run([a.kiln, "build", h5, "-o", eng, "--batch", f"1:{len(x)}"] + a.extra, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([a.kiln, "run", eng, "--input", xp, "--output", yp], check=True, stdout=subprocess.DEVNULL)
        yk = np.load(yp)
    print(f"{a.name}: |Keras fp32 - Keras fp64| {np.abs(y32 - y64).max():.2e}  |kiln - Keras fp64| "
          f"{np.abs(yk - y64).max():.2e}  |kiln - Keras fp32| {np.abs(yk - y32).max():.2e}  top-1 fp64 "
          f"{y64.argmax(-1).tolist()} fp32 {y32.argmax(-1).tolist()} kiln {yk.argmax(-1).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
