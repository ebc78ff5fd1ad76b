//! `kith join` refuses a plain `http://` server address unless the server is on this computer
//! (a device's credential and its check-ins never travel in clear), saying what to use instead;
//! `KITH_ALLOW_PLAIN_HTTP=1` is the explicit opt-out for testing. The in-process test server on
//! 127.0.0.1 is joined over plain HTTP as every other test does.

use crate::with_server;

use std::process::Command;

use with_server::{Device, Server};

#[test]
fn plain_http_to_another_computer_is_refused_at_join_and_nothing_is_saved() {
    let d = Device::new();
    for target in ["http://kith.example.org", "http://192.0.2.7:8457"] {
        let r = d.fails(&["join", target, "ABCD-1234", "--name", "Alice"], 2, &["plain HTTP", "https://"]);
        assert!(r.stderr.contains("KITH_ALLOW_PLAIN_HTTP"), "{}", r.stderr);
        let link = format!("kith://join?server={target}&code=ABCD-1234");
        d.fails(&["join", &link, "--name", "Alice"], 2, &["plain HTTP"]);
    }
    assert!(!d.data_dir().join("kith.db").exists(), "a refused join leaves nothing behind");
}

#[test]
fn the_explicit_opt_out_lets_plain_http_through() {
    let d = Device::new();
    // 0.0.0.0 is not a loopback address, yet nothing listens on port 1 here: with the opt-out
    // the address is accepted and the join fails only as unreachable (exit 5).
    let o = Command::new(env!("CARGO_BIN_EXE_kith"))
        .arg("--data-dir")
        .arg(d.data_dir())
        .args(["join", "http://0.0.0.0:1", "ABCD-1234", "--name", "Alice"])
        .env("KITH_ALLOW_PLAIN_HTTP", "1")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/kith-test-bus")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{stderr}");
    assert!(!stderr.contains("plain HTTP"), "{stderr}");
}

#[test]
fn plain_http_to_this_computer_works() {
    let server = Server::start();
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    let (_, code) = server.create_team("North estate");
    let d = Device::new();
    let v = d.join(&server.url, &code, "Lee Lead");
    assert_eq!(v["synced"], true);
}
