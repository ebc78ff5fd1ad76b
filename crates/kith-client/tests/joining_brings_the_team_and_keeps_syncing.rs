//! Joining with server and code, or with a kith://join link: the device gets its own
//! credential, the team arrives with the first sync, and the state says who I am.

use crate::common;

use common::{Device, Server};
use kith_client::{ClientError, JoinInput};
use kith_domain::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_joins_with_server_and_code() {
    let server = Server::start().await;
    let (team, code) = server.team("North estate").await;
    let lead = Device::new().await;
    let before = lead.client.state().await.unwrap();
    assert!(!before.joined);
    assert!(before.me.is_none());

    let state = lead.join(&server, &code, "Lee Lead").await;
    let me = state.me.expect("me");
    assert_eq!(me.team_id, team);
    assert_eq!(me.team_name, "North estate");
    assert_eq!(me.role, Role::Lead);
    assert_eq!(me.name, "Lee Lead");
    assert!(me.server.starts_with(&server.url), "{} vs {}", me.server, server.url);
    assert!(state.policy.is_some(), "the team's policy came with the first sync");
    assert_eq!(state.team.len(), 1);
    assert_eq!(state.sync.pending_changes, 0);
    assert!(state.shift.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_joins_with_a_link_and_a_reopened_client_still_knows_them() {
    let server = Server::start().await;
    let (team, _) = server.team("North estate").await;
    let code = server.invite(team, Role::Member).await;
    let link = kith_server::http::join_link(&server.url, &code);
    let worker = Device::new().await;
    let state = worker
        .client
        .join(JoinInput { server: None, code: None, link: Some(link), name: "  Alice Field ".into() })
        .await
        .unwrap();
    assert_eq!(state.me.as_ref().unwrap().role, Role::Member);
    assert_eq!(state.me.as_ref().unwrap().name, "Alice Field");

    // A second start of the app: same profile, and background sync starts by itself.
    let dir = worker.client.data_dir().to_path_buf();
    drop(worker.client);
    let again = kith_client::Client::open(&dir).await.unwrap();
    let state = again.state().await.unwrap();
    assert!(state.joined);
    assert_eq!(state.me.unwrap().team_name, "North estate");
    assert!(again.sync_handle().is_some(), "a joined device syncs in the background");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_twice_or_with_a_used_code_is_refused_plainly() {
    let server = Server::start().await;
    let (team, code) = server.team("North estate").await;
    let lead = Device::new().await;
    lead.join(&server, &code, "Lee Lead").await;

    let again = lead
        .client
        .join(JoinInput { server: Some(server.url.clone()), code: Some(code.clone()), link: None, name: "X".into() })
        .await
        .unwrap_err();
    assert!(matches!(again, ClientError::AlreadyJoined { .. }), "{again:?}");
    assert_eq!(again.code(), "already_joined");

    let other = Device::new().await;
    let used = other
        .client
        .join(JoinInput { server: Some(server.url.clone()), code: Some(code), link: None, name: "Bob".into() })
        .await
        .unwrap_err();
    assert!(!used.retryable(), "{used:?}");
    assert!(used.to_string().starts_with("could not join"), "{used}");
    assert!(!other.client.state().await.unwrap().joined, "a refused join leaves no profile");

    let _ = team;
    let bad = other
        .client
        .join(JoinInput { server: None, code: None, link: Some("https://example.org".into()), name: "Bob".into() })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_input");
    let empty = other
        .client
        .join(JoinInput { server: Some(server.url.clone()), code: Some("ABCD".into()), link: None, name: " ".into() })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), "invalid_input");
    // Plain HTTP to another computer is refused before anything is sent.
    let plain = other
        .client
        .join(JoinInput {
            server: None,
            code: None,
            link: Some("kith://join?server=http://kith.example.org&code=ABCD".into()),
            name: "Bob".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(plain.code(), "plain_http");
    assert!(!plain.retryable() && plain.to_string().contains("https://"), "{plain}");
    assert!(!other.client.state().await.unwrap().joined);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_an_unreachable_server_is_retryable_and_changes_nothing() {
    let mut server = Server::start().await;
    let (_, code) = server.team("North estate").await;
    server.stop().await;
    let d = Device::new().await;
    let e = d
        .client
        .join(JoinInput { server: Some(server.url.clone()), code: Some(code), link: None, name: "Alice".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "offline");
    assert!(e.retryable());
    assert!(!d.client.state().await.unwrap().joined);
}
