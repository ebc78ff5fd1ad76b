#!/usr/bin/env bash
# Builds Kith and runs it: the team server (kith-server, embedded SQLite) on 127.0.0.1:8457, serving
# the UI (ui/dist) at its root: the lead dashboard, and the phone web app (Kith's engine in
# WebAssembly, offline); a demo team made with the admin commands; a lead and a
# worker who join it with the `kith` client and play a short scripted shift; and the desktop app
# (Tauri), signed in as a second worker of the team. The server then keeps running in the
# foreground until Ctrl-C (which also closes the app).
# Everything lives in .kith-demo/ and starts fresh on every run.
# Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-toolchain.sh
. scripts/lib/ensure-app.sh
. scripts/lib/web.sh
kith_ensure_rust
kith_ensure_wasm
kith_ensure_app_build
kith_ensure_ui

kith_build_web
echo "==> building the UI (ui/dist)"
(cd ui && npm run build)
echo "==> building kith-server, kith and the app (release)"
cargo build --locked --release -p kith-server -p kith-cli -p kith-app
root="$PWD"
server_bin="$root/target/release/kith-server"
kith_bin="$root/target/release/kith"
app_bin="$root/target/release/kith-app"
demo="$root/.kith-demo"
addr="127.0.0.1:8457"
url="http://$addr"

# A server left running by an earlier run of this script (its pid file) is stopped first.
if [ -f "$demo/server.pid" ]; then
  old=$(cat "$demo/server.pid")
  if [ -n "$old" ] && [ "$(cat "/proc/$old/comm" 2>/dev/null)" = "kith-server" ]; then
    echo "==> stopping the demo server of an earlier run (pid $old)"
    kill -TERM "$old" 2>/dev/null || true
    while kill -0 "$old" 2>/dev/null; do sleep 0.1; done
  fi
fi
if curl -fsS "$url/healthz" >/dev/null 2>&1; then
  echo "Something else already answers on $addr: stop it and run scripts/demo.sh again." >&2
  exit 1
fi
rm -rf "$demo"
mkdir -p "$demo"
unset KITH_DATA_DIR KITH_NOW KITH_CONFIG

server_pid=""
app_pid=""
stop_server() {
  if [ -n "$app_pid" ]; then
    kill -TERM "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=""
  fi
  if [ -n "$server_pid" ]; then
    echo
    echo "==> stopping kith-server (it finishes in-flight syncs first)"
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    echo "==> kith-server stopped; the demo data stays in .kith-demo/ until the next run"
  fi
  rm -f "$demo/server.pid"
  server_pid=""
}
trap 'stop_server; exit 130' INT
trap 'stop_server; exit 143' TERM
trap 'stop_server' EXIT

echo "==> starting kith-server on $url (data in .kith-demo/server, log in .kith-demo/server.log)"
# The demo's metrics scraper token (docs/operations.md, "Metrics"): /metrics answers no one else.
metrics_token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
NO_COLOR=1 KITH_UI_DIR="$root/ui/dist" KITH_METRICS_TOKEN="$metrics_token" "$server_bin" --data-dir "$demo/server" --listen "$addr" serve \
  >"$demo/server.log" 2>&1 &
server_pid=$!
echo "$server_pid" >"$demo/server.pid"
for _ in $(seq 1 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "kith-server did not start; its log:" >&2
    cat "$demo/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS "$url/healthz" >/dev/null

# Prints a command as one would type it (on stderr, so that $(...) captures only its output).
show() {
  local line="" a
  for a in "$@"; do
    case "$a" in
      *[!A-Za-z0-9_./:+=@-]*) line+=" \"$a\"" ;;
      *) line+=" $a" ;;
    esac
  done
  printf '\n\033[1m$%s\033[0m\n' "$line" >&2
}
admin() {
  show kith-server --data-dir .kith-demo/server admin "$@"
  "$server_bin" --data-dir "$demo/server" admin "$@"
}
as() {
  local who=$1
  shift
  show kith --data-dir ".kith-demo/$who" "$@"
  "$kith_bin" --data-dir "$demo/$who" "$@"
}
quiet() {
  local who=$1
  shift
  "$kith_bin" --data-dir "$demo/$who" "$@"
}

printf '\n\033[1m== An admin creates the team (on the same SQLite database, while the server runs) ==\033[0m\n'
created=$(admin create-team --name "North estate" --phone "+44 20 7946 0000")
echo "$created"
team_id=$(echo "$created" | awk '/^team /{print $2}')
lead_code=$(echo "$created" | awk '/^lead invite /{print $3}')
member_code=$(admin invite --team "$team_id" --role member --expires 1d)
echo "$member_code"

printf '\n\033[1m== A lead and a worker join, each on their own device ==\033[0m\n'
as lead join "$url" "$lead_code" --name "Lee Lead" --device-label "Lee's laptop"
link="kith://join?server=http%3A%2F%2F${addr/:/%3A}&code=$member_code"
as worker join "$link" --name "Alice Field" --device-label "Alice's phone"

