//! A setting the server does not know (an old key like `cache.max_docs`, a misspelling) stops it
//! before it starts, naming the key, the file and the setting meant: ignored, it would leave an
//! operator believing a limit is set that is not. `KITH_` environment variables that are not
//! settings (KITH_TEST_BACKEND, KITH_BENCH_*) are left alone; the `KITH_SECTION__KEY` form is
//! always a setting, checked like the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

fn kith_server(config: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kith-server.toml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kith-server"));
    cmd.arg("--config").arg(&file).arg("--data-dir").arg(dir.path()).args(args);
    cmd.env_remove("KITH_DATA_DIR").env_remove("KITH_CONFIG").env_remove("KITH_DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned(), dir)
}

#[test]
fn an_old_or_misspelled_key_in_the_file_is_refused_with_the_key_the_file_and_the_close_match() {
    for (config, key, meant) in [
        ("[cache]\nmax_docs = 100\n", "cache.max_docs", None),
        ("[limits]\nmax_body_byte = 1000\n", "limits.max_body_byte", Some("limits.max_body_bytes")),
        ("listen_addr = \"127.0.0.1:0\"\n", "listen_addr", Some("listen")),
        ("[limit]\nmax_body_bytes = 1000\n", "limit", Some("limits")),
        ("[alerts]\ntick_ms = 10\nwebhook_timeout = 3\n", "alerts.webhook_timeout", Some("alerts.webhook_timeout_s")),
    ] {
        let (ok, err, dir) = kith_server(config, &[], &["admin", "teams"]);
        assert!(!ok, "{config:?} was accepted");
        let file = dir.path().join("kith-server.toml");
        assert!(err.contains(&format!("`{key}`")) && err.contains(&file.display().to_string()), "{config:?}: {err}");
        if let Some(m) = meant {
            assert!(err.contains(&format!("did you mean `{m}`")), "{config:?}: {err}");
        }
        assert!(err.contains("print-config"), "the error says where the settings are listed: {err}");
    }
}

#[test]
fn a_misspelled_setting_in_the_environment_is_refused_and_other_kith_variables_are_not() {
    let (ok, err, _dir) = kith_server("", &[("KITH_LIMITS__MAX_BODY_BYTE", "1000")], &["admin", "teams"]);
    assert!(!ok && err.contains("KITH_LIMITS__MAX_BODY_BYTE") && err.contains("limits.max_body_bytes"), "{err}");
    let (ok, err, _dir) = kith_server("", &[("KITH_LIMIT__MAX_BODY_BYTES", "1000")], &["admin", "teams"]);
    assert!(!ok && err.contains("KITH_LIMIT__MAX_BODY_BYTES") && err.contains("`limits`"), "{err}");
    // Not settings: the tests', benches' and other tools' variables.
    let (ok, err, _dir) = kith_server(
        "",
        &[("KITH_TEST_BACKEND", "sqlite"), ("KITH_BENCH_QUICK", "1"), ("KITH_SOMETHING_ELSE", "x")],
        &["admin", "teams"],
    );
    assert!(ok, "{err}");
}

#[test]
fn a_good_file_starts_the_server_with_its_settings() {
    let config = "[cache]\nmax_bytes = 1000000\n[limits]\nmax_body_bytes = 100000\n";
    let (ok, err, _dir) = kith_server(config, &[("KITH_JOIN_RATE__BURST", "3")], &["admin", "teams"]);
    assert!(ok, "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kith-server.toml");
    std::fs::write(&file, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .arg("--config")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "serve"])
        .env_remove("KITH_DATA_DIR")
        .env_remove("KITH_CONFIG")
        .env_remove("KITH_DATABASE_URL")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.contains("kith-server listening"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "the server did not start");
}
