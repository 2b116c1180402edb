#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time: fuzz.sh BIN SECONDS TARGET...
#   FUZZ_RUNS=N   instead of a time budget, exactly N inputs per target from a fresh, empty work
#                 corpus with a fixed seed: the same executions on every machine, so CI is
#                 reproducible (a time budget explores a different path on a faster machine).
# Seeds come from Tests/Fuzz/corpus/<target> (read-only); new inputs go to .build-fuzz/corpus.
# Exits non-zero when any target finds a crash, leak, timeout or invariant failure.
set -uo pipefail
bin=$1 seconds=$2
shift 2
scratch=.build-fuzz
status=0
mkdir -p "$scratch/artifacts" "$scratch/logs"
printf '%-8s %10s %8s %s\n' target runs exec/s result
for t in "$@"; do
  work="$scratch/corpus/$t"
  budget=-max_total_time="$seconds"
  if [ -n "${FUZZ_RUNS:-}" ]; then
    work="$scratch/smoke/$t"
    rm -rf "$work"
    per_target="FUZZ_RUNS_$t"  # slow targets get their own count (mk/hardening.mk)
    budget="-runs=${!per_target:-$FUZZ_RUNS} -seed=1"
  fi
  mkdir -p "$work"
  log="$scratch/logs/$t.log"
  # -timeout: an input taking >10 s is a hang; -rss_limit_mb bounds memory (a leak or blow-up
  # is a finding); -max_len keeps inputs log-sized but small enough to mutate quickly.
  FUZZ_TARGET=$t REPRO_ANALYZE_RULES=$PWD/rules ASAN_OPTIONS=detect_leaks=1 \
    "$bin" "$work" "Tests/Fuzz/corpus/$t" $budget -timeout=10 \
    -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    -artifact_prefix="$scratch/artifacts/$t-" ${FUZZ_EXTRA:-} >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  eps=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  if [ $rc -eq 0 ]; then result=ok; else
    result="FAILED (rc=$rc): $(grep -m1 -E 'ERROR|repro-fuzz\[|Test unit written' "$log")"
    status=1
  fi
  printf '%-8s %10s %8s %s\n' "$t" "${runs:-?}" "${eps:-?}" "$result"
done
exit $status
