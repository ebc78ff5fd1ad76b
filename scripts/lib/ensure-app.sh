# Sourced by the README's commands after ensure-toolchain.sh: installs, only if missing, what the
# app (Tauri 2 on WebKitGTK), the UI (Node, npm) and the end-to-end tests (Xvfb, WebKitWebDriver,
# tauri-driver, Chromium) need on Debian. Idempotent: a second run installs nothing.

# The Debian packages Tauri 2 needs to build and run the desktop app.
kith_ensure_app_build() {
  kith_apt_install libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev \
    libayatana-appindicator3-dev librsvg2-dev pkg-config
}

# The UI's toolchain. Vite 7 needs Node 20.19 or newer; the machine image brings it (Debian's own
# nodejs is installed only when there is no node at all).
kith_ensure_node() {
  if ! command -v node >/dev/null 2>&1; then
    kith_apt_install nodejs npm
  fi
  if ! command -v npm >/dev/null 2>&1; then
    kith_apt_install npm
  fi
  local v
  v=$(node -p 'process.versions.node')
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "Node $v is too old for the UI's build (Vite 7 needs Node 20.19 or newer): install a newer nodejs and run this again." >&2
    return 1
  fi
}

# `npm ci` in a directory when its node_modules is missing or its package-lock.json changed since
# the last install (a stamp in node_modules records the lock file's hash).
kith_npm_ci() {
  local dir=$1 want have=""
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ -f "$dir/node_modules/.kith-lock-sha256" ] && have=$(cat "$dir/node_modules/.kith-lock-sha256")
  if [ ! -d "$dir/node_modules" ] || [ "$want" != "$have" ]; then
    echo "==> npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$dir/node_modules/.kith-lock-sha256"
  fi
}

# What the end-to-end tests run: a virtual display, WebKitGTK's WebDriver, tauri-driver in front of
# it, and Chromium for the browser dashboard.
kith_ensure_e2e() {
  kith_apt_install xvfb xauth webkit2gtk-driver chromium
  if ! command -v tauri-driver >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "==> installing tauri-driver (cargo install, into ${CARGO_HOME:-$HOME/.cargo}/bin)"
    cargo install tauri-driver --locked
  fi
  kith_ensure_node
  kith_npm_ci e2e
}

# The UI's dependencies (ui/node_modules), for building ui/dist.
kith_ensure_ui() {
  kith_ensure_node
  kith_npm_ci ui
}
