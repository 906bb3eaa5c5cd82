#!/bin/sh
# FP16 overflow protection, the GPU timing cache and GPU per-layer profiles, in one command on the GPU machine
# (docs/CUDA.md), after 'make cuda':
#   tests/cuda/run_fp16_gpu.sh BIN_DIR [CORPUS_DIR]
# BIN_DIR holds kiln, test_cuda_mixed, test_cuda_kernels and libkiln_cuda.so (build/ after 'make cuda'); CORPUS_DIR is
# the Keras corpus of tests/keras/make_models.py (build/keras_corpus) for the CLI checks on a real network
# (keras_mobilenet_v2.h5). About 2-4 minutes on an H100 (each test program is cut at 5 minutes). Prints one line
# per check and ALL PASS / SOME FAILED; exits 1 when any failed. Logs in $OUT/fp16_gpu (or /tmp/fp16_gpu).
#  1. test_cuda_mixed: mixed FP16/FP32 engines vs the CPU reference (overflowing layers kept in FP32; without the
#     protection the output is inf/garbage), forced --fp32-layers, save/load, timing cache, per-layer GPU times
#  2. test_cuda_kernels: every CUDA kernel at FP32 and FP16 vs the reference (the backend's precision plumbing changed)
#  3. CLI on MobileNetV2 (CORPUS_DIR): kiln build --fp16 --calib --timing-cache twice (the rebuild times no
#     convolution), kiln inspect names the FP32 layers, --fp32-layers forces one, FP16 vs FP32 outputs agree (top-1),
#     kiln bench --dumpProfile prints GPU layer times.
set -u
BIN=$(cd "$1" && pwd); shift
CORPUS=${1:-}
LIBS=""
for f in $(find /usr/local/cuda/lib64/ /usr/lib/x86_64-linux-gnu /opt /usr/local/lib -name 'libcudnn.so.9' -o -name 'libcublas.so.13' 2>/dev/null); do
  LIBS="$LIBS:$(dirname "$f")"
done
export LD_LIBRARY_PATH="$BIN/../lib$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
T=${OUT:-/tmp}/fp16_gpu; mkdir -p "$T"
rc=0
ok() { echo "PASS $*"; }
bad() { echo "FAIL $*"; rc=1; }

echo "== 1. mixed precision, timing cache, layer times (test_cuda_mixed)"
KILN_MIXED_ENGINE="$T/mixed.engine" timeout 300 "$BIN/test_cuda_mixed"; r=$?
[ $r = 77 ] && { echo "SKIP run_fp16_gpu.sh: no usable GPU (or no libkiln_cuda.so) here"; exit 77; }
[ $r = 0 ] && ok test_cuda_mixed || bad "test_cuda_mixed (exit $r)"
if [ -f "$T/mixed.engine" ]; then
  "$BIN/kiln" inspect "$T/mixed.engine" > "$T/mixed.inspect.txt" 2>&1
  grep -q "FP16 engine: 3 layers kept in FP32 (range over 16384 on calibration data): big, back, preact" "$T/mixed.inspect.txt" \
    && ok "kiln inspect names the FP32 layers" || { bad "kiln inspect mixed.engine"; cat "$T/mixed.inspect.txt"; }
  "$BIN/kiln" bench "$T/mixed.engine" --device cuda --dumpProfile --duration 1 > "$T/mixed.bench.txt" 2>&1
  grep -q "=== Profile" "$T/mixed.bench.txt" && grep -q "big" "$T/mixed.bench.txt" \
    && ok "kiln bench --dumpProfile on a GPU engine" || { bad "kiln bench --dumpProfile"; tail -30 "$T/mixed.bench.txt"; }
fi

echo "== 2. every CUDA kernel, FP32 and FP16 (test_cuda_kernels)"
timeout 300 "$BIN/test_cuda_kernels" > "$T/kernels.txt" 2>&1; r=$?
tail -1 "$T/kernels.txt"
[ $r = 0 ] && ok test_cuda_kernels || { bad "test_cuda_kernels (exit $r)"; grep -E "FAIL|check failed" "$T/kernels.txt" | head -20; }

