#!/bin/sh
# The GPU checks in one command, on the GPU machine (docs/CUDA.md):
#   tests/cuda/run_on_gpu.sh BIN_DIR [CORPUS_DIR] [--bench]
# BIN_DIR holds kiln, test_cuda_kernels, test_cuda_mixed, kiln_gpu_bench and libkiln_cuda.so (build/ after 'make cuda', or a copy with
# the non-CUDA shared libraries in BIN_DIR/../lib). cuDNN 9 / cuBLAS 13 are found in /usr/local/cuda or PyTorch's wheels.
# Kernel tests, then the Keras corpus at FP32 and FP16 (when CORPUS_DIR is given), then the PyTorch benchmark.
set -u
BIN=$(cd "$1" && pwd); shift
CORPUS=""; BENCH=0
for a in "$@"; do case $a in --bench) BENCH=1;; *) CORPUS=$a;; esac; done
LIBS=""
for f in $(find /usr/local/cuda/lib64/ /usr/lib/x86_64-linux-gnu /opt /usr/local/lib -name 'libcudnn.so.9' -o -name 'libcublas.so.13' 2>/dev/null); do
  LIBS="$LIBS:$(dirname "$f")"
done
KLD="$BIN/../lib$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for t in kiln test_cuda_kernels test_cuda_mixed kiln_gpu_bench; do
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s/%s" "$@"\n' "$KLD" "$BIN" "$t" > "/tmp/$t.sh"; chmod +x "/tmp/$t.sh"
done
echo "== libraries: $LIBS"; LD_LIBRARY_PATH="$KLD" ldd "$BIN/libkiln_cuda.so" | grep -E "not found|cudnn|cublas"
LD_LIBRARY_PATH="$KLD" ldd "$BIN/kiln" | grep "not found"
rc=0
echo "== kernels vs the CPU reference"; /tmp/test_cuda_kernels.sh || rc=1
echo "== mixed FP16/FP32 engines, GPU timing cache, layer times"; /tmp/test_cuda_mixed.sh || rc=1
if [ -n "$CORPUS" ]; then echo "== Keras corpus on the GPU"; python3 "$(dirname "$0")/check_keras_gpu.py" "$CORPUS" --kiln /tmp/kiln.sh || rc=1; fi
if [ $BENCH = 1 ]; then echo "== benchmark"; python3 "$(dirname "$0")/../../bench/gpu_vs_pytorch/run.py" --bench /tmp/kiln_gpu_bench.sh --out "${OUT:-/tmp}/gpu_vs_pytorch.jsonl" || rc=1; fi
exit $rc
