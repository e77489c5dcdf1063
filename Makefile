# ferrolb: `make demo` runs the main job in the lab, `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build images plugin print-image-tag kind deps lab-tools test lint fmt-check clippy unit e2e crds bench demo fuzz shellcheck lab-start lab-stop clean-lab

all: build

## deps: system packages (apt) and the lab's Go-built tools (cached outside the checkout)
deps:
	@tests/lab/disk-check.sh
	@tests/lab/install-deps.sh
	@tests/lab/build-tools.sh >/dev/null

lab-tools:
	@tests/lab/build-tools.sh

build:
	$(CARGO) build --workspace --bins

## images: both container images, from static binaries built here, named as the chart's defaults
IMAGE_REGISTRY ?= ghcr.io/ferrolb
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/ferrolb/Chart.yaml)
IMAGE_TARGET := x86_64-unknown-linux-gnu
print-image-tag:
	@echo $(IMAGE_TAG)

images:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		--target $(IMAGE_TARGET) -p ferrolb-controller -p ferrolb-speaker \
		--bin ferrolb-controller --bin ferrolb-speaker
	docker build -q --target host -f controller/Dockerfile -t $(IMAGE_REGISTRY)/ferrolb-controller:$(IMAGE_TAG) .
	docker build -q --target host -f speaker/Dockerfile -t $(IMAGE_REGISTRY)/ferrolb-speaker:$(IMAGE_TAG) .
	@docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^$(IMAGE_REGISTRY)/ferrolb-(controller|speaker):$(IMAGE_TAG) '

## plugin: kubectl-ferrolb for krew: a static binary, its archive and the plugin manifest, in
## target/plugin/ (install with: kubectl krew install --manifest=target/plugin/ferrolb.yaml
## --archive=target/plugin/kubectl-ferrolb_linux_amd64.tar.gz, or copy the binary onto PATH)
plugin:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		--target $(IMAGE_TARGET) -p ferrolb-controller --bin kubectl-ferrolb
	controller/krew/package.sh target/$(IMAGE_TARGET)/release/kubectl-ferrolb target/plugin

## test: formatting, lints, unit and property tests, the CRD-drift test, the lab suites, and the
## kind suite (a Docker engine is started for it if none runs, and stopped again at the end)
test: deps fmt-check shellcheck clippy build
	@tests/lab/install-deps.sh --docker
	@trap 'tests/lab/docker-engine.sh stop' EXIT; rc=0; \
	  $(CARGO) test --workspace --no-fail-fast || rc=$$?; \
	  tests/kind/e2e.sh || rc=$$?; \
	  exit $$rc

## kind: only the kind suite (tests/kind/e2e.sh --help for its options)
kind:
	@tests/lab/install-deps.sh --docker
	tests/kind/e2e.sh $(KIND_ARGS)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

shellcheck:
	shellcheck tests/lab/*.sh tests/*.sh tests/bench/*.sh tests/kind/*.sh controller/krew/*.sh tests/kind/node/prelude tests/kind/unprivileged/docker .ci/run

unit:
	$(CARGO) test --workspace --lib --bins

## crds: regenerate the committed CRD YAML from the Rust types
crds:
	FERROLB_UPDATE_CRDS=1 $(CARGO) test -p ferrolb-crds --test crd_yaml
	FERROLB_UPDATE_CRDS=1 $(CARGO) test -p ferrolb-tests --test helm chart_crds

## demo: the main job, in a fresh lab, torn down at the end
demo: deps build
	tests/demo.sh

## bench: benchmarks; each prints its figures and the ratio to a reference measured in the same run
bench: deps
	tests/bench.sh

## fuzz: the frame parser and membership envelope under libFuzzer, for FUZZ_SECONDS (needs nightly)
FUZZ_SECONDS ?= 60
fuzz:
	@rustup toolchain list | grep -q nightly || { echo "make fuzz needs a nightly toolchain (rustup toolchain install nightly)"; exit 1; }
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd speaker/fuzz && cargo +nightly fuzz run frame -- -max_total_time=$(FUZZ_SECONDS)

lab-start: deps
	tests/lab/lab.sh start --name dev

lab-stop:
	tests/lab/lab.sh stop --name dev
