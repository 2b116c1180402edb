# Symbolization (issue 4): real vmlinux files for tests and benchmarks, the agreement check
# against llvm-symbolizer, and the benchmark. Included by the Makefile.
#
#   make vmlinux              decompress lab-6.12's DWARF vmlinux (134 MB) into the cache
#   make lab-vmlinux          fetch the Debian 6.1 vmlinux of ../shared/lab (~280 MB download)
#   make symbolize-agreement  full 10,000-address agreement check against llvm-symbolizer
#   make bench-symbolize      cold/warm timing and peak RSS vs llvm-symbolizer, addr2line, eu-addr2line

CACHE_ROOT ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/repro-analyze
VMLINUX_612 := $(CACHE_ROOT)/vmlinux-6.12/vmlinux
LAB_KVER ?= 6.1.0-56-cloud-amd64
VMLINUX_61 := $(CACHE_ROOT)/vmlinux/vmlinux-$(LAB_KVER)

APT_PACKAGES += llvm binutils elfutils xz-utils gcc
TEST_PREREQS += vmlinux lab-vmlinux

## vmlinux: the 6.12 lab vmlinux, decompressed once (temp file + rename, safe to run twice).
## Without ../shared the tests that need it fail and say so.
vmlinux:
	@if [ -s "$(VMLINUX_612)" ]; then :; \
	elif [ -f "$(SHARED)/lab-6.12/kernel/vmlinux.xz" ]; then \
	  mkdir -p "$(dir $(VMLINUX_612))" && \
	  xz -dc "$(SHARED)/lab-6.12/kernel/vmlinux.xz" > "$(VMLINUX_612).tmp.$$$$" && \
	  mv "$(VMLINUX_612).tmp.$$$$" "$(VMLINUX_612)" && echo "vmlinux: $(VMLINUX_612)"; \
	else echo "vmlinux: UNAVAILABLE: $(SHARED)/lab-6.12/kernel/vmlinux.xz not found" >&2; fi

## lab-vmlinux: the Debian 6.1 debug vmlinux. A failed download is reported, not fatal: the
## tests that need it then say that it is unavailable.
lab-vmlinux:
	@if [ -s "$(VMLINUX_61)" ]; then :; else \
	  bash $(SHARED)/lab/fetch-vmlinux.sh $(LAB_KVER) $(dir $(VMLINUX_61)) \
	    || echo "lab-vmlinux: UNAVAILABLE: could not fetch linux-image-$(LAB_KVER)-dbg; the 6.1 symbolization tests will report it" >&2; \
	fi

## symbolize-agreement: 10,000 random .text addresses, every inline frame compared with
## llvm-symbolizer --inlining (function and file:line:column).
symbolize-agreement: release vmlinux
	python3 scripts/symbolize-agreement.py --binary $(BIN) --vmlinux $(VMLINUX_612) --count 10000

bench-symbolize: release vmlinux
	$(BIN) bench symbolize --vmlinux $(VMLINUX_612) --count 10000

.PHONY: symbolize-agreement bench-symbolize
