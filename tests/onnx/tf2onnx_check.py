#!/usr/bin/env python3
"""The post's pipeline: Keras .h5 -> tf2onnx -> ONNX -> kiln, checked against ONNX Runtime and kiln's Keras path.

  python3 tests/onnx/tf2onnx_check.py --kiln build/kiln [--cache DIR] [--only NAME,...]

The Keras corpus models (tests/keras/make_models.py, 128x128, seeded random weights and BN statistics) are converted
by tf2onnx (opset 13) as NHWC models, and googlenet_bn (efficientnet_b0 too with --all) also with
--inputs-as-nchw, and googlenet_bn also converted to opset 21 by onnx's version converter. Default: googlenet_bn, mobilenet_v2, efficientnet_b0; --all adds inception_v2 and osnet. Per
conversion:
  1. ONNX Runtime runs the .onnx (the reference);
  2. `kiln run model.onnx` must match it: max |kiln - ort| <= 1e-4 on the softmax, top-1 identical per sample;
  3. `kiln run model.h5` (kiln's Keras path) and the ONNX path must agree the same way;
  4. `kiln inspect model.onnx` must show no Transpose layer for googlenet_bn (tf2onnx's NHWC<->NCHW transposes are
     cancelled at import); the count is printed for every model.
Corpus, conversions and ORT outputs are cached in CACHE (default ${KILN_CACHE_DIR:-~/.cache/kiln}/onnx-tf2onnx-<hash
of this script, make_models.py and the package versions>). Exit 77 when tf_keras, tf2onnx or onnxruntime is missing.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
HERE = os.path.dirname(os.path.abspath(__file__))
KERAS_DIR = os.path.join(os.path.dirname(HERE), "keras")
# (model, with --inputs-as-nchw too). `make test` converts the first four (about 2 minutes the first time on 2
# cores, cached afterwards); --all adds the rest (`make onnx-full`).
MODELS = [("googlenet_bn", True), ("mobilenet_v2", False), ("efficientnet_b0", False)]
MORE = [("googlenet_bn", True), ("mobilenet_v2", False), ("efficientnet_b0", True), ("inception_v2", False),
        ("osnet", False)]
NO_TRANSPOSE = {"googlenet_bn"}

try:
    import numpy as np
    import importlib.metadata as md
    VERSIONS = {p: md.version(p) for p in ("tf2onnx", "onnxruntime", "onnx", "tf-keras", "numpy")}
    import onnxruntime  # noqa: F401
    sys.path.insert(0, HERE)
    from common import agree, as_kiln_input, googlenet_fusions, kiln_inspect, kiln_run, kiln_run_unfused
except Exception as e:  # noqa: BLE001
    print(f"tf2onnx_check: {e}; run scripts/install_deps.sh", file=sys.stderr)
    sys.exit(77)


def cache_dir(arg):
    if arg:
        return arg
    h = hashlib.sha256()
    for p in (__file__, os.path.join(KERAS_DIR, "make_models.py")):
        with open(p, "rb") as f:
            h.update(f.read())
    h.update(json.dumps(VERSIONS, sort_keys=True).encode())
    root = os.environ.get("KILN_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "kiln")
    return os.path.join(root, f"onnx-tf2onnx-{h.hexdigest()[:16]}")


def prepare(d, models):
    """Corpus + conversions + ORT outputs (skipped when already cached)."""
    todo = [(n, v) for n, nchw in models for v in ([False, True] if nchw else [False])
            if not os.path.exists(os.path.join(d, f"{n}{'_nchw' if v else ''}.ort.npy"))
            or (n == "googlenet_bn" and not v and not os.path.exists(os.path.join(d, f"{n}_opset21.ort.npy")))]
    if not todo:
        return
    names = sorted({n for n, _ in todo})
    r = subprocess.run([sys.executable, os.path.join(KERAS_DIR, "make_models.py"), d, "--only", ",".join(names)])
    if r.returncode:
        sys.exit(r.returncode)
    sys.path.insert(0, KERAS_DIR)
    saved = os.dup(2)
    with open(os.devnull, "w") as dn:
        os.dup2(dn.fileno(), 2)
        try:
            import make_models as mm
            import tensorflow as tf
            import tf_keras
            import tf2onnx
            import onnxruntime as ort
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    for name, nchw in todo:
        t0 = time.time()
        m = tf_keras.models.load_model(os.path.join(d, f"{name}.h5"), compile=False,
                                       custom_objects={"swish": mm.swish, "FixedDropout": mm.FixedDropout})
        spec = [tf.TensorSpec((None,) + tuple(m.inputs[0].shape[1:]), tf.float32, name="input")]
        tag = f"{name}{'_nchw' if nchw else ''}"
        out = os.path.join(d, f"{tag}.onnx")
        tf2onnx.convert.from_keras(m, input_signature=spec, opset=13, output_path=out,
                                   **({"inputs_as_nchw": ["input"]} if nchw else {}))
        x = np.load(os.path.join(d, f"{name}.x.npy"))
        sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
        y = sess.run(None, {"input": x.transpose(0, 3, 1, 2).copy() if nchw else x})[0]
        np.save(os.path.join(d, f"{tag}.ort.npy"), y)
        print(f"converted {tag} with tf2onnx {VERSIONS['tf2onnx']} ({time.time() - t0:.0f} s)", flush=True)
        if name == "googlenet_bn" and not nchw:  # the newest opsets too (onnx's own version converter)
            import onnx
            from onnx import version_converter
            new = version_converter.convert_version(onnx.load(out), 21)
            onnx.save(new, os.path.join(d, f"{name}_opset21.onnx"))
            y = ort.InferenceSession(os.path.join(d, f"{name}_opset21.onnx"),
                                     providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
            np.save(os.path.join(d, f"{name}_opset21.ort.npy"), y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default=os.environ.get("KILN", "build/kiln"))
    ap.add_argument("--cache")
    ap.add_argument("--only")
    ap.add_argument("--opt-corpus", help="tests/opt's opt_corpus binary: also check that every optimizer pass alone "
                    "switched off leaves the ONNX models' outputs within 1e-5 of --no-fusion (issue 5)")
    ap.add_argument("--all", action="store_true", help="every model, efficientnet_b0 also with --inputs-as-nchw")
    args = ap.parse_args()
    try:
        import tf2onnx  # noqa: F401
        import tf_keras  # noqa: F401
    except ImportError as e:
        print(f"tf2onnx_check: {e}; run scripts/install_deps.sh", file=sys.stderr)
        return 77
    models = [m for m in (MORE if args.all else MODELS) if not args.only or m[0] in args.only.split(",")]
    d = cache_dir(args.cache)
    os.makedirs(d, exist_ok=True)
    prepare(d, models)
    passed = failed = 0
    for name, nchw in models:
        xk = os.path.join(d, f"{name}.x.npy")
        try:
            k_h5 = kiln_run(args.kiln, os.path.join(d, f"{name}.h5"), xk, os.path.join(d, f"{name}.kiln_h5.npy"))
        except RuntimeError as e:
            k_h5 = None
            h5_err = str(e)
        variants = [""] + (["_nchw"] if nchw else []) + (["_opset21"] if name == "googlenet_bn" else [])
        for suffix in variants:
            tag = name + suffix
            model = os.path.join(d, f"{tag}.onnx")
            t0 = time.time()
            try:
                n_tr, in_dims = kiln_inspect(args.kiln, model)
                x = as_kiln_input(np.load(xk), in_dims, is_nchw=False)
                xp = os.path.join(d, f"{tag}.kiln_x.npy")
                np.save(xp, x)
                k = kiln_run(args.kiln, model, xp, os.path.join(d, f"{tag}.kiln.npy"))
                ok1, i1 = agree(k, np.load(os.path.join(d, f"{tag}.ort.npy")))
                ok2, i2 = agree(k, k_h5) if k_h5 is not None else (False, h5_err)
                ok3 = n_tr == 0 or name not in NO_TRANSPOSE
                # issue 5: every pass together changes no output beyond 1e-5 against the unoptimized graph
                u = kiln_run_unfused(args.kiln, model, xp, os.path.join(d, f"{tag}.kiln_nofusion.npy"), x.shape[0])
                d_unfused = float(np.max(np.abs(u - k)))
                ok3 = ok3 and d_unfused <= 1e-5
                fusion_problems = googlenet_fusions(kiln_inspect.last_text) if name == "googlenet_bn" else ""
                ok = ok1 and ok2 and ok3 and not fusion_problems
                info = (f"vs onnxruntime {i1}; vs kiln Keras path {i2}; Transpose layers {n_tr}; "
                        f"vs --no-fusion {d_unfused:.1e}")
                if name == "googlenet_bn":
                    info += f"; fusions {'as issue 5 asks' if not fusion_problems else fusion_problems}"
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                ok, info = False, str(e)
            passed, failed = passed + ok, failed + (not ok)
            print(f"{tag:22s} {'PASS' if ok else 'FAIL'}  {info}  ({time.time() - t0:.1f} s)", flush=True)
    if args.opt_corpus:
        names = [f"{name}.onnx" for name, _ in models]
        r = subprocess.run([args.opt_corpus, d] + names, capture_output=True, text=True, timeout=1800)
        ok = r.returncode == 0
        print(r.stdout.rstrip() + ("\n" + r.stderr.rstrip() if r.stderr.strip() else ""))
        print(f"{'optimizer passes':22s} {'PASS' if ok else 'FAIL'}  each pass alone off vs --no-fusion on "
              f"{len(names)} ONNX models", flush=True)
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
