//! The binary: `print-config` prints the defaults as TOML; the admin commands work on a data
//! directory directly.

use std::process::Command;

fn kith_server(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kith-server")).args(args).env_remove("KITH_DATA_DIR").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn print_config_prints_the_defaults_as_toml() {
    let (ok, out, err) = kith_server(&["print-config"]);
    assert!(ok, "{err}");
    let v: toml::Value = toml::from_str(&out).unwrap();
    assert_eq!(v["listen"].as_str(), Some("127.0.0.1:8457"));
    assert!(v["limits"]["max_body_bytes"].as_integer().unwrap() > 0);
    assert!(v["data_dir"].as_str().is_some());
    // Where the dashboard comes from is documented in the output, not set by default.
    assert!(v.get("ui_dir").is_none());
    assert!(out.contains("# ui_dir = \"ui/dist\"") && out.contains("KITH_UI_DIR"), "{out}");
    assert_eq!(v["kudos_rate"]["burst"].as_integer(), Some(10));
    // The metrics token is not set by default (nobody reads /metrics), and how to set it is said.
    assert!(v.get("metrics_token").is_none() && out.contains("KITH_METRICS_TOKEN"), "{out}");
}

#[test]
fn admin_creates_a_team_invites_and_lists_devices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out, err) = kith_server(&["--data-dir", d, "admin", "create-team", "--name", "North estate"]);
    assert!(ok, "{err}");
    let team = out.lines().find_map(|l| l.strip_prefix("team ")).unwrap().to_string();
    assert!(out.contains("lead invite "), "{out}");
    let (ok, out, err) = kith_server(&[
        "--data-dir",
        d,
        "admin",
        "invite",
        "--team",
        &team,
        "--role",
        "member",
        "--expires",
        "1d",
        "--uses",
        "3",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.trim().len(), 19);
    let (ok, out, _) = kith_server(&["--data-dir", d, "admin", "teams"]);
    assert!(ok && out.contains("North estate"));
    let (ok, out, _) = kith_server(&["--data-dir", d, "admin", "devices"]);
    assert!(ok && out.trim().is_empty());
    let (ok, _, err) = kith_server(&["--data-dir", d, "admin", "revoke", "0190c8f2-0000-7000-8000-000000000000"]);
    assert!(!ok && err.contains("no active device"), "{err}");
    let (ok, _, err) = kith_server(&["--data-dir", d, "admin", "invite", "--team", &team, "--role", "boss"]);
    assert!(!ok && err.contains("use member or lead"));
}

#[test]
fn the_admin_webhook_command_refuses_private_targets_unless_the_operator_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out, err) = kith_server(&["--data-dir", d, "admin", "create-team", "--name", "North estate"]);
    assert!(ok, "{err}");
    let team = out.lines().find_map(|l| l.strip_prefix("team ")).unwrap().to_string();
    let args = |url: &'static str| {
        ["--data-dir", d, "admin", "webhook", "--team", &team, "--url", url, "--secret", "a-long-random-webhook-secret"]
            .map(str::to_string)
    };
    for url in ["http://127.0.0.1:9000/hook", "http://169.254.169.254/latest", "http://[::1]/hook"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kith-server")).args(args(url)).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("webhook_allow_private"), "{url}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .args(args("http://127.0.0.1:9000/hook"))
        .env("KITH_ALERTS__WEBHOOK_ALLOW_PRIVATE", "true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
