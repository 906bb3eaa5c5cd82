#!/usr/bin/env python3
"""kiln eval on a tiny labeled folder made from the shared photos, with the real trained MobileNetV2 of
../shared/models/keras_real (Teachable Machine, 2 classes): the top-1 count must equal what tf_keras computes on the
same photos (PIL decode + the NumPy cv2 INTER_LINEAR resize of tests/cli/cv2_linear.py + 'tf' preprocessing).
Both layouts are checked: one folder per class, and a flat folder with --labels-csv. In a pipe no progress bar may
appear. Skips (77) when ../shared or tf_keras is absent.

usage: eval_check.py KILN WORKDIR SHARED_DIR"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli"))

kiln, work, shared = sys.argv[1:4]
model_path = os.path.join(shared, "models", "keras_real", "tfk240_tm_water.h5")
photo_dir = os.path.join(shared, "data", "images")
if not os.path.exists(model_path) or not os.path.isdir(photo_dir):
    print(f"SKIP: {model_path} or {photo_dir} not found (the shared data is absent)")
    sys.exit(77)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
try:
    import tf_keras
    from PIL import Image
except ImportError as e:
    print(f"SKIP: {e.name} is not installed")
    sys.exit(77)
from cv2_linear import preprocess, squash

photos = sorted(p for p in glob.glob(os.path.join(photo_dir, "*")) if re.search(r"\.(jpe?g|png|bmp)$", p, re.I))
assert len(photos) >= 4, photos
# labels: alternate classes 0/1 by sorted name (the photos are not water bottles; the counts are what matter)
labels = {p: i % 2 for i, p in enumerate(photos)}
model = tf_keras.models.load_model(model_path, compile=False)
_, H, W, C = model.input_shape
x = np.stack([preprocess(squash(np.asarray(Image.open(p).convert("RGB")), H, W), "tf", C).astype(np.float32) for p in photos])
probs = model.predict(x, verbose=0)
pred = probs.argmax(1)
want_top1 = int(sum(pred[i] == labels[p] for i, p in enumerate(photos)))
# a near-tie could flip between float implementations; there is none on these photos, but say so if it ever happens
margin = np.abs(probs[:, 0] - probs[:, 1]).min()

tree = os.path.join(work, "eval_tree")
flat = os.path.join(work, "eval_flat")
shutil.rmtree(tree, ignore_errors=True)
shutil.rmtree(flat, ignore_errors=True)
os.makedirs(flat)
for p, c in labels.items():
    os.makedirs(os.path.join(tree, str(c)), exist_ok=True)
    shutil.copy(p, os.path.join(tree, str(c)))
    shutil.copy(p, flat)
csv = os.path.join(work, "eval_labels.csv")
with open(csv, "w") as f:
    f.write("file,label\n")
    for p, c in labels.items():
        f.write(f"{os.path.basename(p)},{c}\n")

failures = 0


def check(ok, what, extra=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok and extra:
        print(extra)
    failures += not ok


print(f"keras: top-1 {want_top1}/{len(photos)}, smallest class margin {margin:.4f}")
for args, what in (([tree], "folders"), ([flat, "--labels-csv", csv], "--labels-csv"),
                   ([tree, "--batch", "3"], "folders, batch 3")):
    r = subprocess.run([kiln, "eval", model_path, *args, "--json"], capture_output=True, text=True)
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(r.returncode == 0 and j.get("images") == len(photos) and j.get("failed") == 0,
          f"eval ({what}): {len(photos)} images, none failed", r.stdout + r.stderr)
    check(j.get("top1Correct") == want_top1, f"eval ({what}): top-1 {j.get('top1Correct')} = Keras {want_top1}")
    check(j.get("top5Correct") == len(photos) and j.get("k") == 2, f"eval ({what}): top-k with k = 2 classes is all")
    check(set(j) >= {"schema", "version", "top1", "top5", "imagesPerSecond", "seconds"} and j["schema"] == "kiln-eval",
          f"eval ({what}): documented JSON fields")
    check("\r" not in r.stderr and "ETA" not in r.stderr, f"eval ({what}): no progress bar in a pipe")
# top-5 over 10 classes: the tiny random-weight classifier of fixtures.py, labels i % 10 in a --labels-csv
sys.path.insert(0, here)
import fixtures
tiny = fixtures.ensure(work)["tiny"]
tm = tf_keras.models.load_model(tiny, compile=False)
xt = np.stack([preprocess(squash(np.asarray(Image.open(p).convert("RGB")), 32, 32), "tf", 3).astype(np.float32) for p in photos])
pt = tm.predict(xt, verbose=0)
order = np.argsort(-pt, 1, kind="stable")
lab10 = [i % 10 for i in range(len(photos))]
want1 = int(sum(order[i, 0] == lab10[i] for i in range(len(photos))))
want5 = int(sum(lab10[i] in order[i, :5] for i in range(len(photos))))
csv10 = os.path.join(work, "eval_labels10.csv")
with open(csv10, "w") as f:
    f.writelines(f"{os.path.basename(p)},{lab10[i]}\n" for i, p in enumerate(photos))
r = subprocess.run([kiln, "eval", tiny, flat, "--labels-csv", csv10, "--json"], capture_output=True, text=True)
j = json.loads(r.stdout) if r.returncode == 0 else {}
check(j.get("top1Correct") == want1 and j.get("top5Correct") == want5 and j.get("k") == 5,
      f"eval (10 classes): top-1 {j.get('top1Correct')}/top-5 {j.get('top5Correct')} = Keras {want1}/{want5}",
      r.stdout + r.stderr)
r = subprocess.run([kiln, "eval", model_path, tree], capture_output=True, text=True)
check(r.returncode == 0 and re.search(rf"top-1 [0-9.]+% \({want_top1}/{len(photos)}\)", r.stdout) is not None,
      "eval text: 'top-1 P% (K/N)'", r.stdout + r.stderr)
r = subprocess.run([kiln, "eval", model_path, os.path.join(work, "no_such_dir")], capture_output=True, text=True)
check(r.returncode == 1 and "no_such_dir" in r.stderr, "missing folder: exit 1 naming it")
print(f"eval_check: {failures} failures")
sys.exit(1 if failures else 0)