if [ -n "$CORPUS" ] && [ -f "$CORPUS/keras_mobilenet_v2.h5" ]; then
  echo "== 3. CLI on keras_mobilenet_v2 (calibration, timing cache, inspect, profile)"
  M="$CORPUS/keras_mobilenet_v2.h5"; X="$CORPUS/keras_mobilenet_v2.x.npy"
  CAL=""; [ -f "$X" ] && CAL="--calib $X"
  rm -f "$T/tc.cache"
  for k in 1 2; do
    s0=$(date +%s)
    "$BIN/kiln" build "$M" -o "$T/mnv2_fp16.engine" --device cuda --fp16 --batch 1:8 $CAL --timing-cache "$T/tc.cache" --verbose \
      > "$T/build$k.txt" 2>&1 || bad "kiln build --fp16 (run $k)"
    s1=$(date +%s)
    echo "  build $k: $(grep 'GPU tactics' "$T/build$k.txt" | sed 's/kiln: //') ($((s1 - s0)) s wall)"
    grep "precision" "$T/build$k.txt" | sed 's/^/  /'
  done
  grep -q "GPU tactics: 0 convolution layers timed, [1-9]" "$T/build2.txt" \
    && ok "rebuild with the timing cache times no convolution" || bad "timing cache rebuild: $(grep 'GPU tactics' "$T/build2.txt")"
  "$BIN/kiln" inspect "$T/mnv2_fp16.engine" > "$T/mnv2.inspect.txt" 2>&1
  grep -q "FP16 engine:" "$T/mnv2.inspect.txt" && ok "kiln inspect: $(grep 'FP16 engine:' "$T/mnv2.inspect.txt" | sed 's/^ *precision *//')" \
    || bad "kiln inspect has no FP16 line"
  # force the first convolution to FP32 by its source name
  L=$(grep -m1 "Conv2D" "$T/mnv2.inspect.txt" | awk '{print $NF}')
  "$BIN/kiln" build "$M" -o "$T/mnv2_forced.engine" --device cuda --fp16 --batch 1:8 $CAL --fp32-layers "$L" --timing-cache "$T/tc.cache" \
    > "$T/forced.txt" 2>&1 && grep -q "1 by --fp32-layers: " "$T/forced.txt" \
    && ok "--fp32-layers $L: $(grep precision "$T/forced.txt" | sed 's/^ *precision *//')" || { bad "--fp32-layers $L"; cat "$T/forced.txt"; }
  if [ -f "$X" ]; then
    "$BIN/kiln" build "$M" -o "$T/mnv2_fp32.engine" --device cuda --batch 1:8 > /dev/null 2>&1
    "$BIN/kiln" run "$T/mnv2_fp32.engine" --input "$X" --output "$T/y32.npy" > /dev/null 2>&1
    "$BIN/kiln" run "$T/mnv2_fp16.engine" --input "$X" --output "$T/y16.npy" > /dev/null 2>&1
    "$BIN/kiln" run "$T/mnv2_forced.engine" --input "$X" --output "$T/y16f.npy" > /dev/null 2>&1
    python3 - "$T" <<'EOF' && ok "FP16 (calibrated, and forced) vs FP32 engines: same top-1" || bad "FP16 vs FP32 outputs"
import sys, numpy as np
t = sys.argv[1]
a, b, c = (np.load(f"{t}/{n}.npy").reshape(-1, np.load(f"{t}/y32.npy").shape[-1]) for n in ("y32", "y16", "y16f"))
print("  max|FP16-FP32| %.3g, forced %.3g, top-1 %s / %s / %s" % (abs(a - b).max(), abs(a - c).max(), a.argmax(1), b.argmax(1), c.argmax(1)))
sys.exit(0 if (a.argmax(1) == b.argmax(1)).all() and (a.argmax(1) == c.argmax(1)).all() and np.isfinite(b).all() else 1)
EOF
  fi
  "$BIN/kiln" bench "$T/mnv2_fp16.engine" --device cuda --batch 8 --dumpProfile --separateProfileRun --duration 1 \
    > "$T/mnv2.bench.txt" 2>&1
  grep -q "=== Profile" "$T/mnv2.bench.txt" && ok "kiln bench --dumpProfile (GPU layer times): $(grep -A3 '=== Profile' "$T/mnv2.bench.txt" | tail -1)" \
    || { bad "kiln bench --dumpProfile on MobileNetV2"; tail -20 "$T/mnv2.bench.txt"; }
  grep -E "^GPU Compute Time|^Throughput" "$T/mnv2.bench.txt" | sed 's/^/  /'
else
  echo "SKIP 3. CLI checks: no CORPUS_DIR/keras_mobilenet_v2.h5 given"
fi
echo "logs in $T"
[ $rc = 0 ] && echo "ALL PASS" || echo "SOME FAILED"
exit $rc
