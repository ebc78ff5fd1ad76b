#!/usr/bin/env bash
# Checks every dependency against deny.toml with cargo-deny: licences, bans and sources (offline,
# from Cargo.lock), then RustSec advisories when the advisory database can be fetched (it lives on
# GitHub: a machine that reaches only package registries cannot get it, and says so).
# KITH_REQUIRE_ADVISORIES=1 makes a failed fetch an error (for CI with network access).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo deny --offline --locked check licenses bans sources
if cargo deny fetch db >/dev/null 2>&1; then
  cargo deny --offline --locked check advisories
elif [ "${KITH_REQUIRE_ADVISORIES:-}" = 1 ]; then
  echo "cargo deny: the RustSec advisory database could not be fetched (KITH_REQUIRE_ADVISORIES=1)" >&2
  exit 1
else
  echo "cargo deny: advisories NOT checked: the RustSec advisory database (github.com/RustSec/advisory-db) could not be fetched from here."
  echo "cargo deny: run 'cargo deny check advisories' where GitHub is reachable, or set KITH_REQUIRE_ADVISORIES=1 to fail instead."
fi
