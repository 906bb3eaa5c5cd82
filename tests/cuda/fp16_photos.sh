#!/bin/sh
# FP16 fidelity on real photos (issue 8): build an FP32 and an FP16 CUDA engine of MODEL, classify every photo of
# PHOTO_DIR with both, and require the same top-1 and the same top-5 set. Run on the GPU machine:
#   tests/cuda/fp16_photos.sh KILN MODEL.h5 PHOTO_DIR [PREPROCESS]
# (MODEL: the real trained MobileNetV2 that tests/keras/tflite_mobilenet.py writes, build/tflite_mobilenet/
# mobilenet_v2_coral.h5; PREPROCESS defaults to tf.) Prints one line per photo and 'N passed, M failed'.
set -u
KILN=$1; MODEL=$2; PHOTOS=$3; PRE=${4:-tf}
TMP=${TMPDIR:-/tmp}/kiln_fp16_photos.$$
mkdir -p "$TMP"
"$KILN" build "$MODEL" -o "$TMP/fp32.kiln" --device cuda >/dev/null || { echo "FP32 CUDA build failed"; exit 1; }
"$KILN" build "$MODEL" -o "$TMP/fp16.kiln" --device cuda --fp16 >/dev/null || { echo "FP16 CUDA build failed"; exit 1; }
pass=0; fail=0
for img in "$PHOTOS"/*; do
  case "$img" in *.jpg|*.jpeg|*.png|*.bmp) ;; *) continue;; esac
  a=$("$KILN" predict "$TMP/fp32.kiln" "$img" --preprocess "$PRE" 2>/dev/null | sed 's/^ *[0-9.]* *//')
  b=$("$KILN" predict "$TMP/fp16.kiln" "$img" --preprocess "$PRE" 2>/dev/null | sed 's/^ *[0-9.]* *//')
  top1a=$(printf '%s\n' "$a" | head -1); top1b=$(printf '%s\n' "$b" | head -1)
  seta=$(printf '%s\n' "$a" | sort | tr '\n' '|'); setb=$(printf '%s\n' "$b" | sort | tr '\n' '|')
  if [ -n "$top1a" ] && [ "$top1a" = "$top1b" ] && [ "$seta" = "$setb" ]; then
    pass=$((pass + 1)); echo "PASS $(basename "$img"): top-1 '$top1a', top-5 sets equal"
  else
    fail=$((fail + 1)); echo "FAIL $(basename "$img"): FP32 top-1 '$top1a' FP16 '$top1b'; FP32 {$seta} FP16 {$setb}"
  fi
done
rm -rf "$TMP"
echo "fp16 photos: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
