#!/usr/bin/env python3
"""kiln compare: PASSES for an engine against its own model; FAILS (exit 1) naming the perturbed layer when one layer's
weights are changed (--per-layer); saved outputs round-trip across runs; the error statistics, the minimum required
tolerance and the PASSED/FAILED decision of every --check-error-stat agree with NumPy on two outputs files with a known
difference.

usage: compare_check.py KILN WORKDIR"""
import json
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures

kiln, work = sys.argv[1:3]
paths = fixtures.ensure(work)
tiny, bad = paths["tiny"], paths["tiny_perturbed"]
eng = os.path.join(work, "tiny_cmp.kiln")
bad_eng = os.path.join(work, "tiny_perturbed_cmp.kiln")
subprocess.run([kiln, "build", tiny, "-o", eng], check=True, capture_output=True)
subprocess.run([kiln, "build", bad, "-o", bad_eng], check=True, capture_output=True)
failures = 0


def check(ok, what, extra=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok and extra:
        print(extra)
    failures += not ok


def kiln_run(*args):
    return subprocess.run([kiln, "compare", *args], capture_output=True, text=True)


# engine (all passes) vs its own model (reference kernels, no passes)
r = kiln_run(tiny, eng, "--iterations", "3")
check(r.returncode == 0 and r.stdout.rstrip().endswith("PASSED") and "Passed: 3/3 iterations" in r.stdout,
      "model vs its engine: PASSED over 3 random iterations", r.stdout + r.stderr)
check("Minimum Required Tolerance" in r.stdout and "---- Histogram ----" in r.stdout, "Polygraphy-style report")
r = kiln_run(tiny, eng, "--per-layer", "--json")
j = json.loads(r.stdout) if r.returncode in (0, 1) and r.stdout.startswith("{") else {}
check(r.returncode == 0 and j.get("passed") is True and j["perLayer"]["firstFailing"] is None,
      "model vs its engine --per-layer: every layer within tolerance", r.stdout[-2000:] + r.stderr)
check(j and all(l["compared"] for l in j["perLayer"]["layers"]), "--per-layer: every engine layer found in the model by value name")

# one layer's weights perturbed: FAILED, and the first failing layer is that one
for b, kind in ((bad, "model"), (bad_eng, "engine")):
    r = kiln_run(tiny, b, "--per-layer")
    first = [l for l in r.stdout.splitlines() if l.startswith("[E] First layer over tolerance:")]
    check(r.returncode == 1 and r.stdout.rstrip().endswith("FAILED"), f"perturbed {kind}: FAILED, exit 1", r.stdout + r.stderr)
    check(len(first) == 1 and f"'{fixtures.PERTURBED_LAYER}" in first[0],
          f"perturbed {kind}: first failing layer named '{fixtures.PERTURBED_LAYER}...'", "\n".join(first) or r.stdout)
    r = kiln_run(tiny, b, "--per-layer", "--json")
    j = json.loads(r.stdout)
    layers = j["perLayer"]["layers"]
    idx = next(i for i, l in enumerate(layers) if not l["passed"])
    check(j["perLayer"]["firstFailing"].startswith(fixtures.PERTURBED_LAYER) and all(l["passed"] for l in layers[:idx]),
          f"perturbed {kind} --json: layers before it pass, firstFailing = {j['perLayer']['firstFailing']!r}")

# saved outputs: record once, compare later (as across machines)
ref = os.path.join(work, "cmp_ref.json")
r = kiln_run(eng, "--save-outputs", ref, "--seed", "3", "--iterations", "2")
saved = json.load(open(ref)) if r.returncode == 0 else None
check(saved is not None and len(saved) == 2 and saved[0][0]["dimensions"] == "1x10",
      "--save-outputs: 2 iterations of [{name, dimensions, values}]", r.stderr)
check(kiln_run(ref, tiny, "--seed", "3", "--iterations", "2").returncode == 0, "saved outputs vs the model, same seed: PASSED")
check(kiln_run("--load-outputs", ref, tiny, "--seed", "3", "--iterations", "2").returncode == 0, "--load-outputs: PASSED")
r = kiln_run(ref, tiny, "--seed", "4", "--iterations", "2")
check(r.returncode == 1 and "FAILED" in r.stdout, "saved outputs vs the model, other seed: FAILED")

# error statistics against NumPy: two outputs files with a known difference
rng = np.random.default_rng(11)
a = rng.normal(0, 1, (4, 250)).astype(np.float32)
b = (a + rng.normal(0, 1e-3, a.shape)).astype(np.float32)
b[2, 17] = a[2, 17] + 0.25  # one outlier


def write(path, x):
    json.dump([{"name": "y", "dimensions": "4x250", "values": [float(v) for v in x.ravel()]}], open(path, "w"))


fa, fb = os.path.join(work, "cmp_a.json"), os.path.join(work, "cmp_b.json")
write(fa, a)
write(fb, b)
A, B = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
absd = np.abs(A - B)
rel = absd / np.abs(A)
r = kiln_run(fa, fb, "--json", "--atol", "1e-3", "--rtol", "1e-3")
j = json.loads(r.stdout)
o = j["iterations"][0]["outputs"][0]
near = lambda x, y: abs(x - y) <= 1e-6 * abs(y) + 1e-12
check(near(o["abs"]["max"], absd.max()) and near(o["abs"]["mean"], absd.mean()) and near(o["abs"]["median"], np.median(absd)),
      "abs error max/mean/median = NumPy")
check(near(o["abs"]["stddev"], absd.std(ddof=1)), "abs error std-dev = NumPy (ddof 1)")
s = np.sort(absd)
check(all(near(o["abs"][f"p{p}"], fixtures.percentile(s, p)) for p in (90, 95, 99)), "abs error p90/p95/p99 (anchors rule)")
check(near(o["rel"]["max"], rel.max()) and near(o["rel"]["median"], np.median(rel)), "rel error = |A-B|/|A| max/median = NumPy")
fails = int(np.sum((absd > 1e-3) & (rel > 1e-3)))
check(o["failedElements"] == fails and fails > 0 and r.returncode == 1 and not j["passed"],
      f"elemwise: {fails} elements over both tolerances -> FAILED, exit 1")
check(near(o["minRequiredAtol"], absd.max()) and near(o["minRequiredRtol"], rel.max()), "minimum required tolerance (elemwise)")
# the decision follows the chosen statistic
m = absd.mean()
check(kiln_run(fa, fb, "--check-error-stat", "mean", "--atol", str(m * 1.01), "--rtol", "0").returncode == 0,
      "--check-error-stat mean: atol just above the mean error PASSES")
check(kiln_run(fa, fb, "--check-error-stat", "mean", "--atol", str(m * 0.99), "--rtol", "0").returncode == 1,
      "--check-error-stat mean: atol just below FAILS")
check(kiln_run(fa, fb, "--check-error-stat", "max", "--atol", str(absd.max() * 1.0001), "--rtol", "0").returncode == 0,
      "--check-error-stat max: atol just above the max PASSES")
check(kiln_run(fa, fb, "--check-error-stat", "median", "--atol", str(np.median(absd) * 1.01), "--rtol", "0").returncode == 0,
      "--check-error-stat median: atol just above the median PASSES")
r = kiln_run(fa, fb, "--atol", str(absd.max() * 1.0001), "--rtol", "0")
check(r.returncode == 0 and "PASSED | Output: 'y'" in r.stdout, "elemwise: atol just above the max PASSES")
# top-1 / top-5 agreement over 4 samples: the outlier changes no ranking here unless it does in NumPy
top1 = sum(int(np.argmax(a[i]) == np.argmax(b[i])) for i in range(4))
check(j["agreement"] == {"samples": 4, "top1": top1, "top5": sum(
    int(set(np.argsort(-a[i])[:5]) == set(np.argsort(-b[i])[:5])) for i in range(4))}, "top-1/top-5 agreement = NumPy")
# .npy outputs file
np.save(os.path.join(work, "cmp_a.npy"), a)
r = kiln_run(os.path.join(work, "cmp_a.npy"), fb, "--check-error-stat", "max", "--atol", "0.3")
check(r.returncode == 0, ".npy outputs file as A", r.stdout[-500:] + r.stderr)

print(f"compare_check: {failures} failures")
sys.exit(1 if failures else 0)
