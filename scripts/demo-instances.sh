#!/usr/bin/env bash
# Several kith-server instances behind a load balancer, on one PostgreSQL (issue 11): installs what
# it needs if missing (Debian's haproxy and postgresql), starts a throwaway PostgreSQL cluster
# (scripts/lib/postgres.sh), two kith-server instances on loopback ports and haproxy in front of
# them (round robin, no sticky sessions, long timeouts for the /v1/live streams), makes a demo team,
# and shows a check-in made through instance A reaching a lead whose device talks to instance B;
# then a device that goes through the load balancer, its requests alternating between the two.
# Everything lives in .kith-demo-instances/ and is removed (cluster stopped) at the end.
#
# Usage: scripts/demo-instances.sh          the demo; keeps running until Ctrl-C
#        scripts/demo-instances.sh --check  the same, bounded, then stops (exit 0 if the lead saw it)
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1
. scripts/lib/ensure-toolchain.sh
. scripts/lib/postgres.sh
kith_ensure_rust
kith_ensure_postgres
command -v haproxy >/dev/null 2>&1 || kith_apt_install haproxy
# haproxy lands in /usr/sbin, not always on a user's PATH.
haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)

# scripts/test.sh has built them (KITH_PREBUILT=1) with the features of `cargo test --workspace`:
# `cargo build -p kith-server -p kith-cli` resolves other features (serde, syn, uuid, ...) and
# rebuilt most of the server from cold in CI.
if [ "${KITH_PREBUILT:-}" != 1 ]; then
  echo "==> building kith-server and kith"
  cargo build --locked -p kith-server -p kith-cli
fi
target="${CARGO_TARGET_DIR:-$PWD/target}"
server_bin="$target/debug/kith-server"
kith_bin="$target/debug/kith"
demo="$PWD/.kith-demo-instances"
rm -rf "$demo"
mkdir -p "$demo"
unset KITH_DATA_DIR KITH_NOW KITH_CONFIG
export KITH_ALLOW_PLAIN_HTTP=1 NO_COLOR=1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  kith_postgres_stop
  rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A throwaway cluster of our own, even if KITH_TEST_DATABASE_URL is set (that one is the tests').
unset KITH_TEST_DATABASE_URL
kith_postgres_start
db_url="${KITH_TEST_DATABASE_URL%/postgres}/postgres"

port_a=$(free_port)
port_b=$(free_port)
port_lb=$(free_port)
a="http://127.0.0.1:$port_a"
b="http://127.0.0.1:$port_b"
lb="http://127.0.0.1:$port_lb"

for name in a b; do
  port_var="port_$name"
  "$server_bin" --database-url "$db_url" --data-dir "$demo/server-$name" --listen "127.0.0.1:${!port_var}" serve \
    >"$demo/server-$name.log" 2>&1 &
  pids+=($!)
done
# Ready when /healthz answers (the second instance waits for the first's migrations: advisory lock).
for url in "$a" "$b"; do
  for _ in $(seq 1 600); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$url/healthz" >/dev/null || { echo "kith-server at $url did not start:" >&2; cat "$demo"/server-*.log >&2; exit 1; }
done

# Round robin, no stickiness: any instance serves any request (docs/operations.md). /v1/live is a
# long-lived SSE stream: `timeout server`/`timeout tunnel` must outlast its keep-alive comments.
cat >"$demo/haproxy.cfg" <<EOF
global
  maxconn 2000
defaults
  mode http
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  timeout http-request 30s
frontend kith
  bind 127.0.0.1:$port_lb
  default_backend instances
backend instances
  balance roundrobin
  option httpchk GET /healthz
  http-response set-header X-Kith-Instance %s
  server a 127.0.0.1:$port_a check inter 2s
  server b 127.0.0.1:$port_b check inter 2s
EOF
"$haproxy_bin" -f "$demo/haproxy.cfg" -db >"$demo/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "$lb/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
admin() { "$server_bin" --database-url "$db_url" --data-dir "$demo/admin" admin "$@"; }
as() {
  local who=$1
  shift
  printf '$ kith (%s) %s\n' "$who" "$*"
  "$kith_bin" --data-dir "$demo/$who" "$@"
}

step "PostgreSQL at ${db_url%%@*}@…, instance A at $a, instance B at $b, haproxy at $lb"
step "An admin creates the team (on the shared database)"
created=$(admin create-team --name "North estate")
team_id=$(echo "$created" | awk '/^team /{print $2}')
lead_code=$(echo "$created" | awk '/^lead invite /{print $3}')
member_code=$(admin invite --team "$team_id" --role member --expires 1d)
third_code=$(admin invite --team "$team_id" --role member --expires 1d)
echo "team $team_id"

step "The lead's device talks to instance B, the worker's to instance A"
as lead join "$b" "$lead_code" --name "Lee Lead" --device-label "Lee's laptop" >/dev/null
as worker join "$a" "$member_code" --name "Alice Field" --device-label "Alice's phone" >/dev/null
as worker shift start --purpose "Meter readings, north estate" --until +8h --every 1h >/dev/null
as worker checkin support --note "Dog loose at no. 14, waiting in the van (sent through instance A)"

step "The lead, on instance B, sees the check-in made through instance A"
board=$(as lead team)
echo "$board"
if ! grep -q "Dog loose" <<<"$board"; then
  echo "The lead on instance B does not see the check-in made through instance A: that is a bug." >&2
  exit 1
fi

step "A third device goes through haproxy: its requests alternate between the instances"
as sam join "$lb" "$third_code" --name "Sam Okafor" --device-label "Sam's phone" >/dev/null
for _ in 1 2 3 4; do
  printf 'GET %s/healthz answered by instance %s\n' "$lb" \
    "$(curl -fsS -o /dev/null -D - "$lb/healthz" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-kith-instance"{print $2}')"
done
as sam sync >/dev/null
if ! as sam team | grep -q "Alice Field"; then
  echo "Sam's device, through the load balancer, does not see the team board: that is a bug." >&2
  exit 1
fi
echo "Sam's device, through either instance, sees the same team board."

if [ "$check" = 1 ]; then
  step "OK: a check-in through instance A reached a lead on instance B"
  # The line scripts/test.sh counts.
  echo "demo-instances: 1 passed, 0 failed"
  exit 0
fi
cat <<EOF

== Two Kith instances are running behind haproxy ==
Load balancer: $lb   (haproxy, round robin; config .kith-demo-instances/haproxy.cfg)
Instance A:    $a    log .kith-demo-instances/server-a.log
Instance B:    $b    log .kith-demo-instances/server-b.log
Try, in another terminal:
  KITH_ALLOW_PLAIN_HTTP=1 $kith_bin --data-dir $demo/worker checkin ok --note "again"
  KITH_ALLOW_PLAIN_HTTP=1 $kith_bin --data-dir $demo/lead team
Ctrl-C stops everything and removes the cluster.
EOF
wait "${pids[0]}"
