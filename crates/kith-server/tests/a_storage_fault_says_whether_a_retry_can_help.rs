//! A storage fault that a retry can help (the database busy or locked, a full disk, a lost
//! connection) answers 503 `storage_unavailable`, retryable (in a sync, the document's own
//! `busy` refusal, retryable); one that no retry can help (a corrupt database, "database disk image
//! is malformed", a broken constraint) answers 500 `storage_fault`, not retryable, so the operator
//! is told to look instead of clients retrying for ever. The faults are real SQLite errors,
//! classified by the storage layer, injected at the storage boundary under a real server
//! (`testing::faults`); PostgreSQL's classes are checked by code in `storage::postgres`.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::{ApiError, Outcome, RejectCode, SyncResponse};
use kith_server::testing::TestServer;
use kith_server::testing::faults::Fault;

const FAULTS: [(Fault, bool); 5] = [
    (Fault::Busy, true),
    (Fault::Locked, true),
    (Fault::DiskFull, true),
    (Fault::Malformed, false),
    (Fault::Constraint, false),
];

fn expect_error(fault: Fault, retryable: bool, status: u16, text: &str) {
    let e: ApiError = serde_json::from_str(text).unwrap_or_else(|err| panic!("{fault:?}: {status} {text}: {err}"));
    if retryable {
        assert_eq!((status, e.code.as_str(), e.retryable), (503, "storage_unavailable", true), "{fault:?}: {e:?}");
    } else {
        assert_eq!((status, e.code.as_str(), e.retryable), (500, "storage_fault", false), "{fault:?}: {e:?}");
        assert!(e.message.contains("retrying will not help"), "{fault:?}: {e:?}");
    }
}

#[tokio::test]
async fn a_json_write_answers_503_for_a_passing_fault_and_500_for_a_lasting_one() {
    let server = TestServer::start_with_storage_faults(|_| {}).await;
    let (_lead, alice) = team_of_two(&server).await;
    let faults = server.storage_faults();
    let path = format!("/v1/members/{}", alice.member);
    for (i, (fault, retryable)) in FAULTS.into_iter().enumerate() {
        faults.fail_appends(fault);
        let resp = alice.put_json(&path, serde_json::json!({ "phone": format!("+44 7700 90012{i}") })).await;
        let status = resp.status().as_u16();
        expect_error(fault, retryable, status, &resp.text().await.unwrap());
        faults.heal();
    }
    let resp = alice.put_json(&path, serde_json::json!({ "phone": "+44 7700 900129" })).await;
    assert_eq!(resp.status().as_u16(), 200, "healed");
}

#[tokio::test]
async fn a_sync_is_refused_busy_for_a_passing_fault_and_500_for_a_lasting_one() {
    let server = TestServer::start_with_storage_faults(|_| {}).await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    let faults = server.storage_faults();
    for (fault, retryable) in FAULTS {
        alice.checkin(shift, CheckInStatus::Ok, 5);
        faults.fail_appends(fault);
        let body = kith_proto::encode(&alice.request(vec![alice.push_for(shift.uuid())])).unwrap();
        let resp = alice.post_sync(body).await;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        if retryable {
            assert_eq!(status, 200, "{fault:?}");
            let r: SyncResponse = kith_proto::decode(&bytes).unwrap();
            assert!(
                matches!(&r.docs[0].outcome, Outcome::Rejected { code: RejectCode::Busy, .. }),
                "{fault:?}: {:?}",
                r.docs[0].outcome
            );
        } else {
            expect_error(fault, retryable, status, &String::from_utf8_lossy(&bytes));
        }
        faults.heal();
    }
    // Healed: the same push is stored.
    let body = kith_proto::encode(&alice.request(vec![alice.push_for(shift.uuid())])).unwrap();
    let r: SyncResponse = kith_proto::decode(&alice.post_sync(body).await.bytes().await.unwrap()).unwrap();
    assert_eq!(r.docs[0].outcome, Outcome::Accepted);
}
