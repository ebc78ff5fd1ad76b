//! The server is restored from an older copy of its database: the devices notice (their feed
//! cursor and server heads are unknown to it), push back what it lost, and everyone converges.
//! A device that joined after the backup is told it is unknown (not revoked), keeps everything,
//! and with a new invite re-joins as the same member and pushes its shift; a device revoked
//! before the backup stays revoked and cannot take its identity back with an invite.

use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;
use kith_stories::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_push_back_what_a_restored_server_lost() {
    let mut server = TestServer::start().await;
    let (mut lead, mut members) = team_of(&server, &["alice", "bo"]).await;
    let mut bo = members.pop().unwrap();
    let mut alice = members.pop().unwrap();
    let dan_code = server.invite(lead.team, kith_domain::Role::Member).await;
    let mut dan = Device::join("dan", &server.base_url, &dan_code).await;
    for d in [&mut alice, &mut bo, &mut lead, &mut dan] {
        d.sync().await.unwrap();
    }
    assert!(server.revoke(dan.device).await, "dan's device is revoked before the backup");
    let a_shift = alice.start_shift("Rounds");
    let b_shift = bo.start_shift("Deliveries");
    let before_backup = alice.checkin(a_shift, CheckInStatus::Ok, at(10));
    alice.sync().await.unwrap();
    bo.sync().await.unwrap();
    lead.sync().await.unwrap();

    // The nightly backup.
    server.stop().await;
    let backup = server.back_up().await;
    server.start_again().await;
    for d in [&mut alice, &mut bo, &mut lead] {
        d.use_server(&server.base_url);
    }

    // A day of work after the backup, all of it synced, by a member who joined after it too...
    let carol_code = server.invite(lead.team, kith_domain::Role::Member).await;
    let mut carol = Device::join("carol", &server.base_url, &carol_code).await;
    carol.sync().await.unwrap();
    let c_shift = carol.start_shift("Night patrol");
    let carol_checkins: Vec<_> = (0..2).map(|i| carol.checkin(c_shift, CheckInStatus::Ok, at(60 + i * 30))).collect();
    carol.sync().await.unwrap();
    let lost_a: Vec<_> = (0..3).map(|i| alice.checkin(a_shift, CheckInStatus::Ok, at(40 + i * 30))).collect();
    let lost_b = bo.checkin(b_shift, CheckInStatus::Support, at(50));
    alice.sync().await.unwrap();
    bo.sync().await.unwrap();
    lead.sync().await.unwrap();
    let lost_ack = lead.ack(a_shift, lost_a[0].id, "Seen", at(130));
    lead.sync().await.unwrap();
    alice.sync().await.unwrap();

    // ...then the disk dies and the server is restored from last night's copy.
    server.stop().await;
    server.restore(&backup).await;
    server.start_again().await;
    for d in [&mut alice, &mut bo, &mut lead] {
        d.use_server(&server.base_url);
    }

    for d in [&mut carol, &mut dan] {
        d.use_server(&server.base_url);
    }

    // New work arrives at the restored server before everyone has healed it.
    let after = bo.checkin(b_shift, CheckInStatus::Ok, at(200));
    let late = carol.checkin(c_shift, CheckInStatus::Support, at(210));
    for _ in 0..2 {
        for d in [&mut bo, &mut alice, &mut lead] {
            d.sync().await.expect("sync against the restored server");
        }
    }

    // Carol's device is unknown to the restored server: told so (not "revoked"), and it keeps
    // everything. Dan's device stays revoked.
    let e = carol.sync().await.expect_err("the restored server does not know carol's device");
    assert!(e.device_unknown(), "told apart from a revoked device: {e:?}");
    assert!(!e.retryable() && e.to_string().contains("backup"), "{e}");
    assert!(carol.shift(c_shift).unwrap().checkin(late.id).is_some(), "carol's device keeps its shift");
    let e = dan.sync().await.expect_err("a revoked device stays refused");
    assert!(matches!(&e, kith_sync::SyncError::Unauthorized { .. }) && !e.device_unknown(), "{e:?}");

    // A revoked device cannot take its identity back with an invite, and its try uses nothing up.
    let once = server.invite_with(lead.team, kith_domain::Role::Member, std::time::Duration::from_secs(3600), 1).await;
    match dan.rejoin(&server.base_url, &once).await {
        Err(kith_sync::SyncError::Server { status: 409, code, .. }) => assert_eq!(code, "rejoin_refused"),
        other => panic!("a revoked device's identity is not handed over: {other:?}"),
    }
    assert!(dan.sync().await.is_err(), "dan's old token is still refused");
    // An invite of another team cannot bring carol's identity into it.
    let (_other_team, other_code) = server.create_team("Elsewhere").await;
    match carol.rejoin(&server.base_url, &other_code).await {
        Err(kith_sync::SyncError::Server { status: 409, code, .. }) => assert_eq!(code, "rejoin_other_team"),
        other => panic!("a re-join stays in its team: {other:?}"),
    }

    // With the lead's new invite carol re-joins as the same member and pushes her shift.
    carol.rejoin(&server.base_url, &once).await.expect("carol re-joins as herself");
    for _ in 0..2 {
        for d in [&mut carol, &mut bo, &mut alice, &mut lead] {
            d.sync().await.expect("sync after carol re-joined");
        }
    }

    // A brand-new device of the lead sees everything: the server itself has healed.
    let code = server.invite(lead.team, kith_domain::Role::Lead).await;
    let mut fresh = Device::join("lead-laptop", &server.base_url, &code).await;
    fresh.sync().await.unwrap();
    let a = fresh.shift(a_shift).expect("alice's shift on the new device");
    for c in std::iter::once(&before_backup).chain(lost_a.iter()) {
        assert_eq!(a.checkin(c.id), Some(c), "alice's check-in came back");
    }
    assert!(a.acks.contains(&lost_ack), "the lead's acknowledgement came back");
    let b = fresh.shift(b_shift).expect("bo's shift on the new device");
    assert_eq!(b.checkin(lost_b.id), Some(&lost_b));
    assert_eq!(b.checkin(after.id), Some(&after));
    assert_eq!(fresh.heads(a_shift), alice.heads(a_shift));
    assert_eq!(fresh.heads(b_shift), bo.heads(b_shift));
    let c = fresh.shift(c_shift).expect("carol's shift reached the team");
    for ci in carol_checkins.iter().chain([&late]) {
        assert_eq!(c.checkin(ci.id), Some(ci), "carol's check-in reached the team");
    }
    assert_eq!(c.worker, carol.member, "still carol's shift");
    assert_eq!(fresh.heads(c_shift), carol.heads(c_shift));
    let roster = fresh.team_doc();
    assert!(roster.members.iter().any(|m| m.id == carol.member && m.name == "carol"), "carol is on the roster");
    for d in [&mut alice, &mut bo, &mut lead, &mut carol] {
        assert_eq!(d.pending(), 0, "{} has nothing the server lacks", d.name);
    }
}
