#!/usr/bin/env bash
# Runs every check and test of Kith. Installs what it needs first (idempotently).
# Usage: scripts/test.sh
#
# 1. the UI (ui/): npm ci, the phone web app's engine (crates/kith-web in WebAssembly; its bindings
#    tested in Chromium), vite build
#    (the app's build embeds ui/dist, the server serves it), vitest, svelte-check
# 2. Rust: cargo fmt --check, clippy -D warnings, cargo deny (deny.toml: licences, bans, sources,
#    advisories when the RustSec database can be fetched), cargo test --workspace (the app included),
#    then the tests that start a TestServer (server, stories, client, cli) again on PostgreSQL (scripts/lib/postgres.sh)
# 3. end to end (e2e/): the real kith-server, kith clients, the dashboard in Chromium (Playwright)
#    (the dashboard, and the phone web app with phone emulation, offline) and the real Tauri app
#    under Xvfb through tauri-driver and WebKitWebDriver; two kith-server instances on one
#    PostgreSQL behind haproxy (scripts/demo-instances.sh --check)
# 4. the security and reliability suites, short bounded runs (their long runs: docs/reliability.md):
#    schemathesis and our CBOR sync fuzzer against a real kith-server. The cargo-fuzz targets' seeds
#    and crash inputs are replayed by `cargo test` (tests/tests/every_fuzz_seed_replays_without_a_panic.rs);
#    coverage-guided fuzzing itself (scripts/suites/fuzz.sh) is a long run by hand: its instrumented
#    build alone took 7 minutes from cold on the CI machine.
# The last line sums up every test run by them all: "Summary: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-toolchain.sh
. scripts/lib/ensure-app.sh
. scripts/lib/web.sh
. scripts/lib/postgres.sh
. scripts/lib/ensure-suites.sh
kith_ensure_rust
kith_ensure_wasm
kith_ensure_cargo_deny
kith_ensure_app_build
kith_ensure_ui
kith_ensure_e2e
kith_ensure_schemathesis

# CI builds once, from scratch: incremental compilation would only cost time and disk there, and
# line tables are all the debug information a failing test's backtrace needs.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed_steps=()
failed_logs=()

# Counts the tests in one step's output: cargo's per-binary "test result:" lines, Vitest's
# "Tests  N failed | N passed (N)", node --test's "ℹ pass N" / "ℹ fail N" / "ℹ cancelled N", and
# the suites' own closing lines "<name>: N passed, N failed".
# Prints "passed failed".
count_tests() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;/) p += $i; if ($(i+1) ~ /^failed;/) f += $i } }
    /^ *Tests +[0-9]/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    /^ℹ pass [0-9]+$/ { p += $3 }
    /^ℹ (fail|cancelled) [0-9]+$/ { f += $3 }
    /^[A-Za-z][A-Za-z0-9_ -]*: [0-9]+ passed, [0-9]+ failed$/ { p += $(NF-3); f += $(NF-1) }
    END { printf "%d %d\n", p, f }'
}

# Why a step failed, in a few lines, for the end of the output (CI shows only its tail): node's
# "✖ failing tests:" section without node's own stack frames, cargo's "---- <test> stdout ----"
# sections, else the step's last lines; first, whether the disk filled up.
failure_digest() {
  local clean
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$1")
  # A full disk fails whatever test happens to write next, with a message of its own each time.
  if grep -q 'No space left on device' <<<"$clean"; then
    echo "The disk filled up during this step (\"No space left on device\"): a cold build's target"
    echo "directory alone peaks at about 6 GB (DEVELOPERS.md). Free now: $(df -h --output=avail "${CARGO_TARGET_DIR:-.}" 2>/dev/null | tail -n 1)."
  fi
  if grep -q '^✖ failing tests:' <<<"$clean"; then
    sed -n '/^✖ failing tests:/,$p' <<<"$clean" | grep -Ev '^ +at (async )?(.*\()?node:' | head -n 80
  elif grep -q '^---- .* stdout ----$' <<<"$clean"; then
    awk '/^---- .* stdout ----$/ { on = 1 } /^failures:$/ { on = 0 } on' <<<"$clean" | head -n 80
  else
    tail -n 25 <<<"$clean"
  fi
}

# Runs one step, its output also kept for the summary. A failure is remembered (and
# $step_status set) and the remaining steps still run; a step that failed without a failing
# test to show for it (a build, a lint, a type check) counts as one failed test in the summary.
step_status=0
steps=0
passed=0
failed=0
run_step() {
  local name=$1
  shift
  steps=$((steps + 1))
  local out="$logs/$steps.log"
  echo "==> $name"
  local t0=$SECONDS
  set +e
  "$@" 2>&1 | tee "$out"
  step_status=${PIPESTATUS[0]}
  set -e
  echo "==> $name: $((SECONDS - t0)) s"
  local p f
  read -r p f < <(count_tests "$out")
  if [ "$step_status" -ne 0 ]; then
    echo "==> FAILED: $name (exit $step_status)"
    failed_steps+=("$name")
    failed_logs+=("$out")
    [ "$f" -eq 0 ] && f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}

# The app's build embeds ui/dist: without it nothing else can be built. The web app's engine first:
# the UI's build bundles it.
run_step "the phone web app's engine (kith-web, WebAssembly)" kith_build_web
echo "==> building the UI (ui/dist)"
(cd ui && npm run build)
run_step "kith-web: the engine's bindings in Chromium (wasm-bindgen-test)" kith_test_web
run_step "ui: vitest" env NO_COLOR=1 CI=true npm --prefix ui test
run_step "ui: svelte-check" npm --prefix ui run check

run_step "cargo fmt --check" cargo fmt --all -- --check
run_step "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
run_step "cargo deny (deny.toml)" scripts/deny.sh
run_step "cargo test" cargo test --workspace --locked --no-fail-fast
# Runs the test binaries `cargo test` built, not a second `cargo test -p ...` (other features, a
# second build of nearly everything).
run_step "cargo test on PostgreSQL (server, stories, client, cli)" kith_cargo_test_postgres

# The binaries (kith-server, kith, kith-app, the suites') with exactly the dependencies' features of
# `cargo test --workspace` (`--tests` includes the dev-dependencies' features), so nothing is
# built again: `-p kith-app ...` alone rebuilt tauri (without its "test" feature) and the app.
run_step "cargo build (kith-server, kith, kith-app, the suites' binaries) for the end-to-end tests" \
  cargo build --locked --workspace --bins --tests
if [ "$step_status" -eq 0 ]; then
  run_step "end to end (e2e/)" npm --prefix e2e test
  run_step "API: schemathesis and the CBOR sync fuzzer against kith-server" scripts/suites/api.sh
  run_step "two instances on one PostgreSQL behind haproxy (scripts/demo-instances.sh --check)" \
    env KITH_PREBUILT=1 scripts/demo-instances.sh --check
fi

if [ ${#failed_steps[@]} -ne 0 ]; then
  for i in "${!failed_steps[@]}"; do
    echo "==> why \"${failed_steps[$i]}\" failed (the step's output above has it all):"
    failure_digest "${failed_logs[$i]}" || true
  done
  echo "==> failed: ${failed_steps[*]}"
fi
echo "Summary: $passed passed, $failed failed"
[ ${#failed_steps[@]} -eq 0 ]
