//! What applying one check-in's change to a cached shift document costs the server, against the
//! document's size (docs/benchmarks.md, issue 13's write → ack, "Automerge's apply of one
//! check-in: what it costs and why").
//!
//! A shift is written the way a device writes it (`shift::init`, then one transaction per
//! check-in with `shift::add_checkin`); the server's copy is built the way the sync path builds it
//! (the stored changes applied to an empty document) or loaded from its saved form (the way the
//! cache brings an idle document back). Each repetition applies the device's next check-in to a
//! fresh clone of the server's copy, the clone outside the timing, as `SyncService::apply_checked`
//! does (`doc.apply_changes([change.clone()])`). Medians of many repetitions. A second table
//! times what-ifs that show where the time goes (`what_ifs`).
//!
//! Run: `cargo bench -p kith-server --bench apply_checkin`
//! For a profile, one size over and over: `KITH_BENCH_APPLY_ONLY=1000 KITH_BENCH_APPLY_REPS=20000`
//! and run the bench binary under `perf record`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, Change, ObjType, ReadDoc};
use kith_domain::doc::shift;
use kith_domain::*;

fn checkin(i: usize, worker: MemberId, device: DeviceId) -> CheckIn {
    let mut c = CheckIn::new(CheckInStatus::Ok, Timestamp(T0.0 + i as i64 * 60_000), worker, device);
    c.mood = Some(Rating::new(4, "mood").unwrap());
    c
}

const T0: Timestamp = Timestamp(1_800_000_000_000);

/// A device's shift with `checkins` check-ins: the device's document and the shift's worker and
/// device.
fn device_shift(checkins: usize) -> (Automerge, MemberId, DeviceId) {
    let (team, worker, device) = (TeamId::new(), MemberId::new(), DeviceId::new());
    let s = Shift::begin(team, worker, "measure", T0, T0 + Secs::hours(8), Secs::minutes(30));
    let mut doc = Automerge::new().with_actor(ActorId::random());
    doc.transact(|tx| shift::init(tx, &s)).map_err(|f| f.error).unwrap();
    for i in 0..checkins {
        doc.transact(|tx| shift::add_checkin(tx, &checkin(i, worker, device))).map_err(|f| f.error).unwrap();
    }
    (doc, worker, device)
}

/// A device's shift with `checkins` check-ins, its changes, and the device's next check-in's change.
fn shift_with(checkins: usize) -> (Vec<Change>, Change) {
    let (mut doc, worker, device) = device_shift(checkins);
    let changes = doc.get_changes(&[]);
    doc.transact(|tx| shift::add_checkin(tx, &checkin(checkins, worker, device))).map_err(|f| f.error).unwrap();
    let next = doc.get_last_local_change().unwrap();
    (changes, next)
}

