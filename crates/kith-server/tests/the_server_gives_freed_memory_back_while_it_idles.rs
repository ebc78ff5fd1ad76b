//! The server binary's allocator (jemalloc) gives the pages a burst freed back to the operating
//! system on its decay schedule even while nothing allocates: a background thread purges them.
//! Without it jemalloc purges only when a thread allocates or frees, so an idle server (thousands
//! of devices that synced and let their connections go) kept the pages their connections and
//! syncs had freed: 1.7 KiB a device of RSS at 9,000 devices (docs/benchmarks.md, "What a sync
//! leaves behind on the server").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

/// The names of the threads of process `pid`.
#[cfg(target_os = "linux")]
fn threads(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn the_servers_allocator_purges_freed_pages_in_a_background_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("KITH_DATA_DIR")
        .env_remove("KITH_CONFIG")
        .env_remove("KITH_DATABASE_URL")
        // Whatever the environment says, the server's own setting is what is tested.
        .env_remove("MALLOC_CONF")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "kith_server=info")
        .env("KITH_UI_DIR", "")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kith-server");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines.by_ref().map_while(Result::ok).any(|l| l.contains("kith-server listening"));
    // jemalloc starts its background thread when it initialises, before `main`: by the time the
    // server listens it is there.
    let names = threads(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(listening, "the server did not start");
    assert!(
        names.iter().any(|n| n.starts_with("jemalloc_bg")),
        "no jemalloc background thread among the server's threads {names:?}: freed pages stay in the process until it allocates again"
    );
}
