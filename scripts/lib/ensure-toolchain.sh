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
