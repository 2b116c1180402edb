# repro-analyze — build, test, demo. Every target installs what it needs (make deps).
SHELL := /bin/bash
SWIFT ?= swift
SHARED ?= $(abspath ../shared)
BIN_DEBUG := .build/debug/repro-analyze
BIN := .build/release/repro-analyze
# Debian packages the build and the tests need (C libraries, QEMU and peers for lab tests).
APT_PACKAGES := pkg-config libdw-dev libpcre2-dev liblzma-dev zlib1g-dev elfutils qemu-system-x86 \
  ripgrep llvm gcc xz-utils gzip python3 curl
DEMO_LOG := Tests/Fixtures/logs/lab/hung.log
# Feature-specific targets live in mk/*.mk; they may add to TEST_PREREQS (things `make test`
# must prepare first, e.g. a decompressed vmlinux) and APT_PACKAGES.
TEST_PREREQS :=
-include mk/*.mk

.PHONY: all deps build release test demo bench fuzz completions man install clean vmlinux lab-vmlinux

all: release

## deps: install missing Debian packages (apt-get update at most once).
deps:
	@bash scripts/deps.sh $(APT_PACKAGES)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## demo: analyze a real lab log bundled in the repo.
demo: release
	@echo "== repro-analyze $(DEMO_LOG)"
	@$(BIN) analyze $(DEMO_LOG)
	@echo
	@echo "== repro-analyze locks $(DEMO_LOG)   (who holds the lock?)"
	@$(BIN) locks $(DEMO_LOG)

## test: the whole suite (unit, golden, conformance, CLI, lab). CI runs exactly this.
test: deps $(TEST_PREREQS)
	$(SWIFT) build
	REPRO_ANALYZE_SHARED=$(SHARED) $(SWIFT) test --parallel 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}

bench: release
	$(BIN) bench ingest

completions: release
	mkdir -p out/completions
	$(BIN) --generate-completion-script bash > out/completions/repro-analyze.bash
	$(BIN) --generate-completion-script zsh > out/completions/_repro-analyze
	$(BIN) --generate-completion-script fish > out/completions/repro-analyze.fish

man: deps
	$(SWIFT) package --allow-writing-to-package-directory generate-manual --multi-page --configuration debug
	mkdir -p out/man && cp .build/plugins/GenerateManual/outputs/repro-analyze/*.1 out/man/
	@echo "man pages in out/man (try: man -l out/man/repro-analyze.1)"

PREFIX ?= /usr/local
install: release
	install -D -m 0755 $(BIN) $(PREFIX)/bin/repro-analyze
	mkdir -p $(PREFIX)/share/repro-analyze && cp -r rules $(PREFIX)/share/repro-analyze/

clean:
	rm -rf .build out
