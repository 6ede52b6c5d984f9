# Aperture: make deps | build | demo | test | bench | fuzz
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD := build
ASAN_BUILD := build-asan

DEB_PACKAGES := build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev \
  libboost-dev nlohmann-json3-dev libsqlite3-dev libsodium-dev libopenblas-dev \
  libpcre2-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev libabsl-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev nginx-light wrk curl python3-numpy sqlite3 libpqxx-dev \
  postgresql chromium

.PHONY: deps build asan demo test unit-test asan-test integration-test node-test python-test web-test thread-safety lint \
  bench fuzz fuzz-seeds soak clean

# Installs only what is missing; does nothing when every package is present.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@# The browser tests drive Debian's chromium with playwright-core (pinned by its lockfile).
	@[ -d tests/e2e/node_modules/playwright-core ] || (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAPERTURE_SANITIZE=ON

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD) -j $(JOBS)

demo: build
	./scripts/demo.sh $(MODEL)

unit-test: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

asan-test: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -L unit -j $(JOBS)

integration-test: build
	cd $(BUILD) && ctest --output-on-failure -L integration

# The official `openai` npm client against a running server.
node-test: build
	cd tests/node && npm install --no-audit --no-fund --loglevel=error && node --test

# The Python research client (clients/python) against a running server.
python-test: build
	./clients/python/run_tests.sh $(BUILD)

# The web interface in Debian's chromium (tests/e2e); screenshots of every
# page go to build/e2e-screenshots/.
web-test: build
	cd tests/e2e && node --test --test-concurrency=1

# Clang's thread-safety analysis over every file of the build: the
# ABSL_GUARDED_BY annotations are checked, a finding fails.
thread-safety: build
	./scripts/thread_safety.py $(BUILD) -j $(JOBS)

# clang-tidy runs on what changed since main (all of it: make lint).
TIDY_BASE ?= main
test: deps
	$(MAKE) unit-test integration-test node-test python-test web-test asan-test thread-safety
	TIDY_BASE=$(TIDY_BASE) ./scripts/lint.sh

# clang-format and clang-tidy over every source (clang-tidy takes ~10 min on 2 cores).
lint: build
	./scripts/lint.sh

bench: build
	./bench/run.sh

# 10 minutes at saturation with mixed traffic, then 50 SIGKILL-and-restart
# loops under load; prints each figure beside its pass mark (not in make test).
SOAK_SECONDS ?= 600
SOAK_KILLS ?= 50
soak: build
	./$(BUILD)/bench/soak/aperture_soak --aperture $(BUILD)/aperture --model ../shared/models/stories260K.gguf \
	  --seconds $(SOAK_SECONDS) --kill-loops $(SOAK_KILLS)

fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DAPERTURE_FUZZ=ON
	ninja -C build-fuzz -j $(JOBS)
	./fuzz/run.sh build-fuzz

# Refreshes the whole-server target's seeds from the integration tests' requests.
fuzz-seeds: build
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DAPERTURE_FUZZ=ON
	ninja -C build-fuzz -j $(JOBS) fuzz_server
	./fuzz/seeds.sh $(BUILD) build-fuzz

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
