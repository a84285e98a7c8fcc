# camaudit — make help lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO      ?= go
BUILD   := build

.PHONY: help setup build test bench fuzz model accuracy demo pi test-arm64 pi-armhf deb clean

help: ## list the targets
	@echo "camaudit — make targets:"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z0-9_-]+):.*## (.*)/  \1\t\2/' | expand -t 16

setup: ## install Debian packages, Go modules and npm packages (as root; idempotent)
	scripts/setup.sh

build: ## build camaudit and camaudit-hub for this machine into build/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BUILD)/ ./cmd/camaudit ./cmd/camaudit-hub

test: ## run the whole test suite (unit + integration with real Mosquitto, gpsd, OpenCV, SQLite, Chromium)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./...

bench: ## run the benchmarks and print a summary
	scripts/bench.sh

model: ## train the default detector on synthetic data (views + simulated walks) through the stages of detect/train/recipe.txt, and its verifier (a second look at each detection, MODEL_VERIFIER), and write models/camaudit-cams-v1 (~10.5 h on 2 cores, resumable; MODEL_DEVICE=cuda on a GPU; MODEL_EPOCHS=N: one run to epoch N instead); ends by checking its held-out figures against the committed card's 95 % intervals (detect/train/recipe.py check)
	detect/train/make_model.sh

accuracy: build ## firmware accuracy on ACC_WALKS (6) random walks with the default model: per-walk and pooled P/R/count/position error, false sightings sorted into doubles and the rest, missed cameras by their largest size in view (ACC_TILE_SCALE, ACC_THRESHOLD, ACC_VERIFY=on|off, ACC_DETECTOR=truth|recorded; scripts/accuracy.sh)
	scripts/accuracy.sh

FUZZTIME ?= 1m
fuzz: ## run every fuzz target (func FuzzXxx) in the repo for FUZZTIME each (default 1m; e.g. make fuzz FUZZTIME=10m)
	@set -e; $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz: $$pkg $$f for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s "$$pkg"; \
	  done; \
	done

demo: build ## simulate a walk, run the firmware on it, start the hub, print the map URL
	scripts/demo.sh

pi: ## cross-compile camaudit and camaudit-hub for the Pi (linux/arm64) into build/arm64/
	LDFLAGS="$(LDFLAGS)" scripts/cross.sh build arm64

test-arm64: ## run the device packages' tests as arm64 binaries under qemu-aarch64-static (-short; TESTFLAGS= for all)
	scripts/cross.sh test arm64

pi-armhf: ## cross-compile for 32-bit Raspberry Pi OS (linux/arm, GOARM=7) into build/armhf/
	LDFLAGS="$(LDFLAGS)" scripts/cross.sh build armhf

deb: pi ## Debian packages with nfpm into build/deb/: device (arm64), hub (amd64, arm64)
	scripts/deb.sh

clean: ## remove build outputs
	rm -rf $(BUILD)
