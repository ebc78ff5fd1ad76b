//! The engine core's share of a check-in, with no storage and no network (docs/benchmarks.md,
//! "The phone web app"): `Core::handle` of a check-in command on an offline device, until the
//! persist effect is out, as the check-ins of one shift pile up (all of them waiting to sync).
//! The browser adds the IndexedDB commit; WebAssembly runs this slower than native.
//!
//!     cargo bench -p kith-core --bench core

use std::time::Instant;

use kith_api::input::{CheckInInput, StartShiftInput};
use kith_core::{Command, Core, CoreOptions, Effect, Event, Records, Write};
use kith_domain::{CheckInStatus, Timestamp};

fn main() {
    let n: usize = std::env::var("KITH_BENCH_CHECKINS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let t0 = 1_772_438_400_000i64;
    let mut stored = Records::default();
    let (mut core, effects) = Core::load(Records::default(), t0, CoreOptions::default(), 7).unwrap();
    let commit = |core: &mut Core, effects: Vec<Effect>, now: i64, stored: &mut Records| {
        let mut queue = effects;
        while let Some(e) = (!queue.is_empty()).then(|| queue.remove(0)) {
            if let Effect::Persist { task, writes } = e {
                stored.apply(&writes);
                queue.extend(core.handle(now, Event::Persisted { task }));
            }
        }
    };
    commit(&mut core, effects, t0, &mut stored);
    // A profile of its own (no server: an offline-only device keeps its shifts for itself).
    let profile = kith_core::Profile {
        version: 1,
        member_id: kith_domain::MemberId::new(),
        device_id: kith_domain::DeviceId::new(),
        team_id: kith_domain::TeamId::new(),
        name: "Bench".into(),
        created_at: Timestamp(t0),
    };
    stored.apply(&[Write::Meta { key: "profile".into(), value: serde_json::to_string(&profile).unwrap() }]);
    // Its team document, as the first sync would bring it.
    let mut repo = kith_core::MemRepo::load(stored.clone()).unwrap();
    let team = kith_domain::Team {
        id: profile.team_id,
        name: "Bench team".into(),
        purpose: String::new(),
        phone: None,
        policy: kith_domain::Policy::default(),
        members: vec![kith_domain::Member::new(profile.member_id, "Bench", kith_domain::Role::Member)],
    };
    kith_core::Repo::create_doc(&mut repo, profile.team_id.uuid(), "team", |tx| {
        kith_domain::doc::team::init(tx, &team).map_err(|e| kith_core::RepoError::Damaged(e.to_string()))
    })
    .unwrap();
    stored.apply(&repo.take_journal());
    let (mut core, effects) = Core::load(stored.clone(), t0, CoreOptions::default(), 7).unwrap();
    commit(&mut core, effects, t0, &mut stored);
    let start = Command::StartShift(StartShiftInput {
        purpose: Some("Bench".into()),
        planned_end: Timestamp(t0 + 8 * 3_600_000),
        interval_s: Some(3600),
        buddies: None,
    });
    let e = core.handle(t0, Event::Command { id: 1, command: start });
    assert!(!e.iter().any(|e| matches!(e, Effect::Reply { result: Err(_), .. })), "{e:?}");
    commit(&mut core, e, t0, &mut stored);

    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let now = t0 + 1000 * (i as i64 + 1);
        let cmd = Command::CheckIn(CheckInInput {
            status: CheckInStatus::Ok,
            mood: Some(4),
            confidence: None,
            note: Some("all fine".into()),
            note_visibility: None,
            lat: None,
            lon: None,
        });
        let t = Instant::now();
        let e = core.handle(now, Event::Command { id: 2 + i as u64, command: cmd });
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(e.iter().any(|e| matches!(e, Effect::Persist { .. })), "{e:?}");
        commit(&mut core, e, now, &mut stored);
    }
    // What one read of that shift document costs now.
    let mut repo = kith_core::MemRepo::load(stored.clone()).unwrap();
    let id = kith_core::Repo::list_docs(&repo, Some("shift")).unwrap()[0].id;
    let t = Instant::now();
    for _ in 0..10 {
        let doc = kith_core::Repo::doc(&mut repo, id).unwrap();
        std::hint::black_box(kith_domain::doc::shift::read(doc).unwrap());
    }
    println!("core: reading a shift document of {n} check-ins: {:.3} ms", t.elapsed().as_secs_f64() * 100.0);
    let t = Instant::now();
    for _ in 0..10 {
        std::hint::black_box(kith_core::sync::pending_change_count(&mut repo).unwrap());
    }
    println!("core: counting {n} pending changes: {:.3} ms", t.elapsed().as_secs_f64() * 100.0);
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((p / 100.0) * v.len() as f64).ceil() as usize - 1]
    };
    let (mut first, mut last) = (times[..n.min(50)].to_vec(), times[n.saturating_sub(50)..].to_vec());
    println!(
        "core: check-in command handled (native, {n} check-ins in one shift, all pending): p50 {:.3} ms, p99 {:.3} ms; first 50 p50 {:.3} ms, last 50 p50 {:.3} ms",
        pct(&mut times.clone(), 50.0),
        pct(&mut times, 99.0),
        pct(&mut first, 50.0),
        pct(&mut last, 50.0)
    );
}
