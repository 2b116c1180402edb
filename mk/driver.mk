# Driver (prepare / run / watch / build-kernel) make targets. Included by the Makefile.
# ssh/scp for `run --execprog` (the lab boot test itself needs only QEMU).
APT_PACKAGES += openssh-client

# `make test-kernel-build`: prove build-kernel on a real tree — Debian's linux-source-6.12 with
# the 6.12 lab's config (about 6 minutes on 2 idle cores). Not part of `make test`.
KERNEL_BUILD_PACKAGES := linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev cpio time file
KERNEL_CACHE ?= $(HOME)/.cache/repro-analyze
KERNEL_TREE ?= $(KERNEL_CACHE)/linux-source-6.12
KERNEL_OUT ?= $(KERNEL_CACHE)/localimage-6.12
KERNEL_JOBS ?= $(shell nproc)

.PHONY: test-kernel-build
test-kernel-build: build
	@bash scripts/deps.sh $(KERNEL_BUILD_PACKAGES)
	@if [ ! -f $(KERNEL_TREE)/Makefile ]; then \
	  echo "== extracting /usr/src/linux-source-6.12.tar.xz to $(KERNEL_CACHE)"; \
	  mkdir -p $(KERNEL_CACHE) && tar -C $(KERNEL_CACHE) -xf /usr/src/linux-source-6.12.tar.xz; fi
	@echo "== repro-analyze build-kernel (tree $(KERNEL_TREE), config $(SHARED)/lab-6.12/kernel/config)"
	/usr/bin/time -v $(BIN_DEBUG) build-kernel --tree $(KERNEL_TREE) \
	  --config $(SHARED)/lab-6.12/kernel/config --out $(KERNEL_OUT) -j $(KERNEL_JOBS) --force \
	  2> >(tee $(KERNEL_OUT).time.log >&2)
	@file $(KERNEL_OUT)/bzImage
	@grep -c . $(KERNEL_OUT)/System.map