printf '\n\033[1m== The worker starts a shift, checks in, and asks for support ==\033[0m\n'
as worker shift start --purpose "Meter readings, north estate" --until +8h --every 1h
as worker checkin ok --mood 4 --confidence 4 --note "First block done"
as worker checkin support --note "Dog loose at no. 14, waiting in the van" --visibility leads

printf '\n\033[1m== The lead sees the board and replies ==\033[0m\n'
as lead team
checkin_id=$(quiet lead --json team | grep -o '"checkin_id": "[^"]*"' | head -n 1 | cut -d'"' -f4)
if [ -z "$checkin_id" ]; then
  echo "The lead's board shows no check-in waiting for a reply; that is a bug." >&2
  exit 1
fi
as lead ack "$checkin_id" --reply "Seen, calling you in 5"

printf '\n\033[1m== The worker syncs and sees the reply ==\033[0m\n'
as worker sync
as worker log
as worker status
as lead team

printf '\n\033[1m== A lead invite for the dashboard in a browser, and a device for the app ==\033[0m\n'
browser_code=$(admin invite --team "$team_id" --role lead --expires 1d)
echo "$browser_code"
app_code=$(admin invite --team "$team_id" --role member --expires 1d)
echo "$app_code"
phone_code=$(admin invite --team "$team_id" --role member --expires 1d)
echo "$phone_code"
# The app joins with it itself on its first start (KITH_JOIN_LINK and KITH_NAME), as a device of
# its own in .kith-demo/app: the same join its Join screen does.
app_link="kith://join?server=http%3A%2F%2F${addr/:/%3A}&code=$app_code"
app_env=(KITH_DATA_DIR="$demo/app" KITH_JOIN_LINK="$app_link" KITH_NAME="Sam Okafor")

app_note=""
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  echo "==> opening the app, signed in as Sam Okafor (data in .kith-demo/app, log in .kith-demo/app.log)"
  env "${app_env[@]}" "$app_bin" >"$demo/app.log" 2>&1 &
  app_pid=$!
  app_note="App:          open, signed in as Sam Okafor (.kith-demo/app); closing it is fine, Ctrl-C here closes it too"
else
  echo "==> no display (\$DISPLAY and \$WAYLAND_DISPLAY are unset): the app is not opened; the dashboard runs"
  app_note="App:          not opened: there is no display (\$DISPLAY and \$WAYLAND_DISPLAY are unset). On a desktop, run
                KITH_DATA_DIR=$demo/app KITH_JOIN_LINK='$app_link' KITH_NAME='Sam Okafor' $app_bin"
fi

cat <<EOF

== Kith is running ==
Dashboard:    $url/   open it in a browser and join with the lead invite code $browser_code
              (as the Join screen asks: server address $url, invite code $browser_code, your name)
Phone app:    $url/?code=$phone_code   the worker's web app (Kith's engine in WebAssembly): open
              it in another browser profile (or Chromium's device toolbar at 390x844), give a name,
              start a shift, then go offline (DevTools, Network: Offline) and check in; reload;
              back online the check-ins reach the dashboard. On a real phone it needs HTTPS
              (docs/app.md, "The phone web app").
$app_note
Team server:  $url   (health: $url/healthz, API: $url/openapi.json)
Metrics:      curl -H "Authorization: Bearer $metrics_token" $url/metrics
Server data:  .kith-demo/server (SQLite), log: .kith-demo/server.log
Devices:      .kith-demo/lead (Lee Lead, lead), .kith-demo/worker (Alice Field, member),
              .kith-demo/app (Sam Okafor, member: the app's)

Try next, in another terminal, from $root:
  $kith_bin --data-dir .kith-demo/worker checkin ok --mood 5
  $kith_bin --data-dir .kith-demo/worker checkin emergency --note "Need help"
  $kith_bin --data-dir .kith-demo/lead team
  $kith_bin --data-dir .kith-demo/lead ack <check-in id from kith team> --reply "On my way"
  $kith_bin --data-dir .kith-demo/worker sync
  $kith_bin --data-dir .kith-demo/worker log
  $kith_bin --data-dir .kith-demo/worker end --note "All fine"
  $kith_bin --data-dir .kith-demo/worker --help
  $server_bin --data-dir .kith-demo/server admin devices
  $server_bin --data-dir .kith-demo/server admin invite --team $team_id --role member

Offline: stop the server (Ctrl-C here), check in as the worker (saved and queued), start the
server again on the same data with
  KITH_UI_DIR=ui/dist $server_bin --data-dir .kith-demo/server --listen $addr
then run kith sync as the worker and kith team as the lead. scripts/demo.sh starts afresh.

The server keeps running here; press Ctrl-C to stop it.
EOF
wait "$server_pid" || true
server_pid=""
