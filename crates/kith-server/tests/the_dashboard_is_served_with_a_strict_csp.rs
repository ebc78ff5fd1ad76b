//! The server serves the built UI at `/` to a plain browser: strict security headers on every
//! answer, the page itself for the UI's own routes (single-page app), real 404s for missing
//! assets and API paths, and a clear answer when no dashboard is installed.

use crate::common;
use common::*;
use kith_server::testing::TestServer;
use kith_server::ui::CONTENT_SECURITY_POLICY;
use serde_json::Value;

const INDEX: &str = "<!doctype html><html><head><title>Kith</title><script type=\"module\" src=\"/assets/app-1a2b3c.js\"></script></head><body></body></html>";
const SCRIPT: &str = "document.title = 'Kith';";

/// A directory as `npm --prefix ui run build` leaves it.
fn built_ui() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app-1a2b3c.js"), SCRIPT).unwrap();
    dir
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers().get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
}

fn assert_secure(resp: &reqwest::Response) {
    assert_eq!(header(resp, "content-security-policy"), CONTENT_SECURITY_POLICY);
    assert_eq!(header(resp, "x-content-type-options"), "nosniff");
    assert_eq!(header(resp, "referrer-policy"), "no-referrer");
}

#[tokio::test]
async fn the_built_ui_is_served_with_strict_headers_and_its_routes_fall_back_to_the_page() {
    let ui = built_ui();
    let dir = ui.path().to_path_buf();
    let server = TestServer::start_with(|c| c.ui_dir = Some(dir)).await;
    let get = |path: &str| http().get(server.url(path)).send();

    let resp = get("/").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_secure(&resp);
    assert!(header(&resp, "content-type").starts_with("text/html"));
    assert_eq!(header(&resp, "cache-control"), "no-cache");
    assert_eq!(resp.text().await.unwrap(), INDEX);
    // The CSP is the strict one, spelled out.
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self' 'wasm-unsafe-eval';"));
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    // WebAssembly may be compiled (the phone web app's engine); JavaScript may not be evaluated.
    assert!(!CONTENT_SECURITY_POLICY.contains("'unsafe-eval'"));
    let script = CONTENT_SECURITY_POLICY.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap();
    assert_eq!(script, "script-src 'self' 'wasm-unsafe-eval'");

    let resp = get("/assets/app-1a2b3c.js").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_secure(&resp);
    assert!(header(&resp, "content-type").contains("javascript"), "{:?}", resp.headers());
    assert!(header(&resp, "cache-control").contains("immutable"));
    assert_eq!(resp.text().await.unwrap(), SCRIPT);

    // The UI's own routes get the page (the UI routes itself), with 200.
    for route in ["/team", "/alerts/0190c8f2-0000-7000-8000-000000000000", "/history/", "/index.html"] {
        let resp = get(route).await.unwrap();
        assert_eq!(resp.status(), 200, "{route}");
        assert_secure(&resp);
        assert_eq!(resp.text().await.unwrap(), INDEX, "{route}");
    }
    // A missing file is a 404, never the page in its place.
    let resp = get("/assets/app-old.js").await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_secure(&resp);
    // Nothing outside the directory is served.
    let resp = get("/assets/..%2F..%2F..%2Fetc%2Fpasswd").await.unwrap();
    let body = resp.text().await.unwrap();
    assert!(!body.contains("root:"), "{body}");

    // API paths never fall back to the page: an unknown one is the usual JSON 404.
    for path in ["/v1/nothing-here", "/v1", "/v1/shifts"] {
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert_secure(&resp);
        assert!(header(&resp, "content-type").starts_with("application/json"));
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["code"], "not_found", "{path}");
        assert_eq!(e["retryable"], false);
    }
    // The page is read-only.
    let resp = http().post(server.url("/team")).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "method_not_allowed");

    // API answers carry the same headers.
    let resp = get("/healthz").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_secure(&resp);
    let (lead, _alice) = team_of_two(&server).await;
    let resp = lead.get("/v1/board").await;
    assert_eq!(resp.status(), 200);
    assert_secure(&resp);
}

#[tokio::test]
async fn without_a_built_ui_the_root_says_how_to_install_the_dashboard() {
    let server = TestServer::start().await;
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_path_buf();
    // A ui_dir without an index.html (not built yet) is the same as none.
    let unbuilt = TestServer::start_with(|c| c.ui_dir = Some(dir)).await;
    for s in [&server, &unbuilt] {
        for path in ["/", "/team"] {
            let resp = http().get(s.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), 404);
            assert_secure(&resp);
            let e: Value = resp.json().await.unwrap();
            assert_eq!(e["code"], "dashboard_not_installed");
            let msg = e["message"].as_str().unwrap();
            assert!(msg.contains("npm --prefix ui run build") && msg.contains("KITH_UI_DIR"), "{msg}");
        }
        let resp = http().get(s.url("/v1/nothing-here")).send().await.unwrap();
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "not_found");
    }
}

/// The phone web app's files as a browser needs them: the service worker and the manifest always
/// revalidated (a new version reaches phones at their next start), the engine's WebAssembly as
/// `application/wasm` (streaming compilation) and cached for good like every hashed asset.
#[tokio::test]
async fn the_web_apps_service_worker_manifest_and_engine_are_served_for_an_offline_app() {
    let ui = built_ui();
    std::fs::write(ui.path().join("sw.js"), "self.addEventListener('fetch', () => {});").unwrap();
    std::fs::write(ui.path().join("manifest.webmanifest"), r#"{"name":"Kith"}"#).unwrap();
    std::fs::write(ui.path().join("assets/kith_web_bg-1a2b.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let dir = ui.path().to_path_buf();
    let server = TestServer::start_with(|c| c.ui_dir = Some(dir)).await;
    let get = |path: &str| http().get(server.url(path)).send();

    let resp = get("/sw.js").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_secure(&resp);
    assert!(header(&resp, "content-type").contains("javascript"), "{:?}", resp.headers());
    assert_eq!(header(&resp, "cache-control"), "no-cache");

    let resp = get("/manifest.webmanifest").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "application/manifest+json");
    assert_eq!(header(&resp, "cache-control"), "no-cache");

    let resp = get("/assets/kith_web_bg-1a2b.wasm").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_secure(&resp);
    assert_eq!(header(&resp, "content-type"), "application/wasm");
    assert!(header(&resp, "cache-control").contains("immutable"));
}
