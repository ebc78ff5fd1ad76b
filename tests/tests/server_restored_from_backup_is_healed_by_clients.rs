//! The server is restored from an older copy of its database: the devices notice (their feed
//! cursor and server heads are unknown to it), push back what it lost, and everyone converges.

use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;
use kith_stories::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_push_back_what_a_restored_server_lost() {
    let mut server = TestServer::start().await;
    let (mut lead, mut members) = team_of(&server, &["alice", "bo"]).await;
    let mut bo = members.pop().unwrap();
    let mut alice = members.pop().unwrap();
    for d in [&mut alice, &mut bo, &mut lead] {
        d.sync().await.unwrap();
    }
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

    // A day of work after the backup, all of it synced...
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

    // New work arrives at the restored server before everyone has healed it.
    let after = bo.checkin(b_shift, CheckInStatus::Ok, at(200));
    for _ in 0..2 {
        for d in [&mut bo, &mut alice, &mut lead] {
            d.sync().await.expect("sync against the restored server");
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
    for d in [&mut alice, &mut bo, &mut lead] {
        assert_eq!(d.pending(), 0, "{} has nothing the server lacks", d.name);
    }
}
