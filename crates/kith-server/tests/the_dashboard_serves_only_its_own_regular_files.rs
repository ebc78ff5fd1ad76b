//! The dashboard directory serves its own regular files and nothing else: no dotfiles (`.env`,
//! `.git/`), nothing a symlink leads to outside it, no directory listing or redirect (`//assets`
//! used to redirect to the protocol-relative `//assets/`, another site to a browser).

use crate::common;
use kith_server::testing::TestServer;

const INDEX: &str = "<!doctype html><html><head><title>Kith</title></head><body></body></html>";
const SCRIPT: &str = "document.title = 'Kith';";

#[tokio::test]
async fn dotfiles_symlinks_out_and_redirects_are_never_served() {
    let ui = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = ui.path();
    std::fs::write(d.join("index.html"), INDEX).unwrap();
    std::fs::create_dir(d.join("assets")).unwrap();
    std::fs::write(d.join("assets/app-1a2b3c.js"), SCRIPT).unwrap();
    std::fs::write(d.join(".env"), "SECRET=hunter2").unwrap();
    std::fs::create_dir(d.join(".git")).unwrap();
    std::fs::write(d.join(".git/config"), "SECRET=git").unwrap();
    std::fs::write(d.join("assets/.hidden.js"), "SECRET=hidden").unwrap();
    std::fs::write(outside.path().join("secret.js"), "SECRET=outside").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.js"), d.join("assets/out.js")).unwrap();
    std::os::unix::fs::symlink(outside.path(), d.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(d.join(".env"), d.join("assets/env.js")).unwrap();
    // A symlink that stays inside the directory is an ordinary file of it.
    std::os::unix::fs::symlink(d.join("assets/app-1a2b3c.js"), d.join("assets/app.js")).unwrap();

    let dir = d.to_path_buf();
    let server = TestServer::start_with(|c| c.ui_dir = Some(dir)).await;
    let raw = common::client().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    for path in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/assets/.hidden.js",
        "/assets/%2ehidden.js",
        "/%2eenv",
        "/assets/out.js",
        "/assets/env.js",
        "/elsewhere/secret.js",
        "/assets/..%2f.env",
    ] {
        let resp = raw.get(server.url(path)).send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(!body.contains("SECRET"), "{path} served a file it must not: {body}");
        // A name with a dot in its last segment is a file: 404. Otherwise it is a route of the
        // UI, which gets the page.
        let last = path.rsplit('/').next().unwrap();
        if last.contains('.') {
            assert_eq!(status, 404, "{path}");
        } else {
            assert_eq!((status.as_u16(), body.as_str()), (200, INDEX), "{path}");
        }
    }
    let resp = raw.get(server.url("/assets/app.js")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), SCRIPT);

    // A directory is never listed nor redirected to: a route of the UI gets the page.
    for path in ["/assets", "//assets", "//evil.example", "/assets/", "/elsewhere"] {
        let resp = raw.get(server.url(path)).send().await.unwrap();
        assert!(!resp.status().is_redirection(), "{path} redirects to {:?}", resp.headers().get("location"));
        assert!(resp.headers().get("location").is_none(), "{path}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("SECRET") && !body.contains("secret.js"), "{path}: {body}");
    }
    let resp = raw.get(server.url("//assets")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), INDEX);
}
