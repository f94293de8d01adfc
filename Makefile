# The two commands: `make run` (set up, build, serve on the embedded backend) and
# `make test` (set up, build, run every suite). Everything else is a step of those.
BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
ARGS       ?=
PYTEST     ?= .venv/bin/pytest
JOBS       ?= $(shell nproc)

.PHONY: all deps deps-build configure build run sim test unit asan tsan integration sims bench-sim client-results release bench format format-check clean

all: build

deps:
	@scripts/install-deps.sh

deps-build:
	@scripts/install-deps.sh --build

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) -j $(JOBS)

# Serves the Docker API in the foreground; DOCKER_HOST=unix:///run/sockerless.sock (root)
# or unix://$$XDG_RUNTIME_DIR/sockerless.sock. Extra flags: make run ARGS="--log-level debug".
run: deps-build build
	exec $(BUILD_DIR)/sockerlessd $(ARGS)

# The AWS simulator in the foreground on 127.0.0.1:4566 (needs root: it runs the workloads).
# Point awscli at it with AWS_ENDPOINT_URL=http://127.0.0.1:4566 and the keys test/test.
# Extra flags: make sim ARGS="--data-root /tmp/sim --log-level debug".
sim: deps-build build
	exec $(BUILD_DIR)/sockerless-sim aws $(ARGS)

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 300 -j $(JOBS)

# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSOCKERLESS_SANITIZE=address,undefined
	ninja -C build-asan -j $(JOBS) unit_tests
	cd build-asan && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure --timeout 300 -j $(JOBS)

# The unit tests under ThreadSanitizer: run it when you touch concurrency.
tsan:
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSOCKERLESS_SANITIZE=thread
	ninja -C build-tsan -j $(JOBS) unit_tests
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --timeout 300 -j $(JOBS)

# Real clients against a live daemon, beside the reference dockerd; the offline image
# fixtures' own smoke tests first. The suite runs twice: on the memory backend, then on the
# docker backend in front of a dockerd of its own; the client suites (act, compose v5,
# gitlab-ci-local, Testcontainers: tests/clients) the same two ways. Then the exec, attach
# and cp suites (and the agent's own) run again with every container under sockerless-agent,
# dialed forward and dialing back.
AGENT_SUITES = tests/integration/test_agent.py tests/integration/test_containers.py \
	tests/integration/test_cp.py tests/integration/test_interactive.py \
	tests/integration/test_attach_ws.py
integration: build
	$(PYTEST) -q tests/fixtures
	SOCKERLESSD=$(CURDIR)/$(BUILD_DIR)/sockerlessd $(PYTEST) tests/integration
	SOCKERLESS_TEST_BACKEND=docker SOCKERLESSD=$(CURDIR)/$(BUILD_DIR)/sockerlessd $(PYTEST) tests/integration
	rm -rf $(BUILD_DIR)/client-results
	SOCKERLESSD=$(CURDIR)/$(BUILD_DIR)/sockerlessd $(PYTEST) tests/clients --junitxml=$(BUILD_DIR)/client-results/memory.xml
	SOCKERLESS_TEST_BACKEND=docker SOCKERLESSD=$(CURDIR)/$(BUILD_DIR)/sockerlessd $(PYTEST) tests/clients --junitxml=$(BUILD_DIR)/client-results/docker.xml
	$(MAKE) client-results
	SOCKERLESS_TEST_AGENT_MODE=forward SOCKERLESSD=$(CURDIR)/$(BUILD_DIR)/sockerlessd $(PYTEST) $(AGENT_SUITES)
	SOCKERLESS_TEST_AGENT_MODE=reverse SOCKERLESSD=$(CURDIR)/$(BUILD_DIR)/sockerlessd $(PYTEST) $(AGENT_SUITES)

# The AWS simulator measured (RunTask latency, a true task beside docker run --rm, RSS):
# writes bench/sim-results.json and bench/SIM-RESULTS.md. Not part of `make test`.
bench-sim: build
	.venv/bin/python bench/sim.py $(BENCH_ARGS)

# The client suites' table (README, tests/clients/RESULTS.md) from their last run.
client-results:
	/usr/bin/python3 scripts/client_results.py --dir $(BUILD_DIR)/client-results

# sockerless against dockerd (and the docker backend), same run, alternating; writes
# bench/results.json, bench/RESULTS.md and bench/latency.png. Not part of `make test`.
# BENCH_ARGS=--quick for a short smoke run.
BENCH_ARGS ?=
bench: build
	scripts/install-deps.sh --bench
	.venv/bin/python bench/run.py $(BENCH_ARGS)
	/usr/bin/python3 bench/report.py

test: deps build
	$(MAKE) format-check
	$(MAKE) unit
	$(MAKE) asan
	$(MAKE) release
	$(MAKE) integration
	$(MAKE) sims

# The simulators judged by the clouds' own clients (awscli, boto3, ...).
sims: build
	SOCKERLESS_SIM=$(CURDIR)/$(BUILD_DIR)/sockerless-sim $(PYTEST) tests/sims

# The Release build type (-O3) compiles too, warnings as errors: GCC 12 warns there where
# RelWithDebInfo's -O2 does not (see CMakeLists.txt). The daemon and the agent only.
release:
	cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release
	ninja -C build-release -j $(JOBS) sockerlessd sockerless-agent sockerless-monitor sockerless-sim

FORMAT_FILES = $(shell git ls-files '*.cc' '*.h')
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan
