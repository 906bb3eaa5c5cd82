# kiln — the commands people type. CMake does the real work underneath (build/).
#   make          build build/kiln, build/libkiln.so, build/libkiln.a
#   make demo     install what is missing, build, fetch a real trained model, classify a photo
#   make test     install what is missing, build, run every test (ctest)
#   make asan     unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make onnx-torchvision   only the torchvision exports (also part of make test) through kiln vs onnxruntime
#   make conformance-full   every keras.applications model vs Keras (slow), writes docs/CONFORMANCE.md
#   make cuda     also build/libkiln_cuda.so (the CUDA backend, nvcc; loaded at run time by --device cuda) and
#                 build/test_cuda_kernels; on a GPU machine: make cuda && build/test_cuda_kernels (docs/CUDA.md)
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps demo test asan labels clean conformance-full cuda onnx-torchvision onnx-full

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@bash scripts/install_deps.sh

labels: build
	@bash scripts/make_labels.sh $(BUILD)/share/kiln/synset_words.txt

demo: deps build labels
	@bash scripts/demo.sh $(BUILD)

test: deps build labels
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Every keras.applications variant at its default input size, tf_keras .h5 + Keras 3 .keras/.h5, vs Keras
# (hours on 2 cores; corpus cached under KILN_CACHE_DIR, default ~/.cache/kiln); writes docs/CONFORMANCE.md.
# ONLY=Name1,Name2 restricts it to some models.
conformance-full: deps build
	@python3 tests/keras/conformance.py --tier full --kiln $(BUILD)/kiln --doc docs/CONFORMANCE.md $(if $(ONLY),--only $(ONLY))

# torchvision ResNet50/MobileNetV2/GoogLeNet/EfficientNet-B0/Inception-v3 + a small ViT exported by Debian's PyTorch vs
# onnxruntime (ctest onnx.torchvision in make test); onnx-full adds the whole tf2onnx corpus (docs/ONNX.md).
onnx-torchvision: deps build
	@python3 tests/onnx/torchvision_check.py --kiln $(BUILD)/kiln

onnx-full: onnx-torchvision
	@python3 tests/onnx/tf2onnx_check.py --all --kiln $(BUILD)/kiln

asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -L unit -j $(JOBS)

# The CUDA backend: a separate shared library, never linked into libkiln or kiln (ldd build/kiln shows no CUDA).
NVCC ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA_ARCH ?= -arch=sm_90
CUDA_SOURCES := $(wildcard src/cuda/*.cu)
$(BUILD)/libkiln_cuda.so: $(CUDA_SOURCES) $(wildcard src/cuda/*.cuh) src/runtime/backend_cuda.h src/core/act.h src/core/ops.def
	@mkdir -p $(BUILD)
	$(NVCC) $(CUDA_ARCH) -O3 -std=c++17 -shared -Xcompiler -fPIC,-fvisibility=hidden -Wno-deprecated-declarations \
	  -Isrc -Iinclude -o $@ $(CUDA_SOURCES) -lcudnn -lcublas -Xlinker -rpath,'$$ORIGIN'

cuda: build $(BUILD)/libkiln_cuda.so

clean:
	rm -rf $(BUILD) build-asan
