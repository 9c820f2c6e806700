# KubePulse build. `make run` and `make test` are the two set-up commands:
# each installs what is missing (Debian packages, npm packages), builds,
# then runs the daemon or the tests.

SHELL := /bin/bash
.DEFAULT_GOAL := build

# Debian packages the build, the tests and the benchmark need.
BUILD_PACKAGES := clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3
TEST_PACKAGES := dnsutils dnsmasq-base prometheus iproute2 qemu-system-x86 busybox-static \
                 bpftrace libseccomp-dev strace linux-perf kmod cpio xz-utils zstd util-linux \
                 linux-libc-dev-arm64-cross chromium podman runc mmdebstrap
PACKAGES := $(BUILD_PACKAGES) $(TEST_PACKAGES)

BPF_SOURCES := $(wildcard bpf/*.bpf.c)
BPF_OBJECTS := $(patsubst bpf/%.bpf.c,build/bpf/%.bpf.o,$(BPF_SOURCES))
BPF_HEADERS := $(wildcard bpf/*.h)
VMLINUX_H := build/include/vmlinux.h
ADDON := build/Release/kubepulse.node
TS_SOURCES := $(shell find cmd src -name '*.ts' 2>/dev/null)
TS_STAMP := dist/.built
# The topology page (src/page, browser code): type-checked, bundled by esbuild.
PAGE := dist/page/index.html
PAGE_SOURCES := $(wildcard src/page/*) src/api/topology.ts
PROMETHEUS_RULE := deployments/07-prometheusrule.yaml
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

.PHONY: setup packages deps build daemon image run test test-image lint check bench test-kernels fuzz soak clean

setup: packages deps

# apt-get only when a package is missing, so a ready machine pays nothing.
packages:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: installing packages needs root (missing: $$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deps: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: daemon $(PROMETHEUS_RULE)

# What the daemon runs (BPF objects, addon, JavaScript, the page): the image builds this.
daemon: setup $(BPF_OBJECTS) $(ADDON) $(TS_STAMP) $(PAGE)

# The alert rules exist once, in rules/; the plain manifests take them from
# there (the chart links to the same file: charts/kubepulse/files/).
$(PROMETHEUS_RULE): rules/kubepulse-alerts.yaml rules/prometheusrule.mjs package.json
	node rules/prometheusrule.mjs > $@.tmp && mv $@.tmp $@

# The kernel's types, dumped from its BTF at build time (never committed).
$(VMLINUX_H):
	@mkdir -p $(dir $@)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

build/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HEADERS) $(VMLINUX_H)
	@mkdir -p $(dir $@)
	clang -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(ARCH) -Ibuild/include -Ibpf -c $< -o $@.tmp
	llvm-strip -g $@.tmp && mv $@.tmp $@

# node-gyp owns build/ but `configure` + `build` (unlike `rebuild`) leave
# the BPF objects beside it alone.
$(ADDON): binding.gyp $(wildcard native/*.cc native/*.h native/*.c) $(BPF_HEADERS) | deps
	npx node-gyp configure --silent
	npx node-gyp build --silent -j 2

$(TS_STAMP): $(TS_SOURCES) tsconfig.json | deps
	npx tsc -p tsconfig.json
	@touch $@

$(PAGE): $(PAGE_SOURCES) | deps
	npx tsc -p src/page/tsconfig.json
	node src/page/build.mjs

# The image (Dockerfile), with Docker where its engine answers, else podman
# (Debian's: runc, which also runs on hybrid cgroup hosts where crun refuses;
# RUN steps on the host network; explicit ulimits, as podman's defaults may
# exceed what the caller may set: its own open-file limit, and a process
# limit that does not bind uid 0 anyway). IMAGE names it;
# IMAGE_BUILD_ARGS adds e.g. --build-arg BUILD_IMAGE=...; LOCAL_BASE=1 builds
# on a local stand-in for the node images (test/support/local-node-image.sh)
# where they cannot be pulled. PODMAN may carry global flags (--root ...).
# Behind a TLS-intercepting proxy, NODE_EXTRA_CA_CERTS (its CA) goes to
# npm in the build as a build secret.
IMAGE ?= kubepulse:dev
IMAGE_BUILD_ARGS ?=
PODMAN ?= podman
image:
	@set -e; \
	hard() { v=$$(ulimit -H$$1); [ "$$v" = unlimited ] && v=1048576; echo $$v; }; \
	if docker info >/dev/null 2>&1; then engine=docker; build="docker build"; \
	elif command -v podman >/dev/null; then engine="$(PODMAN)"; \
	  build="$(PODMAN) build --runtime runc --network host --ulimit nofile=$$(hard n):$$(hard n) --ulimit nproc=4096:4096"; \
	else echo "error: make image needs docker (with a running engine) or podman (apt-get install podman runc)"; exit 1; fi; \
	args="$(IMAGE_BUILD_ARGS)"; \
	if [ -s "$$NODE_EXTRA_CA_CERTS" ]; then args="$$args --secret id=ca-certificates,src=$$NODE_EXTRA_CA_CERTS"; fi; \
	if [ -n "$(LOCAL_BASE)" ]; then base=$$(test/support/local-node-image.sh $$engine); \
	  args="$$args --build-arg BUILD_IMAGE=$$base --build-arg RUNTIME_IMAGE=$$base"; fi; \
	echo "$$build $$args -t $(IMAGE) ."; \
	$$build $$args -t $(IMAGE) .

run: build
	node dist/cmd/kubepulse.js $(ARGS)

check: build
	node dist/cmd/kubepulse.js check $(ARGS)

test: build
	bash test/run.sh $(ARGS)

# The image built (make image, on the local stand-in base) and run as the
# DaemonSet runs it, each capability shown needed: test/shipping/image.test.ts.
# Its own target, like test-kernels: a cold cache (debootstrap, apt, npm ci
# in the build) takes ~13 minutes here, a source change ~5 (the in-image
# build), more than `make test` can spare. The cache: KUBEPULSE_CACHE.
test-image: build
	npx tap --reporter=tap --timeout=2400 test/shipping/image.test.ts

# Also part of `make test` (test/lint.test.ts); rules in biome.json.
lint: deps
	npx biome lint

# Runs unattended in under 10 minutes, as root; BENCH_ARGS=--quick for a smoke run.
bench: build
	node bench/run.mjs $(BENCH_ARGS)

# Coverage-guided fuzzing of every parser of outside input, FUZZ_SECONDS per
# target (default 10 minutes each), unattended; report in build/fuzz/report.md.
# FUZZ_JOBS targets run at once, one CPU each (default: every CPU).
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= $(shell nproc)
fuzz: build
	node test/fuzz/run.mjs --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) --keep-corpus --report build/fuzz/report.md

# The soak: SOAK_MINUTES (default 30) of 5k conn/s, 1k DNS q/s and pod churn
# against the daemon, unattended, as root; pass/fail, report and PNG plots in
# build/soak/ (bench/soak/run.mjs).
SOAK_MINUTES ?= 30
soak: build
	node bench/soak/run.mjs --minutes $(SOAK_MINUTES) --out build/soak

# The whole kernel matrix: this host and Debian's 5.10, 6.1 and 6.12 under QEMU TCG,
# one guest after the other (~2-6 min each here; `make test` runs host + 6.1 only).
test-kernels: build
	KUBEPULSE_KERNELS="host 5.10 6.1 6.12" npx tap --reporter=tap test/kernels/matrix.test.ts

clean:
	rm -rf build dist
