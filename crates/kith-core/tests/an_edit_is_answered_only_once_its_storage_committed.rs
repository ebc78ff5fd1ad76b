//! A local edit is saved when the driver says its storage transaction committed: until then the
//! core holds its answer, and never sends the change to the server (a change the server holds
//! and the device lost would reuse its sequence number). A storage failure answers plainly (an
//! emergency loudly, with what to do), and the app starts over from what was stored.

use crate::common;

use common::{Peer, Server, T0, checkin, start, team_of_two};
use kith_core::{Effect, Event};
use kith_domain::CheckInStatus;

#[tokio::test]
async fn a_checkin_is_answered_after_its_commit_and_not_sent_before() {
    let server = Server::start().await;
    let (mut alice, _lead) = team_of_two(&server).await;
    alice.write(&server, start("Visits", T0, 8)).await.unwrap();
    let shift_doc = alice.state(&server).await.shift.unwrap().id.uuid();

    alice.hold_storage = true;
    let id = alice.send(&server, checkin(CheckInStatus::Ok, Some("on site"))).await;
    assert!(!alice.replies.contains_key(&id), "no answer before the storage committed");
    assert_eq!(alice.held.len(), 1, "one transaction for the check-in");

    // A sync meanwhile (the live channel poked) leaves the uncommitted change out.
    let before = alice.sent.len();
    alice.event(&server, Event::Poke).await;
    assert!(alice.sent.len() > before, "a sync went out");
    for req in &alice.sent[before..] {
        assert!(req.docs.iter().all(|d| d.id != shift_doc), "the uncommitted check-in was sent: {req:?}");
    }

    alice.commit_held(&server).await;
    let w = match alice.replies.remove(&id) {
        Some(Ok(kith_core::Reply::Write(w))) => w,
        other => panic!("{other:?}"),
    };
    assert!(w.shared, "committed, then shared with the server: {w:?}");
    assert_eq!(w.shift.checkins.len(), 1);
}

#[tokio::test]
async fn an_emergency_that_could_not_be_stored_says_so_and_nothing_of_it_is_sent() {
    let server = Server::start().await;
    let (mut alice, _lead) = team_of_two(&server).await;
    alice.write(&server, start("Visits", T0, 8)).await.unwrap();

    alice.hold_storage = true;
    let id = alice.send(&server, checkin(CheckInStatus::Emergency, Some("help"))).await;
    let (task, _) = alice.held.pop().unwrap();
    alice.hold_storage = false;
    alice.event(&server, Event::PersistFailed { task, error: "QuotaExceededError".into() }).await;
    let err = match alice.replies.remove(&id) {
        Some(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    assert!(err.message.starts_with("YOUR EMERGENCY WAS NOT SAVED"), "{}", err.message);
    assert!(err.message.contains("QuotaExceededError") && err.message.contains("Phone"), "{}", err.message);
    assert_eq!(alice.reloads.len(), 1, "the driver is told to start over from storage");

    // Opened again from storage: no emergency, nothing pending, nothing of it ever sent.
    let mut alice = Peer::over("alice", alice.stored.clone(), T0 + 1000);
    alice.pump(&server).await;
    let state = alice.state(&server).await;
    assert_eq!(state.shift.unwrap().checkins.len(), 0);
    assert_eq!(state.sync.pending_changes, 0);
}

#[tokio::test]
async fn opening_a_new_device_persists_its_identity_first() {
    let (core, effects) = kith_core::Core::load(Default::default(), T0, Default::default(), 1).unwrap();
    let persisted: Vec<_> = effects.iter().filter(|e| matches!(e, Effect::Persist { .. })).collect();
    assert_eq!(persisted.len(), 1, "{effects:?}");
    let Effect::Persist { writes, .. } = persisted[0] else { unreachable!() };
    let mut records = kith_core::Records::default();
    records.apply(writes);
    let (again, _) = kith_core::Core::load(records, T0, Default::default(), 1).unwrap();
    let (mut a, mut b) = (core, again);
    assert_eq!(
        kith_core::Repo::actor_id(a.repo()),
        kith_core::Repo::actor_id(b.repo()),
        "the same actor id after a reload: one device, one actor"
    );
}
