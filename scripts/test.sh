#!/usr/bin/env bash
# Runs every check and test of Kith. Installs what it needs first (idempotently).
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-toolchain.sh
kith_ensure_rust

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
