//! Every HTTP client the tests, benches and tools point at the server lets an idle connection go
//! before the server closes it (`limits.idle_timeout_s`). reqwest's default keeps one for 90 s, so
//! a request sent just as the server (30 s) closed it met "Connection reset by peer": a test failed
//! that way under load. The clients are built by `kith_stories::http_client()` or the server
//! tests' `common::client()`, both with the device's idle time; this finds any built otherwise.

use crate::every_test_file_is_built::rust_files;
use std::path::Path;

/// Where `text` builds a reqwest client without an idle time under the server's: `Client::new()`,
/// or a builder whose first setting is neither `pool_idle_timeout` nor an empty pool.
fn unbounded_clients(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("reqwest::Client::new()") {
        out.push(i);
    }
    for (i, m) in text.match_indices("reqwest::Client::builder()") {
        let rest = text[i + m.len()..].trim_start();
        if !(rest.starts_with(".pool_idle_timeout(") || rest.starts_with(".pool_max_idle_per_host(0)")) {
            out.push(i);
        }
    }
    out
}

#[test]
fn every_client_of_the_server_lets_an_idle_connection_go_before_the_server_does() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut files = Vec::new();
    for d in ["tests", "fuzz"] {
        rust_files(&workspace.join(d), &mut files);
    }
    for krate in std::fs::read_dir(workspace.join("crates")).expect("crates/").flatten() {
        for d in ["tests", "benches"] {
            rust_files(&krate.path().join(d), &mut files);
        }
    }
    assert!(files.len() > 50, "the walk found the test sources ({} files)", files.len());
    let this = Path::new(file!()).file_name().expect("this file's name");
    let mut found = Vec::new();
    for f in files.iter().filter(|f| f.file_name() != Some(this)) {
        let text = std::fs::read_to_string(f).expect("a source file");
        for at in unbounded_clients(&text) {
            found.push(format!("{}:{}", f.display(), text[..at].lines().count() + 1));
        }
    }
    assert!(
        found.is_empty(),
        "HTTP clients that keep an idle connection past the server's idle timeout (use \
         kith_stories::http_client() or the server tests' common::client()): {found:#?}"
    );
    // The idle time they keep to is under the server's.
    let server = std::time::Duration::from_secs(kith_server::config::Config::default().limits.idle_timeout_s);
    assert!(kith_sync::client::SYNC_CONNECTION_IDLE < server);
}

#[test]
fn a_client_built_with_the_defaults_is_found() {
    assert_eq!(unbounded_clients("let c = reqwest::Client::new();").len(), 1);
    assert_eq!(unbounded_clients("reqwest::Client::builder().no_gzip().build()").len(), 1);
    assert!(unbounded_clients("reqwest::Client::builder()\n    .pool_idle_timeout(IDLE).build()").is_empty());
    assert!(unbounded_clients("reqwest::Client::builder().pool_max_idle_per_host(0).build()").is_empty());
}
