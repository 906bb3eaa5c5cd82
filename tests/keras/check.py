#!/usr/bin/env python3
"""Runs every model of a corpus written by make_models.py through kiln and compares with Keras's own outputs.

  python3 tests/keras/check.py CORPUS_DIR [--kiln build/kiln] [--only NAME,...] [--keep]

Per model: `kiln build M.h5 -o M.engine --batch 1:2` (an engine file is written...), then
`kiln run M.engine --input M.x.npy --output M.out.npy` (...and loaded back: every model goes through save -> load),
then compares with Keras's M.y.npy:
  softmax outputs: max |kiln - keras| <= 1e-4 (absolute) and the top-1 class identical for every sample;
  other outputs:   max |kiln - keras| <= 1e-4 * max |keras| (relative to the output's scale).
Refusal fixtures: `kiln build` must exit 1 with ONE message naming every listed layer.
Optional fixtures (features the issue does not require): a clean refusal (exit 1, one-line reason) also passes.
Prints one line per model and `N passed, M failed`; exits 1 on any failure. Needs only NumPy (no TensorFlow).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ATOL_SOFTMAX = 1e-4
RTOL_RAW = 1e-4


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s: {' '.join(cmd)}"


def first_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:200] if lines else "(no message)"


def check_refusal(kiln, m, d, timeout):
    rc, _, err = run([kiln, "build", os.path.join(d, m["h5"]), "-o", os.path.join(d, m["name"] + ".engine")],
                     timeout)
    missing = [n for n in m["refuse_names"] if n not in err]
    if rc == 1 and not missing:
        return True, f"refused (exit 1): {first_line(err)}"
    why = f"exit {rc}" + (f", message lacks {missing}" if missing else "")
    return False, f"{why}: {first_line(err)}"


def compare(m, out, y, softmax):
    if out.shape != y.shape:
        return False, f"shape {out.shape} != keras {y.shape}"
    if not np.all(np.isfinite(out)):
        return False, "non-finite values in kiln output"
    diff = float(np.max(np.abs(out.astype(np.float64) - y))) if y.size else 0.0
    if softmax:
        top_k = out.reshape(-1, out.shape[-1]).argmax(-1)
        top_y = y.reshape(-1, y.shape[-1]).argmax(-1)
        agree = int(np.sum(top_k == top_y))
        ok = diff <= ATOL_SOFTMAX and agree == len(top_y)
        return ok, f"max|d| {diff:.2e} (tol {ATOL_SOFTMAX:.0e})  top-1 {agree}/{len(top_y)}"
    scale = float(np.max(np.abs(y))) or 1.0
    ok = diff <= RTOL_RAW * scale
    return ok, f"max|d| {diff:.2e} = {diff / scale:.2e} x max|y| (tol {RTOL_RAW:.0e})"


def check_model(kiln, m, d, timeout):
    h5, name = os.path.join(d, m["h5"]), m["name"]
    engine = os.path.join(d, name + ".engine")
    out_path = os.path.join(d, name + ".out.npy")
    for p in (engine, out_path):
        if os.path.exists(p):
            os.remove(p)
    rc, _, err = run([kiln, "build", h5, "-o", engine, "--batch", "1:2"], timeout)
    if rc != 0:
        if m["kind"] == "optional" and rc == 1 and err.strip():
            return True, f"refused cleanly (optional): {first_line(err)}"
        return False, f"kiln build exit {rc}: {first_line(err)}"
    rc, _, err = run([kiln, "run", engine, "--input", os.path.join(d, m["x"]), "--output", out_path], timeout)
    if rc != 0:
        return False, f"kiln run exit {rc}: {first_line(err)}"
    try:
        out = np.load(out_path)
    except (OSError, ValueError) as e:
        return False, f"cannot read kiln output {out_path}: {e}"
    y = np.load(os.path.join(d, m["y"][0]))
    return compare(m, out, y, m["softmax"][0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--kiln", default=os.environ.get("KILN", "build/kiln"))
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per kiln command")
    args = ap.parse_args()
    with open(os.path.join(args.corpus, "manifest.json")) as f:
        manifest = json.load(f)
    models = manifest["models"]
    if args.only:
        want = set(args.only.split(","))
        models = [m for m in models if m["name"] in want]
    if not os.access(args.kiln, os.X_OK):
        print(f"check: kiln binary {args.kiln} not found or not executable", file=sys.stderr)
        return 1
    size = manifest.get("input_size")
    size = f"{size}x{size}" if isinstance(size, int) else str(size)
    print(f"check: {len(models)} models, input size {size}, kiln {args.kiln}")
    passed = failed = 0
    t_all = time.time()
    for m in models:
        t0 = time.time()
        if m["kind"] == "refuse":
            ok, info = check_refusal(args.kiln, m, args.corpus, args.timeout)
        else:
            ok, info = check_model(args.kiln, m, args.corpus, args.timeout)
        passed, failed = passed + ok, failed + (not ok)
        print(f"{m['name']:28s} {'PASS' if ok else 'FAIL'}  {info}  ({time.time() - t0:.1f} s)", flush=True)
    print(f"check: {time.time() - t_all:.0f} s")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
