//! Runs the real `kith` binary in a temporary data directory, with the clock set by `KITH_NOW`
//! and the local time zone set to UTC, so every run is deterministic. No sleeps.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Kith {
    pub dir: tempfile::TempDir,
}

/// What one run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Kith {
    pub fn new() -> Self {
        Kith { dir: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")) }
    }

    /// A fresh data directory with a profile for Alice, created at `now`.
    pub fn with_profile(now: &str) -> Self {
        let k = Kith::new();
        k.ok(now, &["init", "--name", "Alice", "--team", "Night shift", "--team-phone", "0800 123 456"]);
        k
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn db(&self) -> PathBuf {
        self.data_dir().join("kith.db")
    }

    pub fn command(&self, now: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kith"));
        c.env("KITH_DATA_DIR", self.data_dir()).env("TZ", "UTC").env("KITH_NOW", now);
        // No keychain reachable (as in CI): the credential file, and never a developer's keychain.
        c.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/kith-test-bus").env_remove("KITH_CREDENTIAL_STORE");
        c
    }

    pub fn run(&self, now: &str, args: &[&str]) -> Run {
        self.command(now).args(args).output().unwrap_or_else(|e| panic!("running kith: {e}")).into()
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, now: &str, args: &[&str]) -> String {
        let r = self.run(now, args);
        assert_eq!(r.code, 0, "kith {args:?} at {now} failed: {r:?}");
        r.stdout
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, now: &str, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(now, &all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kith {args:?} printed invalid JSON ({e}): {out}"))
    }

    /// Runs and insists on failure with `code` and a message on stderr containing every one of
    /// `words`; stdout must be empty.
    pub fn fails(&self, now: &str, args: &[&str], code: i32, words: &[&str]) -> Run {
        let r = self.run(now, args);
        assert_eq!(r.code, code, "kith {args:?} should exit {code}: {r:?}");
        for w in words {
            assert!(r.stderr.contains(w), "kith {args:?}: stderr should mention {w:?}: {}", r.stderr);
        }
        assert!(r.stdout.is_empty(), "kith {args:?} printed to stdout on failure: {}", r.stdout);
        assert!(!r.stderr.contains("panicked"), "kith {args:?} panicked: {}", r.stderr);
        r
    }

    /// Everything the store holds that a command could change: the full history of all shifts
    /// and the number of changes on this device.
    pub fn snapshot(&self, now: &str) -> (Value, Value) {
        let log = self.json(now, &["log", "--all"]);
        let status = self.json(now, &["status"]);
        (log, status["unsynced_changes"].clone())
    }
}

pub fn file_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}
