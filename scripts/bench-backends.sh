#!/usr/bin/env bash
# The sync bench (throughput, write -> ack, propagation) on SQLite, PostgreSQL with one instance
# and PostgreSQL with two instances, one after the other in one run, on a throwaway PostgreSQL
# cluster (scripts/lib/postgres.sh). docs/benchmarks.md, "SQLite against PostgreSQL".
# Usage: scripts/bench-backends.sh   (env: KITH_BENCH_QUICK, KITH_BENCH_CLIENTS, KITH_BENCH_REPS)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-toolchain.sh
. scripts/lib/postgres.sh
kith_ensure_postgres
unset KITH_TEST_DATABASE_URL
kith_postgres_start
trap kith_postgres_stop EXIT
export KITH_BENCH_ONLY=throughput,propagation
cargo bench --locked -p kith-stories --bench sync --no-run
for run in "sqlite 1" "postgres 1" "postgres 2"; do
  set -- $run
  echo "#### backend $1, $2 instance(s)"
  KITH_TEST_BACKEND=$1 KITH_BENCH_INSTANCES=$2 cargo bench --locked -p kith-stories --bench sync 2>/dev/null
done
