# Sourced by scripts/test.sh (and usable alone): a PostgreSQL for the story suite's second backend.
#
#   kith_ensure_postgres        installs Debian's postgresql if missing (idempotent)
#   kith_postgres_start         sets KITH_TEST_DATABASE_URL: the one already given, else a throwaway
#                               cluster (initdb + pg_ctl, in a temporary directory, on a free
#                               loopback port, owned by the `postgres` user when run as root since
#                               initdb refuses root)
#   kith_postgres_stop          stops and removes the throwaway cluster (nothing if none was started)
#
# Each TestServer creates its own database in it (crates/kith-server/src/testing.rs).

kith_ensure_postgres() {
  command -v jq >/dev/null || kith_apt_install jq   # kith_cargo_test_postgres reads cargo's JSON
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    kith_apt_install postgresql
  fi
}

kith_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}

kith_postgres_start() {
  if [ -n "${KITH_TEST_DATABASE_URL:-}" ]; then
    echo "==> PostgreSQL: using KITH_TEST_DATABASE_URL"
    return 0
  fi
  local bin run_as=() port
  bin=$(kith_pg_bin)
  KITH_PG_DIR=$(mktemp -d /tmp/kith-pg.XXXXXX)
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown postgres "$KITH_PG_DIR"
    run_as=(runuser -u postgres --)
  fi
  # A free loopback port: the kernel picks one, and nothing else binds it before pg_ctl does.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${run_as[@]}" "$bin/initdb" -D "$KITH_PG_DIR/data" -U kith --auth=trust -E UTF8 --no-sync >"$KITH_PG_DIR/initdb.log" 2>&1 \
    || { cat "$KITH_PG_DIR/initdb.log"; return 1; }
  # Throwaway: no fsync (the stories test behaviour, not durability), enough connections for the
  # suite's parallel servers, the socket in the cluster's own directory.
  "${run_as[@]}" "$bin/pg_ctl" -D "$KITH_PG_DIR/data" -l "$KITH_PG_DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$KITH_PG_DIR -c fsync=off -c max_connections=400" \
    start >/dev/null || { cat "$KITH_PG_DIR/server.log"; return 1; }
  export KITH_PG_DIR KITH_PG_RUN_AS="${run_as[*]}"
  export KITH_TEST_DATABASE_URL="postgres://kith@127.0.0.1:$port/postgres"
  echo "==> PostgreSQL: a throwaway cluster on 127.0.0.1:$port ($KITH_PG_DIR)"
}

kith_postgres_stop() {
  [ -n "${KITH_PG_DIR:-}" ] || return 0
  local bin
  bin=$(kith_pg_bin)
  # shellcheck disable=SC2086
  $KITH_PG_RUN_AS "$bin/pg_ctl" -D "$KITH_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$KITH_PG_DIR"
  unset KITH_PG_DIR KITH_TEST_DATABASE_URL
}

# The tests that start a TestServer again, on PostgreSQL: the server's, the cross-crate stories,
# kith-client's and kith-cli's (the cluster is stopped afterwards whatever happens). Extra
# arguments go to every test binary (a name filter, --nocapture).
#
# It runs the very test binaries `cargo test --workspace` built, each from its package's
# directory as cargo would: `cargo test -p kith-server -p ...` resolves the dependencies' features
# for those four packages only (serde, syn, uuid, ... differ from the workspace's), so it rebuilt
# nearly every dependency and every workspace crate a second time from cold in CI.
kith_cargo_test_postgres() {
  (
    kith_ensure_postgres
    kith_postgres_start
    trap kith_postgres_stop EXIT
    local root bins status=0
    root=$(pwd)
    bins=$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null | jq -r --arg root "$root" '
      select(.reason == "compiler-artifact" and .profile.test and .executable != null)
      | select(.manifest_path | IN($root + "/crates/kith-server/Cargo.toml", $root + "/tests/Cargo.toml",
          $root + "/crates/kith-client/Cargo.toml", $root + "/crates/kith-cli/Cargo.toml"))
      | (.manifest_path | rtrimstr("/Cargo.toml")) + " " + .executable')
    [ -n "$bins" ] || { echo "no test binaries: cargo test --workspace --no-run failed?"; cargo test --workspace --locked --no-run; return 1; }
    while read -r dir exe; do
      echo "     Running $exe (in $dir)"
      (cd "$dir" && KITH_TEST_BACKEND=postgres "$exe" "$@" </dev/null) || status=1
    done <<<"$bins"
    return $status
  )
}
