//! The server binary's allocator (jemalloc) gives the pages a burst freed back to the operating
//! system on its decay schedule even while nothing allocates: a background thread purges them.
//! Without it jemalloc purges only when a thread allocates or frees, so an idle server (thousands
//! of devices that synced and let their connections go) kept the pages their connections and
//! syncs had freed: 1.7 KiB a device of RSS at 9,000 devices (docs/benchmarks.md, "What a sync
//! leaves behind on the server").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Instance;

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
#[tokio::test]
async fn the_servers_allocator_purges_freed_pages_in_a_background_thread() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // No database URL: the embedded SQLite in `data_dir`. An empty MALLOC_CONF: whatever the
    // environment says, the server's own setting is what is tested.
    let mut server = Instance::start_with(&[("KITH_DATA_DIR", data_dir), ("MALLOC_CONF", "")], "server", "").await;
    // jemalloc starts its background thread when it initialises, before `main`: by the time the
    // server listens it is there.
    let names = threads(server.pid());
    server.kill();
    assert!(
        names.iter().any(|n| n.starts_with("jemalloc_bg")),
        "no jemalloc background thread among the server's threads {names:?}: freed pages stay in the process until it allocates again"
    );
}
