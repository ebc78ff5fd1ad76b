//! A revoked device is refused everywhere with 401 and a message saying what to do; its later
//! changes are never stored.

use crate::common;
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

/// The server keeps authenticated devices in memory; a revocation made by another process (the
/// `kith-server admin revoke` command, on the same database file while the server runs) must
/// still be honoured from the very next request on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_by_the_admin_command_is_honoured_on_the_next_request() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    alice.checkin(shift, CheckInStatus::Ok, 10);
    alice.sync().await;
    let seq = max_seq(&server).await;

    let mut args = server.admin_args();
    let device = alice.device.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kith-server"))
            .args({
                args.extend(["admin".into(), "revoke".into(), device]);
                args
            })
            .env_remove("KITH_DATA_DIR")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    alice.checkin(shift, CheckInStatus::Ok, 20);
    let resp = alice.post_sync(kith_proto::encode(&alice.request(vec![alice.push_for(shift.uuid())])).unwrap()).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<ApiError>().await.unwrap().code, "unauthorized");
    assert_eq!(alice.get("/v1/board").await.status(), 401);
    assert_eq!(max_seq(&server).await, seq, "nothing of the revoked device is stored");
}

/// A device revoked while its request is in flight: the transaction that would store its
/// changes checks the device first, so nothing of it is stored.
#[tokio::test]
async fn changes_of_a_device_revoked_meanwhile_are_not_stored() {
    use kith_server::storage::{AppendChanges, NewChange, StorageError};
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    let meta = server.storage().doc_meta(shift.uuid()).await.unwrap().unwrap();
    let append = |hash: u8| AppendChanges {
        meta: meta.clone(),
        create: false,
        changes: vec![NewChange {
            hash: vec![hash; 32],
            bytes: vec![1, 2, 3],
            actor: alice.actor.to_bytes().to_vec(),
            device: Some(alice.device),
        }],
        received_at: 0,
    };
    let storage = server.storage();
    assert!(storage.append_changes(append(1)).await.is_ok(), "not revoked yet");
    assert!(server.revoke(alice.device).await);
    let seq = max_seq(&server).await;
    assert_eq!(storage.append_changes(append(2)).await, Err(StorageError::Revoked));
    assert_eq!(max_seq(&server).await, seq);
}
