#!/usr/bin/env python3
"""The .keras (zip) reader under damage: every archive kiln accepts must give Keras's answer, every other one a clean
error naming the file, never a crash, a hang or a silently wrong output.

  python3 tests/keras/zip_damage.py --kiln build/kiln --out build/zip_damage

Keras 3 writes a small model (Conv2D + BatchNormalization + pooling + Dense softmax) as .keras with its output on a
random input (the reference). From it this script writes, with Python's zipfile and by editing bytes:
  - re-packed archives: every entry deflated, a mix of stored/deflated, other entry order, an archive comment,
    extra fields -> kiln must import them and match Keras within 1e-5;
  - damaged archives: truncated at 48 lengths, 64 single-byte flips at seeded random offsets, a flipped byte inside
    the deflated weights, central-directory offset/size past the end, a wrong CRC, zip64 and encryption markers, an
    unsupported compression method, config.json or model.weights.h5 missing, an empty file, a non-zip file -> kiln
    must exit 1 with a message naming the file (a flip that only touches bytes the reader ignores, such as a
    timestamp, may be accepted, but then the output must still equal Keras's).
A crash (signal), a timeout or an accepted archive with a wrong output fails the test. Run by `make test` and, with
the sanitizer build's kiln, by `make asan` (label unit). Exit 77 (ctest SKIP) when Keras 3 is not importable.
"""
import argparse
import os
import random
import struct
import subprocess
import sys
import zipfile

import numpy as np

SKIP = 77
MAKE = r'''
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3"); os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import numpy as np, keras
keras.utils.set_random_seed(7)
inp = keras.Input((10, 10, 3), name="image")
x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp)
x = keras.layers.BatchNormalization(name="bn")(x)
x = keras.layers.ReLU(name="relu")(x)
x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
out = keras.layers.Dense(5, activation="softmax", name="probs")(x)
m = keras.Model(inp, out, name="zip_damage")
bn = m.get_layer("bn")
bn.set_weights([np.random.uniform(0.5, 1.5, 8), np.random.normal(0, 0.1, 8), np.random.normal(0, 0.2, 8),
                np.random.uniform(0.5, 2.0, 8)])
x0 = np.random.uniform(-1, 1, (2, 10, 10, 3)).astype("float32")
d = sys.argv[1]
m.save(os.path.join(d, "base.keras"))
np.save(os.path.join(d, "x.npy"), x0)
np.save(os.path.join(d, "y.npy"), m.predict(x0, verbose=0))
'''


