#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of every decoder of outside bytes: fuzz/ has the
# targets, fuzz/seeds/ their seed corpora. Each target runs for KITH_FUZZ_SECONDS (default 20) from
# its seeds. Not part of scripts/test.sh (its instrumented build took 7 minutes from cold): CI
# replays the seeds in `cargo test` (tests/tests/every_fuzz_seed_replays_without_a_panic.rs); this
# is the long run by hand (docs/reliability.md), e.g. KITH_FUZZ_SECONDS=600. A crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
#
# Usage: scripts/suites/fuzz.sh [target ...]     (default: every target)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${KITH_FUZZ_SECONDS:-20}
# libFuzzer's seed: fixed by default so CI's runs mutate alike (KITH_FUZZ_SEED=0: a new one each run).
seed=${KITH_FUZZ_SEED:-1}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(sync_message push_request push_change live_events join_link store_open)
corpus_root=${KITH_FUZZ_CORPUS:-$(mktemp -d)}
# -s none: no sanitizer (they need nightly); Rust is memory-safe outside `unsafe`, which Kith forbids.
# The build: in CI (CI=true) the targets are built unoptimised (`--dev`): building every
# dependency with coverage instrumentation is most of this step's time, and a dev build takes
# about half the CPU of a release one (docs/reliability.md), with overflow checks on; by hand,
# optimised (more executions a second). KITH_FUZZ_PROFILE=dev|release chooses.
profile=${KITH_FUZZ_PROFILE:-$([ "${CI:-}" = true ] && echo dev || echo release)}
fuzz=(cargo fuzz run --fuzz-dir fuzz -s none "--$profile")
echo "==> building the fuzz targets ($profile)"
cargo fuzz build --fuzz-dir fuzz -s none "--$profile"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$corpus_root/$t"
  log=$(mktemp)
  echo "==> fuzz $t for ${seconds}s"
  set +e
  "${fuzz[@]}" "$t" "$corpus_root/$t" "fuzz/seeds/$t" -- -max_total_time="$seconds" -seed="$seed" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1
  st=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$st" -eq 0 ]; then
    echo "fuzz $t: ${runs:-0} executions, no crash"
    echo "fuzz $t: 1 passed, 0 failed"
  else
    grep -E "panic|SUMMARY|Test unit written|artifact_prefix" "$log" | head -20
    tail -40 "$log"
    echo "fuzz $t: 0 passed, 1 failed"
    failed=1
  fi
  rm -f "$log"
done
exit $failed
