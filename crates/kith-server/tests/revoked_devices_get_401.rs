//! A revoked device is refused everywhere with 401 and a message saying what to do; its later
//! changes are never stored.

mod common;
use common::*;
use kith_domain::CheckInStatus;
use kith_proto::ApiError;
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_revoked_device_gets_401_with_a_clear_message_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    assert!(server.revoke(alice.device).await);
    assert!(!server.revoke(alice.device).await, "already revoked");
    let seq = max_seq(&server).await;

    alice.checkin(shift, CheckInStatus::Ok, 30);
    let resp = alice.post_sync(kith_proto::encode(&alice.request(vec![alice.push_for(shift.uuid())])).unwrap()).await;
    assert_eq!(resp.status(), 401);
    let e: ApiError = resp.json().await.unwrap();
    assert_eq!(e.code, "unauthorized");
    assert_eq!(e.message, "This device's access was revoked. Ask a lead for a new invite and run `kith join`.");
    for path in ["/v1/board", "/v1/live"] {
        let resp = alice.get(path).await;
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(resp.json::<ApiError>().await.unwrap().code, "unauthorized");
    }
    let resp = http().get(server.url("/v1/board")).bearer_auth("made-up-token").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(max_seq(&server).await, seq);
    let devices = server.storage().devices(Some(alice.team)).await.unwrap();
    assert!(devices.iter().find(|d| d.id == alice.device).unwrap().revoked_at.is_some());
}
