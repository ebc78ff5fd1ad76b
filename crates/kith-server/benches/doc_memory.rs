//! How much memory a live `Automerge` document takes against its stored size and its compact
//! saved form (docs/benchmarks.md, "Memory per connected device"): the ratio the document cache
//! uses to estimate a live document's size (`docs::live_estimate`) comes from here, not a guess.
//!
//! dhat's allocator counts the heap a document holds: built the way the sync path builds a
//! new document (its changes applied to an empty one), and loaded from its saved form (the way
//! the cache brings back an idle document). Shift documents with 1 to 400 check-ins (one change
//! each, as devices write them), team documents with 10 to 200 members.
//!
//! Run: `cargo bench -p kith-server --bench doc_memory`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{ActorId, Automerge, Change, ReadDoc};
use kith_domain::doc::{shift, team};
use kith_domain::*;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The heap `make` leaves allocated in what it returns.
fn held<T>(make: impl FnOnce() -> T) -> (T, usize) {
    let before = dhat::HeapStats::get().curr_bytes;
    let v = make();
    (v, dhat::HeapStats::get().curr_bytes.saturating_sub(before))
}

fn shift_changes(checkins: usize) -> Vec<Change> {
    let (team, worker) = (TeamId::new(), MemberId::new());
    let now = Timestamp(1_800_000_000_000);
    let s = Shift::begin(team, worker, "measure", now, now + Secs::hours(8), Secs::minutes(30));
    let mut doc = Automerge::new().with_actor(ActorId::random());
    doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
    for i in 0..checkins {
        let mut c = CheckIn::new(CheckInStatus::Ok, Timestamp(now.0 + i as i64 * 60_000), worker, DeviceId::new());
        c.mood = Some(Rating::new(4, "mood").unwrap());
        doc.transact(|tx| shift::add_checkin(tx, &c)).map_err(|f| f.error).unwrap();
    }
    doc.get_changes(&[])
}

fn team_changes(members: usize) -> Vec<Change> {
    let t = Team {
        id: TeamId::new(),
        name: "Measure".into(),
        purpose: "memory".into(),
        phone: None,
        policy: Policy::default(),
        members: vec![Member::new(MemberId::new(), "Lead", Role::Lead)],
    };
    let mut doc = Automerge::new().with_actor(ActorId::random());
    doc.transact(|tx| team::init(tx, &t)).map_err(|f| f.error).unwrap();
    for i in 1..members {
        let m = Member::new(MemberId::new(), format!("Worker {i}"), Role::Member);
        doc.transact(|tx| team::upsert_member(tx, &m)).map_err(|f| f.error).unwrap();
    }
    doc.get_changes(&[])
}

/// One document: its sizes, and what it holds live built from its changes and loaded from saved.
struct Row {
    what: String,
    stored: usize,
    saved: usize,
    ops: u64,
    changes: u64,
    built: usize,
    loaded: usize,
}

fn measure(what: String, changes: Vec<Change>) -> Row {
    let stored: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    let (built, live_built) = held(|| {
        let mut d = Automerge::new();
        d.apply_changes(changes.clone()).unwrap();
        d
    });
    let saved = built.save();
    let (loaded, live_loaded) = held(|| Automerge::load(&saved).unwrap());
    drop(loaded);
    let st = built.stats();
    Row {
        what,
        stored,
        saved: saved.len(),
        ops: st.num_ops,
        changes: st.num_changes,
        built: live_built,
        loaded: live_loaded,
    }
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().file_name("/dev/null").build();
    let mut rows = Vec::new();
    for n in [1, 10, 50, 100, 400] {
        rows.push(measure(format!("shift, {n} check-ins"), shift_changes(n)));
    }
    for n in [10, 50, 200] {
        rows.push(measure(format!("team, {n} members"), team_changes(n)));
    }
    println!(
        "| document | stored bytes | saved bytes | ops | changes | live, built from its changes | live, loaded from saved | \
         estimate (`docs::live_estimate`) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let est = kith_server::docs::live_estimate_of(r.ops, r.changes);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} ({:+.0}%) |",
            r.what,
            r.stored,
            r.saved,
            r.ops,
            r.changes,
            r.built,
            r.loaded,
            est,
            (est as f64 / r.built as f64 - 1.0) * 100.0
        );
    }
}