def run_kiln(kiln, model, x, out, timeout=60):
    if os.path.exists(out):
        os.remove(out)
    try:
        p = subprocess.run([kiln, "run", model, "--input", x, "--output", out], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", ""
    return p.returncode, p.stderr.strip()


def repack(src, dst, method_of, order=None, comment=b"", extra=b""):
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        if order:
            infos = [infos[i] for i in order]
        with zipfile.ZipFile(dst, "w") as zout:
            zout.comment = comment
            for info in infos:
                zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                zi.compress_type = method_of(info.filename)
                zi.extra = extra
                zout.writestr(zi, zin.read(info.filename))


def eocd_offset(b):
    return b.rfind(b"PK\x05\x06")


def central_entries(b):
    """(offset of each central-directory header) of archive bytes b."""
    e = eocd_offset(b)
    n, size, off = struct.unpack_from("<HII", b, e + 10)
    res, p = [], off
    for _ in range(n):
        res.append(p)
        nl, xl, cl = struct.unpack_from("<HHH", b, p + 28)
        p += 46 + nl + xl + cl
    return res


def entry_name(b, cd):
    nl = struct.unpack_from("<H", b, cd + 28)[0]
    return b[cd + 46:cd + 46 + nl].decode()


def patched(b, edits):
    b = bytearray(b)
    for off, fmt, val in edits:
        struct.pack_into(fmt, b, off, val)
    return bytes(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--out", default="build/zip_damage")
    ap.add_argument("--python", default=sys.executable, help="Python with Keras 3 for the base model")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    d = args.out
    p = subprocess.run([args.python, "-c", MAKE, d], capture_output=True, text=True)
    if p.returncode != 0:
        if "No module named" in p.stderr:
            print("SKIP zip_damage: Keras 3 is not importable")
            return SKIP
        print(p.stderr[-2000:])
        return 1
    base, x, y_ref = os.path.join(d, "base.keras"), os.path.join(d, "x.npy"), np.load(os.path.join(d, "y.npy"))
    raw = open(base, "rb").read()
    out = os.path.join(d, "out.npy")
    failures, n_ok, n_refused = [], 0, 0

    def expect(name, data, must_load):
        nonlocal n_ok, n_refused
        path = os.path.join(d, f"case_{name}.keras")
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        rc, err = run_kiln(args.kiln, path, x, out)
        n_failed = len(failures)
        if rc == 0:
            diff = float(np.abs(np.load(out) - y_ref).max())
            if diff > 1e-5:
                failures.append(f"{name}: accepted with a WRONG output (max |d| {diff:.2e})")
            elif must_load is False:
                failures.append(f"{name}: accepted, expected a refusal")
            else:
                n_ok += 1
        elif rc == 1 and os.path.basename(path) in err:
            if must_load is True:
                failures.append(f"{name}: refused, expected to load: {err.splitlines()[0]}")
            else:
                n_refused += 1
        else:
            failures.append(f"{name}: exit {rc} (a crash, a hang or an error not naming the file): {err[-300:]}")
        if len(failures) == n_failed:  # keep only the archives that failed, for diagnosis
            os.remove(path)
        return rc, err

    # Archives kiln must read.
    expect("original", raw, True)
    variants = {
        "all_deflated": dict(method_of=lambda n: zipfile.ZIP_DEFLATED),
        "mixed_methods": dict(method_of=lambda n: zipfile.ZIP_DEFLATED if n.endswith(".h5") else zipfile.ZIP_STORED),
        "reordered": dict(method_of=lambda n: zipfile.ZIP_STORED, order=[2, 1, 0]),
        "comment_and_extra": dict(method_of=lambda n: zipfile.ZIP_DEFLATED, comment=b"kiln test " * 40,
                                  extra=struct.pack("<HH4s", 0xCAFE, 4, b"abcd")),
    }
    for name, kw in variants.items():
        path = os.path.join(d, f"case_{name}.keras")
        repack(base, path, **kw)
        expect(name, None, True)
    deflated = os.path.join(d, "deflated.keras")
    repack(base, deflated, lambda n: zipfile.ZIP_DEFLATED)
    draw = open(deflated, "rb").read()

    # Truncations: everywhere, denser near the end (the central directory).
    cuts = sorted(set([0, 1, 4, 21, 22, 30] + [len(raw) * i // 32 for i in range(1, 32)] +
                      [len(raw) - k for k in (1, 2, 10, 21, 22, 23, 46, 100, 200, 400)]))
    for c in cuts:
        expect(f"truncated_{c}", raw[:c], False)
    # Seeded single-byte flips anywhere (stored archive: a flip in data is caught by the CRC).
    rng = random.Random(1234)
    for i in range(64):
        off = rng.randrange(len(raw))
        b = bytearray(raw)
        b[off] ^= 1 << rng.randrange(8)
        expect(f"flip_{off}", bytes(b), None)
    # A flip inside the deflated weights.
    cds = central_entries(draw)
    for cd in cds:
        if entry_name(draw, cd) == "model.weights.h5":
            lh = struct.unpack_from("<I", draw, cd + 42)[0]
            nl, xl = struct.unpack_from("<HH", draw, lh + 26)
            b = bytearray(draw)
            b[lh + 30 + nl + xl + 100] ^= 0x40
            expect("deflate_data_flip", bytes(b), False)
            expect("wrong_crc", patched(draw, [(cd + 16, "<I", 0x12345678)]), False)
            expect("method_bzip2", patched(draw, [(cd + 10, "<H", 12), (lh + 8, "<H", 12)]), False)
            expect("encrypted", patched(draw, [(cd + 8, "<H", 1), (lh + 6, "<H", 1)]), False)
            expect("local_offset_past_end", patched(draw, [(cd + 42, "<I", len(draw) + 10)]), False)
            expect("size_past_end", patched(draw, [(cd + 20, "<I", 0x7FFFFFF0)]), False)
            expect("zip64_sizes", patched(draw, [(cd + 20, "<I", 0xFFFFFFFF), (cd + 24, "<I", 0xFFFFFFFF)]), False)
    e = eocd_offset(raw)
    expect("cd_offset_past_end", patched(raw, [(e + 16, "<I", len(raw) + 1000)]), False)
    expect("cd_size_past_end", patched(raw, [(e + 12, "<I", len(raw) * 2)]), False)
    expect("cd_entries_too_many", patched(raw, [(e + 8, "<H", 200), (e + 10, "<H", 200)]), False)
    for missing in ("config.json", "model.weights.h5"):
        path = os.path.join(d, f"case_missing_{missing}.keras")
        with zipfile.ZipFile(base) as zin, zipfile.ZipFile(path, "w") as zout:
            for info in zin.infolist():
                if info.filename != missing:
                    zout.writestr(info, zin.read(info.filename))
        expect(f"missing_{missing}", None, False)
    expect("empty_file", b"", False)
    expect("not_a_zip", b"this is not a zip archive\n" * 10, False)

    total = n_ok + n_refused + len(failures)
    for f in failures:
        print("FAIL", f)
    print(f"zip_damage: {total} archives: {n_ok} read and equal to Keras (max |d| <= 1e-5), {n_refused} refused "
          f"cleanly naming the file, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
