#!/usr/bin/env bash
# Cross-builds the CPU kernel test for aarch64 (NEON kernels, portable kernels, reference kernels, thread pool) with
# gcc-aarch64-linux-gnu and runs it under qemu-aarch64: every NEON tactic against its reference kernel.
# Exit 77 (ctest SKIP) when the cross compiler or qemu is missing (scripts/install_deps.sh installs both).
set -euo pipefail
SRC=${KILN_SOURCE_DIR:?}
OUT=${KILN_BUILD_DIR:-.}/neon_qemu
CC=aarch64-linux-gnu-gcc
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
if ! command -v $CC >/dev/null 2>&1 || [ -z "$QEMU" ]; then
  echo "skip: needs $CC and qemu-aarch64 (apt-get install gcc-aarch64-linux-gnu qemu-user)"; exit 77
fi
mkdir -p "$OUT"
files=$(ls "$SRC"/src/core/*.c "$SRC"/src/cpu/ref/*.c "$SRC"/src/cpu/cpu_features.c "$SRC"/src/cpu/tactics.c \
           "$SRC"/src/cpu/winograd.c "$SRC"/src/cpu/conv_amx.c "$SRC"/src/cpu/conv_direct.c \
           "$SRC"/src/cpu/generic/*.c "$SRC"/src/cpu/arm/*.c "$SRC"/src/cpu/x86/*.c "$SRC"/src/runtime/threadpool.c)
$CC -std=gnu11 -O2 -static -pthread -I"$SRC"/include -I"$SRC"/src -I"$SRC"/tests/unit $files \
    "$SRC"/tests/unit/test_cpu_kernels.c -lm -o "$OUT"/test_cpu_kernels_aarch64
"$QEMU" "$OUT"/test_cpu_kernels_aarch64
