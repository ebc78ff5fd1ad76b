# Sourced by the README's commands: builds the phone web app's engine (crates/kith-web, the core in
# WebAssembly) into ui/src/wasm/, where the UI's build picks it up (ui/src/lib/backend/wasm.ts).
# Without it the UI still builds, and a browser gets the dashboard only.
# Needs kith_ensure_wasm (ensure-toolchain.sh) first.

kith_build_web() {
  local target="${CARGO_TARGET_DIR:-target}"
  local out="ui/src/wasm"
  echo "==> building the phone web app's engine (kith-web, wasm32, profile wasm)"
  cargo build --locked -p kith-web --target wasm32-unknown-unknown --profile wasm || return 1
  mkdir -p "$out" || return 1
  # No wasm-opt: Debian 12's binaryen (108) breaks the module's reference-typed table (the page
  # fails with "WebAssembly.Table.set(): Argument 1 is invalid") and its -Oz output compresses
  # worse (676 KB gzipped against 622 KB): docs/benchmarks.md, "The phone web app".
  wasm-bindgen --target web --remove-name-section --out-dir "$out" --out-name kith_web \
    "$target/wasm32-unknown-unknown/wasm/kith_web.wasm" || return 1
  echo "==> $out/kith_web_bg.wasm: $(wc -c <"$out/kith_web_bg.wasm") bytes, $(gzip -9c "$out/kith_web_bg.wasm" | wc -c) gzipped"
}

# The bindings' tests (crates/kith-web/tests, wasm-bindgen-test) in headless Chromium through
# Debian's chromedriver (crates/kith-web/webdriver.json: the browser and its flags).
kith_test_web() {
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
    cargo test --locked -p kith-web --target wasm32-unknown-unknown
}
