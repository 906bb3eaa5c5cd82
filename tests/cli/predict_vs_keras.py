#!/usr/bin/env python3
"""kiln predict / kiln run against Keras itself on a real trained model and real photos.

usage: predict_vs_keras.py KILN MODEL.h5 LABELS IMAGE_DIR WORKDIR
For each photo the input tensor is made independently (PIL decode, the NumPy cv2-INTER_LINEAR resize of
cv2_linear.py, Keras preprocessing) and run through tf-keras; then
  - `kiln predict` must print the same classes with the same scores (to the printed 2 decimals, +-0.01), in the
    post's format, for the default mode (squash, tf) and for crop/caffe;
  - `kiln run` on the same tensor must write Keras's output within 1e-4.
Exits 77 (ctest: skipped) with a reason if tf_keras or the files are missing."""
import glob
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

sys.dont_write_bytecode = True  # keep the source tree clean
from cv2_linear import crop, preprocess, squash

kiln, model_path, labels_path, image_dir, work = sys.argv[1:6]
for p in (model_path, labels_path, image_dir):
    if not os.path.exists(p):
        print(f"SKIP: {p} not found (the shared data is absent)")
        sys.exit(77)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
try:
    import tf_keras
except ImportError:
    print("SKIP: tf_keras is not installed")
    sys.exit(77)

os.makedirs(work, exist_ok=True)
model = tf_keras.models.load_model(model_path, compile=False)
_, H, W, C = model.input_shape
labels = open(labels_path).read().splitlines()
photos = sorted(p for p in glob.glob(os.path.join(image_dir, "*")) if re.search(r"\.(jpe?g|png|bmp)$", p, re.I))[:4]
assert photos, f"no photos in {image_dir}"
line_re = re.compile(r"^([ \d.-]{5})   (.*)$")
failures = 0

for photo in photos:
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    for resize, mode in [("squash", "tf"), ("crop", "caffe")]:
        x = (squash if resize == "squash" else crop)(rgb, H, W)
        x = preprocess(x, mode, C).astype(np.float32)[None]
        want = model.predict(x, verbose=0)[0]
        args = [kiln, "predict", model_path, photo, "--labels", labels_path, "--top", "5"]
        if resize != "squash":
            args += ["--resize", resize, "--preprocess", mode]
        r = subprocess.run(args, capture_output=True, text=True)
        lines = r.stdout.splitlines()
        k = min(5, len(want))
        ok = r.returncode == 0 and len(lines) == k
        order = np.argsort(-want, kind="stable")[:k]
        for j, line in enumerate(lines if ok else []):
            m = line_re.match(line)
            ok = ok and m is not None and abs(float(m.group(1)) - want[order[j]]) <= 0.0051 + 1e-6
            # the printed class must be Keras's j-th best, unless the two are tied to within the printed precision
            ok = ok and (m.group(2) == labels[order[j]] or
                         abs(want[labels.index(m.group(2))] - want[order[j]]) < 1e-3)
        expected = "".join("%5.2f   %s\n" % (want[i], labels[i]) for i in order)
        print(f"{'ok  ' if ok else 'FAIL'} predict {os.path.basename(photo)} {resize}/{mode}")
        if not ok:
            failures += 1
            print(f"  kiln (exit {r.returncode}):\n{r.stdout}{r.stderr}  keras:\n{expected}")
    # kiln run on the exact tensor Keras saw (the last one: crop/caffe)
    xin, yout = os.path.join(work, "x.npy"), os.path.join(work, "y.npy")
    np.save(xin, x)
    r = subprocess.run([kiln, "run", model_path, "--input", xin, "--output", yout], capture_output=True, text=True)
    got = np.load(yout) if r.returncode == 0 and os.path.exists(yout) else None
    ok = got is not None and got.shape == (1, len(want)) and np.abs(got[0] - want).max() <= 1e-4
    print(f"{'ok  ' if ok else 'FAIL'} run {os.path.basename(photo)}"
          + (f" max |kiln - keras| = {np.abs(got[0] - want).max():.2e}" if got is not None else ""))
    if not ok:
        failures += 1
        print(r.stdout + r.stderr)

print(f"predict_vs_keras: {failures} failures")
sys.exit(1 if failures else 0)
