//! The UI's build writes a brotli (`.br`) and a gzip (`.gz`) copy next to each file worth
//! compressing (ui/sw/plugin.js); the server sends the best one the browser accepts, as it is
//! (the phone web app's WebAssembly is ~450 KB in brotli against ~630 KB gzipped on the fly), and
//! the plain file to a client that accepts neither. A route of the UI gets the page's copies too.

use crate::common;
use kith_server::testing::TestServer;

const INDEX: &str = "<!doctype html><html><head><title>Kith</title></head><body></body></html>";
const SCRIPT: &str = "document.title = 'Kith';";

#[tokio::test]
async fn each_file_goes_out_in_the_best_encoding_the_browser_accepts() {
    let ui = tempfile::tempdir().unwrap();
    let d = ui.path();
    std::fs::write(d.join("index.html"), INDEX).unwrap();
    std::fs::write(d.join("index.html.br"), b"brotli index").unwrap();
    std::fs::write(d.join("index.html.gz"), b"gzip index").unwrap();
    std::fs::create_dir(d.join("assets")).unwrap();
    std::fs::write(d.join("assets/app-1a2b3c.js"), SCRIPT).unwrap();
    std::fs::write(d.join("assets/app-1a2b3c.js.br"), b"brotli script").unwrap();
    std::fs::write(d.join("assets/app-1a2b3c.js.gz"), b"gzip script").unwrap();
    // A file with no compressed copy (an image) is sent as it is.
    std::fs::write(d.join("icon.png"), b"png").unwrap();

    let dir = d.to_path_buf();
    let server = TestServer::start_with(|c| c.ui_dir = Some(dir)).await;
    // The client decodes nothing itself: what arrives is what the server sent.
    let raw = common::client().no_gzip().no_zstd().build().unwrap();
    let get = |path: &'static str, accept: &'static str| {
        let req = raw.get(server.url(path));
        let req = if accept.is_empty() { req } else { req.header("accept-encoding", accept) };
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path} with {accept:?}");
            let h = resp.headers().clone();
            let enc = h.get("content-encoding").map(|v| v.to_str().unwrap().to_string());
            (enc, h, resp.bytes().await.unwrap().to_vec())
        }
    };

    for (accept, enc, body) in [
        ("gzip, deflate, br, zstd", Some("br"), &b"brotli script"[..]),
        ("gzip, deflate", Some("gzip"), b"gzip script"),
        ("", None, SCRIPT.as_bytes()),
        ("identity", None, SCRIPT.as_bytes()),
    ] {
        let (got, h, bytes) = get("/assets/app-1a2b3c.js", accept).await;
        assert_eq!((got.as_deref(), bytes.as_slice()), (enc, body), "accept-encoding {accept:?}");
        assert_eq!(h["content-type"], "text/javascript", "the type is the plain file's, whatever is sent");
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
        assert!(h.get("content-security-policy").is_some());
        if enc.is_some() {
            assert_eq!(h["vary"], "accept-encoding", "a cache must keep one copy per encoding");
        }
    }

    // The page, by its name and as the answer to a route of the UI.
    for path in ["/", "/index.html", "/team"] {
        let (got, h, bytes) = get(path, "gzip, deflate, br").await;
        assert_eq!((got.as_deref(), bytes.as_slice()), (Some("br"), &b"brotli index"[..]), "{path}");
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
    }

    let (got, _, bytes) = get("/icon.png", "gzip, deflate, br").await;
    assert_eq!((got, bytes.as_slice()), (None, &b"png"[..]));
}
