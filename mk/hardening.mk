# Hardening (issue 7): libFuzzer targets over every byte-level parser.
#
#   make fuzz                 each target for FUZZ_SECONDS (default 60) — a real session
#   make fuzz-smoke           each target for a few seconds (CI; part of `make test`)
#   make fuzz FUZZ_TARGETS="frame events"   a subset
#
# The harness (Tests/Fuzz/Harness) is in the package graph only when REPRO_ANALYZE_FUZZ is set,
# and is built in its own scratch path, so `swift build` / `swift test` never pay for it.
# Crashes land in .build-fuzz/artifacts/; copy a reproducer into Tests/Fuzz/regressions/<target>/
# and FuzzRegressionTests replays it. Per-run statistics: .build-fuzz/logs/<target>.log.
FUZZ_SCRATCH := .build-fuzz
FUZZ_BIN := $(FUZZ_SCRATCH)/release/repro-fuzz
FUZZ_TARGETS ?= lines frame lockdep task ftrace events jsonl xz title redact syzbot
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5

.PHONY: fuzz-build fuzz fuzz-smoke

fuzz-build: deps
	REPRO_ANALYZE_FUZZ=1 $(SWIFT) build --scratch-path $(FUZZ_SCRATCH) --product repro-fuzz -c release -Xswiftc -enable-testing \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -g 2>&1 \
	  | grep -v 'Cannot export local symbol' ; exit $${PIPESTATUS[0]}

fuzz: fuzz-build
	@bash scripts/fuzz.sh $(FUZZ_BIN) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# A fixed seed keeps the CI run reproducible from one run to the next.
fuzz-smoke: fuzz-build
	@FUZZ_EXTRA=-seed=1 bash scripts/fuzz.sh $(FUZZ_BIN) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# `make test` runs the smoke fuzz first: a minute or so, and any crash fails the build.
TEST_PREREQS += fuzz-smoke
