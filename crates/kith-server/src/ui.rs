//! The browser dashboard: the built UI (`ui/dist`) served at `/`, with a single-page-app fallback
//! to `index.html`, and the security headers every answer carries.
//!
//! Paths under `/v1` never reach the UI: an unknown API path is a JSON 404 like any API error.
//! A path whose last segment has no dot (`/team`, `/alerts/123`) is a route of the UI and gets
//! `index.html`; a missing file (`/assets/app-123.js`) is a 404, so a stale page never receives
//! HTML in place of a script. Only regular files inside the directory are served: no dotfiles,
//! nothing a symlink leads to outside it, no directory listing and no redirect ([`file_for`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeFile;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiErr;
use crate::http::App;

/// The Content-Security-Policy of every answer: the dashboard loads its own scripts and styles
/// (Svelte sets inline styles), talks only to this server, and may not be framed. The phone web
/// app compiles its own engine from this server's WebAssembly (`'wasm-unsafe-eval'` allows
/// compiling WebAssembly and nothing else: no `eval`, no inline script); its service worker and
/// manifest come from this server too (`worker-src`, `manifest-src`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
     manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The security headers, added to every answer that does not set them itself.
pub fn security_headers() -> [SetResponseHeaderLayer<HeaderValue>; 3] {
    [
        SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}

/// What `/` says when no dashboard is installed.
pub const NOT_INSTALLED_MESSAGE: &str = "The Kith dashboard is not installed on this server. Build it with \
     `npm --prefix ui ci && npm --prefix ui run build`, then start kith-server with KITH_UI_DIR=ui/dist (or \
     `ui_dir` in its configuration; by default it serves ui/dist under its current directory). The JSON API is \
     under /v1 (see /openapi.json).";

/// The built UI's directory, checked at start.
pub fn resolve(config: &crate::Config) -> Option<PathBuf> {
    let dir = config.ui_dir()?;
    // Canonical, so a file's real path can be checked to lie inside it.
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    if dir.join("index.html").is_file() {
        tracing::info!(dir = %dir.display(), "serving the dashboard at /");
        Some(dir)
    } else {
        tracing::warn!(dir = %dir.display(), "ui_dir has no index.html: the dashboard is not served (build the UI first)");
        None
    }
}

fn is_api(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// The router's fallback: the UI for anything that is not an API route.
pub async fn fallback(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if is_api(&path) {
        return ApiErr::for_status(StatusCode::NOT_FOUND).into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiErr::for_status(StatusCode::METHOD_NOT_ALLOWED).into_response();
    }
    let Some(dir) = app.ui_dir.as_deref() else {
        return ApiErr::new(StatusCode::NOT_FOUND, "dashboard_not_installed", NOT_INSTALLED_MESSAGE, false)
            .into_response();
    };
    let last = path.rsplit('/').next().unwrap_or("");
    let route = !last.contains('.');
    let (parts, _) = req.into_parts();
    let file = match file_for(dir, &path) {
        Some(f) => Some(f),
        None if route => Some(dir.join("index.html")),
        None => None,
    };
    let resp = match file {
        Some(f) => serve(&f, &parts).await,
        None => Some(StatusCode::NOT_FOUND.into_response()),
    };
    let Some(mut resp) = resp else {
        return ApiErr::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    };
    let cache = if resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
        || matches!(path.as_str(), "/sw.js" | "/manifest.webmanifest")
    {
        // The page names the current assets, the service worker the shell it caches: always
        // revalidate them, so a new version reaches phones at their next start.
        Some("no-cache")
    } else if path.starts_with("/assets/") && resp.status().is_success() {
        // Vite puts a content hash in every asset's name.
        Some("public, max-age=31536000, immutable")
    } else {
        None
    };
    if let Some(c) = cache {
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(c));
    }
    resp
}

/// The regular file under `dir` (canonical) that the request path names, if it may be served:
/// every segment (percent-decoded) is a plain name (no dotfile or dot-directory, no `..`, no empty
/// segment), and the file it resolves to, symlinks followed, is a regular file inside `dir`. A
/// directory is no file: it is never listed nor redirected to (a redirect from `//assets` to
/// `//assets/` sends a browser to another site).
pub fn file_for(dir: &Path, path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    let rel = decoded.strip_prefix('/')?;
    let mut candidate = dir.to_path_buf();
    for seg in rel.split('/') {
        if seg.is_empty() || seg.starts_with('.') || seg.contains(['\\', '\0']) {
            return None;
        }
        candidate.push(seg);
    }
    let real = std::fs::canonicalize(&candidate).ok()?;
    let inside = real.strip_prefix(dir).ok()?;
    // A symlink inside may lead to a dotfile inside: judge the file it leads to.
    if inside.components().any(|c| c.as_os_str().to_string_lossy().starts_with('.')) {
        return None;
    }
    std::fs::metadata(&real).ok()?.is_file().then_some(real)
}

/// Serves one file, for a request with these method and headers (conditional and range requests
/// work; a precompressed copy is chosen by `Accept-Encoding`). `None` on an I/O error other than "not found".
async fn serve(file: &Path, req: &axum::http::request::Parts) -> Option<Response> {
    let mut b = axum::http::Request::builder().method(req.method.clone()).uri("/");
    for name in
        [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE, header::RANGE, header::IF_RANGE, header::ACCEPT_ENCODING]
    {
        if let Some(v) = req.headers.get(&name) {
            b = b.header(name, v.clone());
        }
    }
    let inner = b.body(Body::empty()).ok()?;
    // The UI's build writes `<file>.br` and `<file>.gz` next to every file worth compressing
    // (ui/sw/plugin.js): sent as they are to a browser that accepts them, best compression at no
    // cost per request (the response compression layer leaves an encoded answer alone).
    match ServeFile::new(file).precompressed_br().precompressed_gzip().try_call(inner).await {
        Ok(r) => Some(r.map(Body::new)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(StatusCode::NOT_FOUND.into_response()),
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "could not read a file of the dashboard");
            None
        }
    }
}
