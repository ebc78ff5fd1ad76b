//! Store benchmark. Prints a markdown table and nothing else.
//!
//! `cargo bench -p kith-store --bench store`; set `KITH_BENCH_QUICK=1` for a quick run with
//! smaller sizes.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};
use common::{BoxError, add_checkin, checkin_ids};
use kith_store::{Store, StoreOptions};
use uuid::Uuid;

const PER_DOC: usize = 100;

fn quick() -> bool {
    std::env::var_os("KITH_BENCH_QUICK").is_some()
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 { format!("{us:.0} µs") } else { format!("{:.2} ms", us / 1000.0) }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn no_bg() -> StoreOptions {
    StoreOptions { background_compaction: false, ..StoreOptions::default() }
}

/// A shift document with `n` check-ins made on another device, one change per check-in.
fn shift_doc(n: usize, offset: usize) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::random());
    let mut tx = doc.transaction();
    tx.put(ROOT, "purpose", "meter readings").unwrap();
    tx.commit();
    for i in 0..n {
        let mut tx = doc.transaction();
        let k = i64::try_from(offset + i).unwrap();
        add_checkin(&mut tx, &format!("c{}", offset + i), k).unwrap();
        tx.commit();
    }
    doc
}

/// Fills a store with `total` check-ins spread over shift-sized documents (as if synced), then
/// compacts, which is the steady state of a device.
fn populate(store: &mut Store, total: usize) {
    let mut left = total;
    let mut offset = 0;
    while left > 0 {
        let n = left.min(PER_DOC);
        let doc = shift_doc(n, offset);
        store.apply_remote(Uuid::new_v4(), "shift", &doc.save()).unwrap();
        left -= n;
        offset += n;
    }
    store.compact_all().unwrap();
}

fn latency_row(stored: usize, samples: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_bg()).unwrap();
    populate(&mut store, stored);
    drop(store);
    let mut store = Store::open(&path).unwrap(); // background compaction on, as in the app
    let mut times = Vec::with_capacity(samples);
    let mut active = Uuid::nil();
    for i in 0..samples {
        if i % PER_DOC == 0 {
            active = Uuid::new_v4();
            store
                .create_doc(active, "shift", |tx| -> Result<(), BoxError> {
                    tx.put(ROOT, "purpose", "active shift")?;
                    Ok(())
                })
                .unwrap();
        }
        let k = i64::try_from(i).unwrap();
        let start = Instant::now();
        store.change_doc(active, |tx| add_checkin(tx, &format!("new{i}"), k)).unwrap();
        times.push(start.elapsed());
    }
    store.close().unwrap();
    times.sort();
    format!(
        "| {stored} | {} | {} | {} | {samples} |",
        stored.div_ceil(PER_DOC),
        fmt_dur(percentile(&times, 50)),
        fmt_dur(percentile(&times, 99)),
    )
}

fn open_and_load(stored: usize) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_bg()).unwrap();
    populate(&mut store, stored);
    // One doc with 1,000 check-ins written locally: 1,000 chunks.
    let big = Uuid::new_v4();
    store
        .create_doc(big, "shift", |tx| -> Result<(), BoxError> {
            tx.put(ROOT, "purpose", "long shift")?;
            Ok(())
        })
        .unwrap();
    let doc = shift_doc(1000, 0);
    // Write it as 1,000 single-change chunks without 1,000 fsyncs: one remote apply per change.
    for change in doc.get_changes(&[]) {
        store.apply_remote(big, "shift", change.raw_bytes()).unwrap();
    }
    drop(store);
    let mut rows = Vec::new();
    let start = Instant::now();
    let mut store = Store::open_with(&path, no_bg()).unwrap();
    let open = start.elapsed();
    rows.push(format!(
        "| open store ({stored} check-ins in {} docs + 1 big doc) | {} |",
        stored.div_ceil(PER_DOC),
        fmt_dur(open)
    ));
    let start = Instant::now();
    let n = checkin_ids(store.doc(big).unwrap()).len();
    rows.push(format!("| load one doc with {n} check-ins, stored as 1,001 chunks | {} |", fmt_dur(start.elapsed())));
    store.compact(big).unwrap();
    store.evict_cache();
    let start = Instant::now();
    let n = checkin_ids(store.doc(big).unwrap()).len();
    rows.push(format!("| load one doc with {n} check-ins, compacted (snapshot) | {} |", fmt_dur(start.elapsed())));
    rows
}

