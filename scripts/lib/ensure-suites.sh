# Sourced by scripts/test.sh after ensure-toolchain.sh: installs, only if missing, what the
# security and reliability suites need (scripts/suites/, docs/reliability.md). Idempotent.

# schemathesis (PyPI), pinned, in a virtualenv of its own under ~/.cache/kith. Sets
# KITH_SCHEMATHESIS to its command.
KITH_SCHEMATHESIS_VERSION=4.32.5
kith_ensure_schemathesis() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/kith/schemathesis-$KITH_SCHEMATHESIS_VERSION"
  if [ ! -x "$venv/bin/schemathesis" ]; then
    command -v python3 >/dev/null 2>&1 || kith_apt_install python3
    python3 -m venv --help >/dev/null 2>&1 || kith_apt_install python3-venv
    echo "==> installing schemathesis $KITH_SCHEMATHESIS_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$KITH_SCHEMATHESIS_VERSION"
  fi
  export KITH_SCHEMATHESIS="$venv/bin/schemathesis"
}

# cargo-fuzz (crates.io), pinned. It runs on the stable toolchain with `-s none` (no sanitizer: the
# sanitizers need nightly's -Z flags, and nightly cannot be fetched here); libFuzzer's coverage
# instrumentation itself uses only stable -C flags.
KITH_CARGO_FUZZ_VERSION=0.13.2
kith_ensure_cargo_fuzz() {
  if ! cargo fuzz --version 2>/dev/null | grep -q "$KITH_CARGO_FUZZ_VERSION"; then
    echo "==> installing cargo-fuzz $KITH_CARGO_FUZZ_VERSION (cargo install, into ${CARGO_HOME:-$HOME/.cargo}/bin)"
    cargo install cargo-fuzz --locked --version "$KITH_CARGO_FUZZ_VERSION"
  fi
}
