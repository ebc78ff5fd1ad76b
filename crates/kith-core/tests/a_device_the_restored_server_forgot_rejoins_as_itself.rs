//! A device that joined after the server's last backup, when the server is restored from it: its
//! next sync is refused as unknown (401 `device_unknown`), which the core says (not "revoked"),
//! keeping everything; joining with a new invite re-joins it as the same member and device, and
//! what it kept reaches the server. As the desktop app and the CLI do (docs/operations.md).

use crate::common;

use common::{Peer, Server, T0, checkin, start};
use kith_domain::{CheckInStatus, Role};

#[tokio::test]
async fn a_device_the_restored_server_forgot_rejoins_as_itself_with_a_new_invite() {
    let mut server = Server::start().await;
    let (team, lead_code) = server.team("North estate").await;
    let mut lead = Peer::new("lead");
    lead.join(&server, &lead_code, "Lee Lead").await;
    let backup = server.back_up().await;

    // Alice joins after the backup and works.
    let mut alice = Peer::new("alice");
    let code = server.invite(team, Role::Member).await;
    let me = alice.join(&server, &code, "Alice Field").await.me.expect("joined");
    alice.write(&server, start("Visits", T0, 8)).await.unwrap();

    server.restore(&backup).await;

    // Her next check-in is saved; its sync is refused as unknown.
    alice.now = T0 + 60_000;
    let w = alice.write(&server, checkin(CheckInStatus::Ok, Some("after the restore"))).await.unwrap();
    assert!(!w.shared, "{w:?}");
    let st = alice.sync_state().clone();
    assert!(st.device_unknown && st.needs_attention && st.pending_changes > 0, "{st:?}");

    // A new invite: the same member and device, and everything reaches the server.
    let code = server.invite(team, Role::Member).await;
    let again = alice.join(&server, &code, "Alice Field").await.me.expect("re-joined");
    assert_eq!((again.member_id, again.device_id, again.team_id), (me.member_id, me.device_id, me.team_id));
    let st = alice.sync_state().clone();
    assert!(!st.device_unknown && !st.needs_attention && st.pending_changes == 0, "{st:?}");
}

#[tokio::test]
async fn a_device_joined_elsewhere_is_still_refused_a_second_join() {
    let server = Server::start().await;
    let (team, _) = server.team("North estate").await;
    let mut alice = Peer::new("alice");
    alice.join(&server, &server.invite(team, Role::Member).await, "Alice Field").await;
    let input = kith_api::input::JoinInput {
        server: Some("http://another.kith.test".into()),
        code: Some(server.invite(team, Role::Member).await),
        link: None,
        name: "Alice Field".into(),
    };
    let e = alice.ask(&server, kith_core::Command::Join(input)).await.expect_err("refused");
    assert_eq!(e.code, "already_joined", "{e:?}");
}
