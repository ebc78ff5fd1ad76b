#!/usr/bin/env bash
# Builds Kith and runs the product. For now Kith is its offline headless client: this walks one lone
# worker's shift on this device, with no network, in a fresh demo data directory.
# Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-toolchain.sh
kith_ensure_rust

echo "==> building kith"
cargo build --locked --release -p kith-cli
kith="$PWD/target/release/kith"
export KITH_DATA_DIR="$PWD/.kith-demo"
rm -rf "$KITH_DATA_DIR"

step() { printf '\n\033[1m$ kith %s\033[0m\n' "$*"; "$kith" "$@"; }
at() { KITH_NOW="$1" "$kith" "${@:2}"; }

# A fixed morning, so the countdowns read the same on every run (KITH_NOW is for demos and tests).
day=$(date -u +%Y-%m-%d)
export TZ=UTC
export KITH_NOW="${day}T08:00:00Z"
step init --name "Alice Field" --team "North estate" --team-phone "+44 20 7946 0000"
step shift start --purpose "Meter readings, north estate" --until 16:30 --every 1h
KITH_NOW="${day}T08:55:00Z" step status
KITH_NOW="${day}T09:02:00Z" step checkin ok --mood 4 --confidence 4 --note "First block done"
KITH_NOW="${day}T10:05:00Z" step checkin support --note "Dog loose at no. 14, waiting" --visibility leads
KITH_NOW="${day}T11:20:00Z" step status
printf '\n(11:20 and no check-in since 10:05: the shift is overdue; on a server this would escalate)\n'
KITH_NOW="${day}T11:22:00Z" step checkin ok --mood 3 --confidence 3 --location coarse --lat 53.4808 --lon -2.2426
KITH_NOW="${day}T16:10:00Z" step extend --until 17:15 --reason "Last meters behind a locked gate"
KITH_NOW="${day}T17:05:00Z" step end --note "All fine"
KITH_NOW="${day}T17:06:00Z" step log
KITH_NOW="${day}T17:06:00Z" step status --json
printf '\nThe demo data is in %s; run %s --data-dir %s --help to try more.\n' "$KITH_DATA_DIR" "$kith" "$KITH_DATA_DIR"