fn bytes_rows(total: usize) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    let mut store = Store::open_with(&path, no_bg()).unwrap();
    let mut docs = Vec::new();
    for d in 0..total.div_ceil(PER_DOC) {
        let id = Uuid::new_v4();
        store
            .create_doc(id, "shift", |tx| -> Result<(), BoxError> {
                tx.put(ROOT, "purpose", "meter readings")?;
                Ok(())
            })
            .unwrap();
        for i in 0..PER_DOC.min(total - d * PER_DOC) {
            let k = i64::try_from(d * PER_DOC + i).unwrap();
            store.change_doc(id, |tx| add_checkin(tx, &format!("c{k}"), k)).unwrap();
        }
        docs.push(id);
    }
    store.checkpoint();
    let before = store.stats().unwrap();
    store.compact_all().unwrap();
    store.checkpoint();
    let after = store.stats().unwrap();
    let mut save_bytes = 0u64;
    for id in &docs {
        save_bytes += u64::try_from(store.doc(*id).unwrap().save().len()).unwrap();
    }
    let per = |b: u64| format!("{:.1}", b as f64 / total as f64);
    vec![
        format!(
            "| before compaction: chunk + snapshot bytes ({} chunks) | {} | {} |",
            before.chunk_count,
            before.chunk_bytes + before.snapshot_bytes,
            per(before.chunk_bytes + before.snapshot_bytes)
        ),
        format!(
            "| before compaction: SQLite file (after WAL checkpoint) | {} | {} |",
            before.file_bytes,
            per(before.file_bytes)
        ),
        format!(
            "| after compaction: chunk + snapshot bytes | {} | {} |",
            after.chunk_bytes + after.snapshot_bytes,
            per(after.chunk_bytes + after.snapshot_bytes)
        ),
        format!(
            "| after compaction: SQLite file (freed pages are reused, not returned) | {} | {} |",
            after.file_bytes,
            per(after.file_bytes)
        ),
        format!("| Automerge `save()` of the same {} docs | {} | {} |", docs.len(), save_bytes, per(save_bytes)),
    ]
}

fn main() {
    let (sizes, samples, load_stored, bytes_total): (&[usize], usize, usize, usize) = if quick() {
        (&[10, 1_000, 10_000], 100, 10_000, 500)
    } else {
        (&[10, 1_000, 10_000, 100_000], 300, 100_000, 2_000)
    };
    println!("## kith-store benchmark{}", if quick() { " (quick)" } else { "" });
    println!();
    println!(
        "Check-in = one `change_doc` adding a 10-field map; durable = committed with \
         `synchronous=FULL` before returning. Writes go into new active shift docs \
         ({PER_DOC} check-ins each) with background compaction on."
    );
    println!();
    println!("| check-ins already stored | docs | p50 | p99 | samples |");
    println!("|---:|---:|---:|---:|---:|");
    for &stored in sizes {
        println!("{}", latency_row(stored, samples));
    }
    println!();
    println!("| open and load | time |");
    println!("|---|---:|");
    for row in open_and_load(load_stored) {
        println!("{row}");
    }
    println!();
    println!("| storage of {bytes_total} check-ins written locally ({PER_DOC} per doc) | bytes | bytes per check-in |");
    println!("|---|---:|---:|");
    for row in bytes_rows(bytes_total) {
        println!("{row}");
    }
}
