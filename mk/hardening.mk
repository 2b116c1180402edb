# Hardening (issue 7): libFuzzer targets over every byte-level parser.
#
#   make fuzz                 each target for FUZZ_SECONDS (default 60) — a real session
#   make fuzz-smoke           each target for a fixed number of inputs (CI; part of `make test`)
#   make fuzz FUZZ_TARGETS="frame events"   a subset
#   make fuzz FUZZ_EXTRA=-only_ascii=1      extra libFuzzer flags (the token dictionary is always on)
#
# The harness (Tests/Fuzz/Harness) is in the package graph only when REPRO_ANALYZE_FUZZ is set,
# and is built in its own scratch path, so `swift build` / `swift test` never pay for it.
# Crashes land in .build-fuzz/artifacts/; copy a reproducer into Tests/Fuzz/regressions/<target>/
# and FuzzRegressionTests replays it. Per-run statistics: .build-fuzz/logs/<target>.log.
FUZZ_SCRATCH := .build-fuzz
FUZZ_BIN := $(FUZZ_SCRATCH)/release/repro-fuzz
FUZZ_TARGETS ?= lines frame lockdep task ftrace events jsonl xz title redact syzbot
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_RUNS ?= 4000
# A slow target may get its own count (export FUZZ_RUNS_<target> ?= N). redact and title had
# 1000 and 3000; since campaign 2 (docs/reliability.md, findings 8 and 9) they run the full
# 4000 in under 10 s each.

.PHONY: fuzz-build fuzz fuzz-smoke

fuzz-build: deps
	REPRO_ANALYZE_FUZZ=1 $(SWIFT) build --scratch-path $(FUZZ_SCRATCH) --product repro-fuzz -c release -Xswiftc -enable-testing \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -g 2>&1 \
	  | grep -v 'Cannot export local symbol' ; exit $${PIPESTATUS[0]}

# Exploration runs with a dictionary of console-log tokens taken from the rules (header and
# prefilter literals, frame/lockdep/ftrace syntax): the fuzzer reaches header paths it would
# not guess byte by byte. FUZZ_EXTRA adds libFuzzer flags, e.g. FUZZ_EXTRA=-only_ascii=1.
FUZZ_DICT := $(FUZZ_SCRATCH)/log.dict

$(FUZZ_DICT): scripts/fuzz-dict.sh $(wildcard rules/*.toml rules/oops/*.toml)
	@mkdir -p $(FUZZ_SCRATCH) && bash scripts/fuzz-dict.sh rules > $@

fuzz: fuzz-build $(FUZZ_DICT)
	@FUZZ_EXTRA="-dict=$(FUZZ_DICT) $(FUZZ_EXTRA)" bash scripts/fuzz.sh $(FUZZ_BIN) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# A fixed input count and seed: the smoke run executes the same inputs on every machine, so a
# CI result is reproducible here with `make fuzz-smoke` (exploration is `make fuzz`'s job).
fuzz-smoke: fuzz-build
	@FUZZ_RUNS=$(FUZZ_SMOKE_RUNS) bash scripts/fuzz.sh $(FUZZ_BIN) 0 $(FUZZ_TARGETS)

# `make test` runs the smoke fuzz first: a minute or so, and any crash fails the build.
TEST_PREREQS += fuzz-smoke
