# Sourced by the README's commands: installs, only if missing, what building Kith needs on Debian.
# Idempotent: a second run installs nothing.

kith_apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "==> installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

kith_ensure_rust() {
  # A C compiler for the bundled SQLite; curl and certificates for rustup on a fresh machine.
  kith_apt_install build-essential pkg-config ca-certificates curl
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "==> installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if command -v rustup >/dev/null 2>&1; then
    for c in clippy rustfmt; do
      rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
    done
  fi
}

# cargo-deny (licences, bans, sources and RustSec advisories of every dependency; see deny.toml).
kith_ensure_cargo_deny() {
  if ! command -v cargo-deny >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-deny" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "==> installing cargo-deny (cargo install, into ${CARGO_HOME:-$HOME/.cargo}/bin)"
    cargo install cargo-deny --locked --version 0.20.2
  fi
}

# The phone web app (crates/kith-web, docs/app.md): the WebAssembly target and wasm-bindgen's
# command line at exactly the version of the wasm-bindgen crate in Cargo.lock (the two must match;
# it brings wasm-bindgen-test-runner too).
kith_ensure_wasm() {
  # Chromium and its driver run the bindings' tests (wasm-bindgen-test-runner, kith_test_web).
  kith_apt_install chromium chromium-driver
  if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  fi
  local want have=""
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; sub(/^version = "/, ""); sub(/"$/, ""); print; exit }' Cargo.lock)
  if ! command -v wasm-bindgen >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  command -v wasm-bindgen >/dev/null 2>&1 && have=$(wasm-bindgen --version | awk '{print $2}')
  if [ -n "$want" ] && [ "$have" != "$want" ]; then
    echo "==> installing wasm-bindgen-cli $want (cargo install, into ${CARGO_HOME:-$HOME/.cargo}/bin)"
    # Its own target directory: the workspace's CARGO_TARGET_DIR is for the workspace. With its
    # lock file; if the registry no longer has a version locked there (a yanked crate), with the
    # newest compatible versions instead.
    # No TLS: the command line never downloads anything here (its default features build rustls).
    env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --locked --no-default-features --version "$want" ||
      env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --no-default-features --version "$want"
  fi
}
