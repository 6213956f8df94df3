# Makefile: the front door. It installs missing Debian packages (tools/install-deps), configures
# CMake in build/ and drives it. The two commands a new user needs are `make demo` and `make test`.
#
#   make            install deps, build the libraries, the binary, the tests and the benchmarks
#   make demo       build only the spinal binary and its two libraries, quietly (the compiler's
#                   output goes to build/demo-build.log), then run the main experiment
#   make test       build everything and run the whole suite through CTest
#   make test-asan  the suite again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check-warnings  compile every C file again at -O3 and -Os with -Werror, objects only
#                   (tools/check-warnings; the default build's -O2 misses some of their warnings)
#   make bench      benchmarks (prints JSON lines; never fails on timing)
#   make install    binary, libraries, public headers, Lua module, pkg-config files and CMake
#                   package under PREFIX (default /usr/local); the tree can be moved afterwards

BUILD    ?= build
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifneq ($(CI),)
CMAKE_FLAGS += -DSPINAL_WERROR=ON
endif

SPINAL := $(BUILD)/spinal

.PHONY: all deps build demo test test-asan check-warnings bench install clean

all: build

deps:
	@tools/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

DEMO_LOG := $(BUILD)/demo-build.log

demo: deps
	@mkdir -p $(BUILD)
	@echo "make demo: building the spinal binary and its libraries (log: $(DEMO_LOG))"
	@{ [ -f $(BUILD)/CMakeCache.txt ] || \
	     cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS); \
	   cmake --build $(BUILD) --target spinal_bin -j $(JOBS); } >$(DEMO_LOG) 2>&1 || \
	 { tail -n 30 $(DEMO_LOG); echo "make demo: the build failed (whole log: $(DEMO_LOG))"; exit 1; }
	@echo "make demo: running experiments/car_figure8.lua"
	@$(SPINAL) experiments/car_figure8.lua

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(BUILD)-asan -DSPINAL_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

check-warnings: deps
	JOBS=$(JOBS) tools/check-warnings

bench: build
	@tools/install-deps --bench
	@bench/run $(BUILD)

install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan build-warnings