/// What-ifs, not Kith documents (validation would refuse them): where the apply's time goes.
/// The server's copy of a shift with `n` check-ins, and the next change written (1) as today
/// (`shift::add_checkin`), (2) as today but under a key that sorts before every other check-in's
/// (Automerge walks a map's ops up to the new key; a check-in's id is time-ordered, so today's
/// key sorts after all), (3) as one scalar under the check-in's key (one op instead of six), and
/// (4) `k` check-ins applied in one `apply_changes` call, per check-in.
fn what_ifs(n: usize, reps: usize) {
    let (mut dev, worker, device) = device_shift(n);
    let mut server = Automerge::new();
    server.apply_changes(dev.get_changes(&[])).unwrap();
    let base = dev.get_heads();
    let next_of = |dev: &Automerge, f: &dyn Fn(&mut automerge::transaction::Transaction<'_>)| {
        let mut d = dev.fork_at(&base).unwrap().with_actor(dev.get_actor().clone());
        let mut tx = d.transaction();
        f(&mut tx);
        tx.commit();
        d.get_last_local_change().unwrap()
    };
    let checkins =
        |tx: &automerge::transaction::Transaction<'_>| tx.get(automerge::ROOT, "checkins").unwrap().unwrap().1;
    let today = next_of(&dev, &|tx| shift::add_checkin(tx, &checkin(n, worker, device)).unwrap());
    let first_key = next_of(&dev, &|tx| {
        let o = tx.put_object(checkins(tx), "00000000-0000-7000-8000-000000000000", ObjType::Map).unwrap();
        tx.put(&o, "status", "ok").unwrap();
        tx.put(&o, "mood", 4_i64).unwrap();
        tx.put(&o, "device_time", T0.0 + n as i64 * 60_000).unwrap();
        tx.put(&o, "by", worker.to_string()).unwrap();
        tx.put(&o, "device", device.to_string()).unwrap();
    });
    let one_op = next_of(&dev, &|tx| {
        let v = format!("ok|4|{}|{worker}|{device}", T0.0 + n as i64 * 60_000);
        tx.put(checkins(tx), CheckInId::new().to_string(), v.into_bytes()).unwrap();
    });
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut batches = Vec::new();
    for k in [4, 16] {
        let before = dev.get_heads();
        for i in 0..k {
            dev.transact(|tx| shift::add_checkin(tx, &checkin(n + i, worker, device))).map_err(|f| f.error).unwrap();
        }
        batches.push(dev.get_changes(&before));
        dev = dev.fork_at(&before).unwrap().with_actor(dev.get_actor().clone());
    }
    let (b4, b16) = (batches[0].clone(), batches[1].clone());
    let t = time(
        reps,
        &mut [
            (&server, Box::new(|d: &mut Automerge| d.apply_changes([today.clone()]).unwrap())),
            (&server, Box::new(|d: &mut Automerge| d.apply_changes([first_key.clone()]).unwrap())),
            (&server, Box::new(|d: &mut Automerge| d.apply_changes([one_op.clone()]).unwrap())),
            (&server, Box::new(|d: &mut Automerge| d.apply_changes(b4.clone()).unwrap())),
            (&server, Box::new(|d: &mut Automerge| d.apply_changes(b16.clone()).unwrap())),
        ],
    );
    let (t_today, t_first, t_one) = (t[0], t[1], t[2]);
    let batched = [format!("{:.1}", us(t[3]) / 4.0), format!("{:.1}", us(t[4]) / 16.0)];
    println!("| {n} | {:.1} | {:.1} | {:.1} | {} |", us(t_today), us(t_first), us(t_one), batched.join(" / "));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A way of applying, timed on a fresh clone of its document each repetition.
type Variant<'a> = (&'a Automerge, Box<dyn FnMut(&mut Automerge) + 'a>);

/// The median time of each variant over `reps` repetitions, the variants taken in turn within
/// each repetition (so a burst of other work on the machine falls on all of them alike), each
/// on a fresh clone of its document made outside the timing.
fn time(reps: usize, variants: &mut [Variant<'_>]) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(reps); variants.len()];
    for _ in 0..reps {
        for (i, (doc, apply)) in variants.iter_mut().enumerate() {
            let mut d = (*doc).clone();
            let t = Instant::now();
            apply(&mut d);
            times[i].push(t.elapsed());
            black_box(&d);
        }
    }
    times.into_iter().map(median).collect()
}

fn reps_for(n: usize) -> usize {
    std::env::var("KITH_BENCH_APPLY_REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(if n >= 1000 {
        500
    } else {
        2000
    })
}

fn main() {
    let sizes: Vec<usize> = match std::env::var("KITH_BENCH_APPLY_ONLY") {
        Ok(s) => s.split(',').map(|n| n.trim().parse().expect("KITH_BENCH_APPLY_ONLY: sizes, e.g. 60,1000")).collect(),
        Err(_) => vec![10, 60, 200, 1000],
    };
    println!(
        "| check-ins in the shift | ops in the document | ops in one check-in | apply_changes([c.clone()]), built (µs) | \
         the same, loaded from saved (µs) | apply_changes(once(c)) with the change moved in (µs) | change.clone() (µs) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let (changes, next) = shift_with(n);
        let mut built = Automerge::new();
        built.apply_changes(changes).unwrap();
        let loaded = Automerge::load(&built.save()).unwrap();
        let reps = reps_for(n);
        // The change moved in, not cloned (its clone made outside the timing).
        let mut owned: Vec<Change> = (0..reps).map(|_| next.clone()).collect();
        let t = time(
            reps,
            &mut [
                (&built, Box::new(|d: &mut Automerge| d.apply_changes([next.clone()]).unwrap())),
                (&loaded, Box::new(|d: &mut Automerge| d.apply_changes([next.clone()]).unwrap())),
                (&built, Box::new(|d: &mut Automerge| d.apply_changes(std::iter::once(owned.pop().unwrap())).unwrap())),
            ],
        );
        let (cloned, from_saved, moved) = (t[0], t[1], t[2]);
        let mut clones = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            black_box(next.clone());
            clones.push(t.elapsed());
        }
        println!(
            "| {n} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2} |",
            built.stats().num_ops,
            next.len(),
            cloned.as_secs_f64() * 1e6,
            from_saved.as_secs_f64() * 1e6,
            moved.as_secs_f64() * 1e6,
            median(clones).as_secs_f64() * 1e6,
        );
    }
    if std::env::var("KITH_BENCH_APPLY_ONLY").is_ok() {
        return;
    }
    println!();
    println!(
        "| check-ins in the shift | today's check-in (µs) | the same under a key sorting first (µs) | \
         one op (µs) | 4 / 16 check-ins in one call, per check-in (µs) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in [10, 60, 200, 1000] {
        what_ifs(n, reps_for(n));
    }
}
