//! What a device refuses to write, the server refuses to store: a shift whose planned end is not
//! after its start, and an extension whose new end is not after when it was made or after the
//! start (`shift::init` and `shift::extend` refuse them on the device; the server's readers took
//! any times in range, so a forged push could move a shift's planned end before it began, and the
//! deadline engine would raise "past its planned end" at once). An extension with no reason was
//! refused already (the text limits). Each is refused with a message, nothing of it is stored, and
//! a good extension after them goes through.

use crate::common;
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use common::*;
use kith_domain::doc::shift;
use kith_domain::{ExtensionId, Secs, Shift};
use kith_proto::{Kind, Outcome};
use kith_server::testing::TestServer;

const HOUR: i64 = 3_600_000;

#[tokio::test]
async fn a_shift_ending_before_it_starts_is_refused() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let seq = max_seq(&server).await;
    let s = Shift::begin(alice.team, alice.member, "Rounds", t0(), t0() + Secs::hours(8), Secs::minutes(30));
    let mut doc = automerge::Automerge::new().with_actor(alice.actor.clone());
    let started = t0().0;
    doc.transact(|tx| {
        shift::init(tx, &s).unwrap();
        tx.put(ROOT, "planned_end", started - HOUR)
    })
    .map_err(|f| f.error)
    .unwrap();
    alice.docs.insert(s.id.uuid(), doc);
    alice.kinds.insert(s.id.uuid(), Kind::Shift);
    let resp = alice.sync_docs(&[s.id.uuid()]).await;
    assert_invalid(&resp.docs[0].outcome, "later than the start of the shift");
    assert!(server_doc(&server, s.id.uuid()).await.is_none(), "not stored");
    assert_eq!(max_seq(&server).await, seq, "nothing stored");
}

#[tokio::test]
async fn an_extension_with_no_reason_or_no_later_end_is_refused_and_a_good_one_goes_through() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let id = alice.start_shift();
    alice.sync().await;
    let stored = server_doc(&server, id.uuid()).await.unwrap().get_heads();
    let seq = max_seq(&server).await;
    let start = t0().0;
    // (new end, made at, reason, what the refusal says)
    let cases = [
        (start + 9 * HOUR, start + HOUR, "   ", "cannot be empty"),
        (start + HOUR, start + 2 * HOUR, "the last meter is far", "later than now"),
        (start - HOUR, start - 2 * HOUR, "the last meter is far", "later than the start of the shift"),
    ];
    for (new_end, at, reason, says) in cases {
        let before = alice.doc(id.uuid()).clone();
        let doc = alice.docs.get_mut(&id.uuid()).unwrap();
        doc.transact(|tx| {
            let exts = tx.get(ROOT, "extensions")?.unwrap().1;
            let o = tx.put_object(&exts, ExtensionId::new().to_string(), ObjType::Map)?;
            tx.put(&o, "new_end", new_end)?;
            tx.put(&o, "at", at)?;
            tx.put(&o, "reason", reason)
        })
        .map_err(|f| f.error)
        .unwrap();
        let resp = alice.sync_docs(&[id.uuid()]).await;
        assert_invalid(&resp.docs[0].outcome, says);
        assert_eq!(server_doc(&server, id.uuid()).await.unwrap().get_heads(), stored, "{says}: unchanged");
        assert_eq!(max_seq(&server).await, seq, "{says}: nothing stored");
        alice.docs.insert(id.uuid(), before);
    }
    // The same through the device's own write function goes through.
    let e = kith_domain::Extension {
        id: ExtensionId::new(),
        new_end: t0() + Secs::hours(9),
        reason: "the last meter is far".into(),
        at: t0() + Secs::hours(1),
    };
    let doc = alice.docs.get_mut(&id.uuid()).unwrap();
    doc.transact(|tx| shift::extend(tx, &e)).map_err(|f| f.error).unwrap();
    let resp = alice.sync_docs(&[id.uuid()]).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert_eq!(server_doc(&server, id.uuid()).await.unwrap().get_heads(), alice.doc(id.uuid()).get_heads());
}
