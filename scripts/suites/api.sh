#!/usr/bin/env bash
# The API attacked from outside, against a real `kith-server` (a debug build): schemathesis on its
# OpenAPI document with a lead's and a member's token (all checks, stateful testing on, bounded
# examples), then our own structured fuzzer of the CBOR `POST /v1/sync` (kith-sync-fuzz: schemathesis
# cannot write CBOR bodies, so it leaves that operation to it).
# Run by scripts/test.sh (short bounded runs); the long run is in docs/reliability.md.
#
# Usage: scripts/suites/api.sh            (after `cargo build -p kith-server -p kith-stories`)
#   KITH_API_EXAMPLES           schemathesis examples per operation and phase (default 8)
#   KITH_API_STATEFUL_SECONDS   time for stateful testing per token (default 20)
#   KITH_SYNC_FUZZ_REQUESTS, KITH_SYNC_FUZZ_SEED   the CBOR fuzzer's requests (default 400) and seed
#                               (default 1; "random" for a new one)
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
server_bin=${KITH_SERVER_BIN:-$target/debug/kith-server}
fuzz_bin=${KITH_SYNC_FUZZ_BIN:-$target/debug/kith-sync-fuzz}
for b in "$server_bin" "$fuzz_bin"; do
  [ -x "$b" ] || { echo "$b is missing: run cargo build -p kith-server -p kith-stories first" >&2; exit 1; }
done
: "${KITH_SCHEMATHESIS:?source scripts/lib/ensure-suites.sh and run kith_ensure_schemathesis first}"

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The server on 127.0.0.1, a port of its own choosing (read from its log), a fresh data directory.
export KITH_UI_DIR="" KITH_JOIN_RATE__BURST=1000 KITH_JOIN_RATE__REPLENISH_MS=1 RUST_LOG=${RUST_LOG:-info}
"$server_bin" --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 600); do
  base=$(sed -n 's/\x1b\[[0-9;]*m//g; s/.*kith-server listening.*addr=\([0-9.:]*\).*/http:\/\/\1/p' "$work/server.log" | head -1)
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "kith-server did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { cat "$work/server.log"; echo "kith-server did not say where it listens" >&2; exit 1; }
echo "==> kith-server at $base (data in $work/data)"

# A team (the admin command works on the database while the server runs), a lead and a member
# who join through the API like any device.
lead_code=$("$server_bin" --data-dir "$work/data" admin create-team --name "Schemathesis" | sed -n 's/^lead invite \([^ ]*\).*/\1/p')
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
join() {
  local actor
  actor=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  curl -sf -X POST "$base/v1/join" -H 'content-type: application/json' \
    -d "{\"code\":\"$1\",\"name\":\"$2\",\"device_label\":\"api suite\",\"actor\":\"$actor\"}" | json "['token']"
}
lead_token=$(join "$lead_code" "Lead")
# The member is in a team of its own, and joins only when its turn comes: the lead's runs revoke
# devices and change roles in their team, and once revoked the member's runs exercised nothing
# but 401s.
lead2_code=$("$server_bin" --data-dir "$work/data" admin create-team --name "Schemathesis members" | sed -n 's/^lead invite \([^ ]*\).*/\1/p')
lead2_token=$(join "$lead2_code" "Second lead")
member_code=$(curl -sf -X POST "$base/v1/invites" -H "authorization: Bearer $lead2_token" \
  -H 'content-type: application/json' -d '{"role":"member","expires_in_s":3600,"uses":5}' | json "['code']")

# Failures schemathesis already knows and that are being fixed elsewhere (issue 10, finding 14: the
# OpenAPI's missing 401/400 answers and query limits), each listed in the file: only a failure not
# in it fails this suite. KITH_API_BASELINE_UPDATE=1 records this run's failures into it.
baseline=$PWD/scripts/suites/schemathesis-baseline.json
baseline_args=(--baseline "$baseline")
[ -n "${KITH_API_BASELINE_UPDATE:-}" ] && baseline_args+=(--baseline-update)
# One run of schemathesis; prints the closing line scripts/test.sh counts (one test per operation
# and check, from its JUnit report).
schemathesis() {
  local name=$1 token=$2
  shift 2
  echo "==> schemathesis: $name"
  set +e
  (cd "$work" && "$KITH_SCHEMATHESIS" run "$base/openapi.json" --url "$base" -H "Authorization: Bearer $token" \
    --exclude-path /v1/sync --checks all --seed 1 --workers 1 --no-color --request-timeout 30 \
    --generation-database none "${baseline_args[@]}" --report junit --report-junit-path "$work/$name.xml" "$@") 2>&1 |
    tail -n 120
  local st=${PIPESTATUS[0]}
  set -e
  python3 - "$work/$name.xml" "$name" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print(f"schemathesis {sys.argv[2]}: 0 passed, 1 failed  (no report: {e})")
    sys.exit(0)
p = f = 0
for c in root.iter("testcase"):
    if c.find("failure") is not None or c.find("error") is not None:
        f += 1
    else:
        p += 1
print(f"schemathesis {sys.argv[2]}: {p} passed, {f} failed")
PY
  [ "$st" -eq 0 ] || failed=1
}

failed=0
examples=${KITH_API_EXAMPLES:-8}
stateful_s=${KITH_API_STATEFUL_SECONDS:-20}
for who in lead member; do
  if [ "$who" = member ]; then
    member_token=$(join "$member_code" "Member")
    # Its runs must test something: the token works when they start.
    curl -sf "$base/v1/team" -H "authorization: Bearer $member_token" >/dev/null ||
      { echo "the member's token is refused before its runs" >&2; failed=1; }
  fi
  token_var="${who}_token"
  schemathesis "$who" "${!token_var}" --phases examples,coverage,fuzzing --max-examples "$examples"
  schemathesis "$who-stateful" "${!token_var}" --phases stateful --max-examples "$examples" --max-time "$stateful_s"
done

echo "==> the CBOR /v1/sync fuzzer"
# A fixed seed by default, so that CI replays the same requests on every run (no flake);
# KITH_SYNC_FUZZ_SEED=random draws a new one (printed) for runs by hand.
sync_fuzz_seed=${KITH_SYNC_FUZZ_SEED:-1}
[ "$sync_fuzz_seed" = random ] && sync_fuzz_seed=$(python3 -c 'import secrets; print(secrets.randbits(63))')
set +e
"$fuzz_bin" --server "$base" --lead-token "$lead_token" --requests "${KITH_SYNC_FUZZ_REQUESTS:-400}" \
  --seed "$sync_fuzz_seed"
[ $? -eq 0 ] || failed=1
set -e

# The server must still be up and healthy after all of it.
if ! curl -sf "$base/healthz" >/dev/null; then
  echo "kith-server is down after the API suites; its log:" >&2
  tail -50 "$work/server.log" >&2
  failed=1
fi
# Any panic in the server's log fails the suite, even one the server survived.
if grep -q "panicked" "$work/server.log"; then
  echo "kith-server panicked during the API suites:" >&2
  grep -A2 "panicked" "$work/server.log" | head -40 >&2
  failed=1
fi
exit $failed
