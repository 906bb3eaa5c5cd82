# kiln — the commands people type. CMake does the real work underneath (build/).
#   make          build build/kiln, build/libkiln.so, build/libkiln.a
#   make demo     install what is missing, build, fetch a real trained model, classify a photo
#   make test     install what is missing, build, run every test (ctest)
#   make asan     unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps demo test asan labels clean

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

asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -L unit -j $(JOBS)

clean:
	rm -rf $(BUILD) build-asan
