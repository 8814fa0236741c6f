# Entry points; CMake does the real work. `make help` lists them.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# Idle OpenMP threads sleep instead of spinning: much faster whenever anything else runs
# (see apps/heed/main.cpp); the CLI sets this itself, this covers tests and benchmarks.
export OMP_WAIT_POLICY ?= passive

.PHONY: help build test bench run asan-test fuzz clean configure

help:
	@echo "make build      Release build; CLI at $(BUILD)/heed"
	@echo "make test       build and run the test suite (CTest)"
	@echo "make asan-test  build and test under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make bench      kernel benchmarks (GEMM, LayerNorm, softmax, GELU, linear)"
	@echo "make fuzz       libFuzzer targets under ASan+UBSan, FUZZ_SECONDS (60) each"
	@echo "make run        the main job: train + evaluate the default ViT on Fashion-MNIST"

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Lean sanitizer build: no benchmarks, -O1 so it stays quick on 2 cores.
$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEED_SANITIZE=ON \
	  -DHEED_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" $(CMAKE_ARGS)

asan-test: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/heed bench gemm --sizes 64 128 256 512 768 1024 1536 2048
	$(BUILD)/bench/heed_bench_ops --benchmark_min_time=0.2

# The main job: fetch Fashion-MNIST, train the default Vision Transformer, print the test-set
# classification report (heed train ends with it). `make run CONFIG=...` trains another config
# (configs/text-spamassassin.json: the spam classifier), fetching its data first.
CONFIG ?= configs/vit-fashion-mnist.json
run: build
	scripts/data/prepare.sh $(CONFIG)
	$(BUILD)/heed train --config $(CONFIG) --out runs/$(basename $(notdir $(CONFIG)))

FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
