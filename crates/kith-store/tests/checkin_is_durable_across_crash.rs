//! Crash test: a child process writing check-ins is killed with SIGKILL at random moments
//! (during open, between writes, during compaction). After every kill the store opens cleanly
//! and every check-in the child acknowledged (printed after `change_doc` returned) is there.
//!
//! The parent re-executes this test binary running only `crash_child_writer`, which is a no-op
//! unless `KITH_CRASH_CHILD_DIR` is set. `KITH_CRASH_KILLS` (default 200) sets the number of
//! kills; `KITH_CRASH_SEED` replays a failing run.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use automerge::ROOT;
use automerge::transaction::Transactable;
use common::{BoxError, add_checkin, checkin_ids};
use kith_store::{Store, StoreOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

const CHILD_DIR: &str = "KITH_CRASH_CHILD_DIR";
const CHILD_RUN: &str = "KITH_CRASH_RUN";
const ACK: &str = "KITHACK ";
const COMPACTING: &str = "KITHCOMPACTING";
const PER_DOC: u64 = 30;

fn doc_id(run: u64, index: u64) -> Uuid {
    Uuid::from_u64_pair(run + 1, index / PER_DOC + 1)
}

fn crash_options() -> StoreOptions {
    // A small floor so that compaction (background and synchronous) happens often in a run.
    StoreOptions { compaction_floor_bytes: 1024, background_compaction: true }
}

/// The child: writes check-ins forever, acknowledging each one only after it is durable.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let run: u64 = std::env::var(CHILD_RUN).unwrap().parse().unwrap();
    let mut store = Store::open_with(std::path::Path::new(&dir).join("kith.db"), crash_options()).unwrap();
    let stdout = std::io::stdout();
    for i in 0.. {
        let id = doc_id(run, i);
        let checkin = format!("r{run}-{i}");
        let n = i64::try_from(i).unwrap();
        if i % PER_DOC == 0 {
            store
                .create_doc(id, "shift", |tx| -> Result<(), BoxError> {
                    tx.put(ROOT, "purpose", "crash test")?;
                    add_checkin(tx, &checkin, n)
                })
                .unwrap();
        } else {
            store.change_doc(id, |tx| add_checkin(tx, &checkin, n)).unwrap();
        }
        {
            let mut out = stdout.lock();
            writeln!(out, "{ACK}{checkin}").unwrap();
            out.flush().unwrap();
        }
        if i % 10 == 9 {
            // Synchronous compaction too, so kills also land inside it on the main connection.
            {
                let mut out = stdout.lock();
                writeln!(out, "{COMPACTING}").unwrap();
                out.flush().unwrap();
            }
            store.compact(id).unwrap();
        }
    }
}

fn verify(path: &std::path::Path, acked: &BTreeMap<Uuid, BTreeSet<String>>, seed: u64, kill: u32) {
    let mut store = Store::open_with(path, StoreOptions { background_compaction: false, ..StoreOptions::default() })
        .unwrap_or_else(|e| panic!("seed {seed}, after kill {kill}: reopen failed: {e}"));
    for (doc, ids) in acked {
        let have: BTreeSet<String> =
            checkin_ids(store.doc(*doc).unwrap_or_else(|e| panic!("seed {seed}, after kill {kill}: {e}")))
                .into_iter()
                .collect();
        let lost: Vec<&String> = ids.difference(&have).collect();
        assert!(lost.is_empty(), "seed {seed}, after kill {kill}: acknowledged check-ins lost: {lost:?}");
    }
    store.close().unwrap();
}

#[test]
fn acknowledged_checkins_survive_sigkill() {
    let kills: u32 = std::env::var("KITH_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let seed: u64 = std::env::var("KITH_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("crash test: {kills} kills, seed {seed} (replay with KITH_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let exe = std::env::current_exe().unwrap();
    let mut all_acked: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    let mut total_acks = 0usize;
    let mut kills_at_compaction = 0u32;

    for kill in 0..kills {
        let run = u64::from(kill);
        // 15%: kill during start-up/open; otherwise after 1..=30 acknowledged writes.
        let target: usize = if rng.random_bool(0.15) { 0 } else { rng.random_range(1..=30) };
        // 30% of the others: wait for the next synchronous compaction to start, then kill
        // during it.
        let at_compaction = target > 0 && rng.random_bool(0.3);
        let spin = Duration::from_micros(rng.random_range(0..3_000));
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_RUN, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut acked: Vec<String> = Vec::new();
        let mut reached_eof = false;
        while acked.len() < target {
            match lines.next() {
                Some(line) => {
                    let line = line.unwrap();
                    if let Some(pos) = line.find(ACK) {
                        acked.push(line[pos + ACK.len()..].trim().to_string());
                    }
                }
                None => {
                    reached_eof = true;
                    break;
                }
            }
        }
        while at_compaction && !reached_eof {
            match lines.next() {
                Some(line) => {
                    let line = line.unwrap();
                    if let Some(pos) = line.find(ACK) {
                        acked.push(line[pos + ACK.len()..].trim().to_string());
                    }
                    if line.contains(COMPACTING) {
                        kills_at_compaction += 1;
                        break;
                    }
                }
                None => reached_eof = true,
            }
        }
        let start = Instant::now();
        while start.elapsed() < spin {
            std::hint::spin_loop();
        }
        child.kill().unwrap(); // SIGKILL on Unix
        // Lines already printed were acknowledged too.
        if !reached_eof {
            for line in lines {
                let line = line.unwrap();
                if let Some(pos) = line.find(ACK) {
                    acked.push(line[pos + ACK.len()..].trim().to_string());
                }
            }
        }
        let status = child.wait().unwrap();
        assert!(!status.success() || acked.is_empty(), "seed {seed}: child exited by itself: {status}");
        let mut this_run: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
        for checkin in &acked {
            let i: u64 = checkin.rsplit('-').next().unwrap().parse().unwrap();
            this_run.entry(doc_id(run, i)).or_default().insert(checkin.clone());
        }
        total_acks += acked.len();
        verify(&path, &this_run, seed, kill);
        for (doc, ids) in this_run {
            all_acked.entry(doc).or_default().extend(ids);
        }
        if kill % 50 == 49 {
            verify(&path, &all_acked, seed, kill);
        }
    }
    verify(&path, &all_acked, seed, kills);
    let store = Store::open_with(&path, common::no_background()).unwrap();
    let stats = store.stats().unwrap();
    eprintln!(
        "crash test: {total_acks} acknowledged check-ins, {kills_at_compaction} kills timed at a \
         compaction, final store {stats:?}"
    );
    assert!(total_acks > 0, "seed {seed}: no write was ever acknowledged");
    assert!(stats.snapshot_bytes > 0, "seed {seed}: compaction never ran, so kills during compaction were not tested");
}
