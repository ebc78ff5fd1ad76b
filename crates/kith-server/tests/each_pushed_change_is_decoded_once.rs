//! Expanding a change into its operations is a fair share of what a check-in costs the server:
//! authorisation and validation read the operations of the same decoded change instead of each
//! decoding it again, on a device's push and on the server's own edits (a lead's ack from the
//! browser). The count is process-wide (`kith_domain::change::decodes`, testing builds), so this
//! file holds one test and is a test binary of its own: in a shared one, another test's pushes
//! counted into it.

mod common;
use common::*;
use kith_domain::CheckInStatus;
use kith_domain::change::decodes;
use kith_proto::Outcome;
use kith_server::testing::TestServer;
use serde_json::json;

#[tokio::test]
async fn authorisation_and_validation_share_one_decoding_of_each_change() {
    let server = TestServer::start().await;
    let (lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;

    // One check-in on an existing shift: authorised, applied and validated, decoded once.
    let before = decodes();
    alice.checkin(shift, CheckInStatus::Ok, 10);
    let resp = alice.sync_docs(&[shift.uuid()]).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert_eq!(decodes() - before, 1, "one change, one decoding");

    // Three in one push: three decodings.
    let before = decodes();
    let support = alice.checkin(shift, CheckInStatus::Support, 20);
    alice.checkin(shift, CheckInStatus::Ok, 30);
    alice.checkin(shift, CheckInStatus::Ok, 40);
    let resp = alice.sync_docs(&[shift.uuid()]).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
    assert_eq!(decodes() - before, 3, "three changes, three decodings");

    // The server's own edit on a lead's behalf: its change is checked and validated, decoded once.
    let before = decodes();
    let r = lead.post_json(&format!("/v1/shifts/{shift}/checkins/{support}/ack"), json!({"reply": "coming"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(decodes() - before, 1, "the server's ack, one decoding");
}
