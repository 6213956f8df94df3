# Makefile: the front door. It installs missing Debian packages (tools/install-deps), configures
# CMake in build/ and drives it. The two commands a new user needs are `make demo` and `make test`.
#
#   make            install deps, build libspinal and the spinal binary
#   make demo       ... and run the main experiment on the embedded default plant
#   make test       ... and run the whole suite through CTest
#   make test-asan  the suite again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      benchmarks (prints JSON lines; never fails on timing)
#   make install    binary, library, headers, Lua modules and pkg-config file (PREFIX=/usr/local)

BUILD    ?= build
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifneq ($(CI),)
CMAKE_FLAGS += -DSPINAL_WERROR=ON
endif

SPINAL := $(BUILD)/spinal

.PHONY: all deps build demo test test-asan bench install clean

all: build

deps:
	@tools/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(SPINAL) experiments/car_figure8.lua

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(BUILD)-asan -DSPINAL_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@tools/install-deps --bench
	@bench/run $(BUILD)

install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan
