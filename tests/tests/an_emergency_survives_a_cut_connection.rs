//! An emergency raises its alert whatever happens to the connection that carries it: the faulty
//! proxy cuts the sync at a random point (seeded) — mid-request, right after the whole request
//! (the server is still handling it), or mid-answer — and whenever the emergency was stored, its
//! alert exists once the server's deadline engine has caught up with its store, with no retry and
//! no restart. After the device retries there is exactly one alert for it.
//!
//! `KITH_STORY_CUTS=<n>` (default 24) sets the number of cuts, `KITH_STORY_SEED=<n>` the seed.

use kith_domain::doc::shift;
use kith_domain::{CheckInId, CheckInStatus, ShiftEnd, ShiftId, Timestamp};
use kith_server::testing::TestServer;
use kith_stories::proxy::{Fault, FaultyProxy};
use kith_stories::*;

/// A small deterministic generator (xorshift64*): the same seed cuts at the same places.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether the server stored the check-in (read from its database).
async fn stored(server: &TestServer, s: ShiftId, c: CheckInId) -> bool {
    let Some(loaded) = server.storage().load_doc(s.uuid()).await.unwrap() else { return false };
    let mut doc = match &loaded.snapshot {
        Some((_, bytes)) => automerge::Automerge::load(bytes).unwrap(),
        None => automerge::Automerge::new(),
    };
    for ch in loaded.changes {
        doc.load_incremental(&ch.bytes).unwrap();
    }
    shift::read(&doc).is_ok_and(|sh| sh.checkin(c).is_some())
}

async fn emergency_alerts(server: &TestServer, c: CheckInId) -> usize {
    let all = server.storage().alerts(None, false, 100_000).await.unwrap();
    all.iter().filter(|a| a.checkin == Some(c) && a.kind.as_str() == "emergency").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_anywhere_never_loses_an_emergencys_alert() {
    let seed = env("KITH_STORY_SEED", 0x9E37_79B9_7F4A_7C15);
    let cuts = env("KITH_STORY_CUTS", 24);
    println!("seed {seed}, {cuts} cuts");
    let mut rng = Rng(seed | 1);
    let server = TestServer::start().await;
    let (_lead, mut members) = team_of(&server, &["alice"]).await;
    let mut alice = members.remove(0);
    alice.sync().await.unwrap();
    let proxy = FaultyProxy::start(server.addr).await;
    let (mut stored_then_cut, mut kinds) = (0, [0usize; 3]);
    for round in 0..cuts {
        let s = alice.start_shift("Rounds");
        let c = alice.checkin(s, CheckInStatus::Emergency, at(round as i64)).id;
        // The request is a few hundred bytes to a few KB: cut anywhere in it or in the answer.
        let (kind, fault) = match rng.below(3) {
            0 => (0, Fault::CutRequestAfter(rng.below(1500) as usize)),
            1 => (1, Fault::CutWhenRequestSent),
            _ => (2, Fault::CutResponseAfter(rng.below(1500) as usize)),
        };
        kinds[kind] += 1;
        proxy.set_fault(fault);
        // A new client: faults apply to new connections.
        alice.use_server(&proxy.url());
        let answered = alice.sync().await.is_ok();
        server.app().settled().await;
        if stored(&server, s, c).await {
            assert_eq!(emergency_alerts(&server, c).await, 1, "round {round}, {fault:?}: stored, so its alert exists");
            if !answered {
                stored_then_cut += 1;
            }
        }
        proxy.set_fault(Fault::None);
        alice.use_server(&proxy.url());
        alice.sync().await.expect("the retry goes through");
        server.app().settled().await;
        assert_eq!(emergency_alerts(&server, c).await, 1, "round {round}, {fault:?}: exactly one alert after a retry");
        let end = ShiftEnd { at: Timestamp(at(round as i64).0 + 1), note: None };
        alice.store.change_doc(s.uuid(), |tx| shift::end(tx, &end).map_err(StoryError::from)).expect("end the shift");
        alice.sync().await.unwrap();
    }
    println!(
        "cuts by kind (mid-request, after the request, mid-answer): {kinds:?}; stored then cut: {stored_then_cut}"
    );
    assert!(stored_then_cut > 0, "some connection was cut after its emergency was stored");
}
