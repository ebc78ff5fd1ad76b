//! A lead invites people from the console (code, `kith://join` link and a QR code of it), sees
//! the team's devices (who, label, joined, last seen) and revokes one: its very next request is
//! refused and its live channel closes at once. Members, other teams and bad ids are refused.

use crate::common;
use common::*;
use futures_util::StreamExt;
use kith_server::testing::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn an_invite_comes_with_its_link_as_a_qr_code() {
    let server = TestServer::start().await;
    let (sam, alice) = team_of_two(&server).await;
    let r = sam.post_json("/v1/invites", json!({"role": "member", "uses": 3})).await;
    assert_eq!(r.status(), 200);
    let inv: Value = r.json().await.unwrap();
    let link = inv["link"].as_str().unwrap();
    assert!(link.starts_with("kith://join?server=") && link.ends_with(inv["code"].as_str().unwrap()), "{link}");
    let svg = inv["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    assert_eq!(svg, kith_server::console::qr_svg(link).unwrap(), "the QR code of exactly that link");
    assert_eq!((inv["role"].as_str(), inv["uses"].as_u64()), (Some("member"), Some(3)));
    // Three people can join with it.
    for name in ["Bo", "Cy", "Di"] {
        Dev::join(&server, inv["code"].as_str().unwrap(), name).await;
    }
    assert_eq!(alice.post_json("/v1/invites", json!({"role": "member"})).await.status(), 403);
}

#[tokio::test]
async fn a_lead_sees_the_teams_devices_and_a_revoked_one_is_cut_off_at_once() {
    let server = TestServer::start().await;
    let (sam, alice) = team_of_two(&server).await;
    let mut alice_live = open_live(&alice).await;

    let (status, v) = sam.get_json("/v1/devices").await;
    assert_eq!(status, 200);
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let a = devices.iter().find(|d| d["member_name"] == "Alice").unwrap();
    assert_eq!((a["label"].as_str(), a["this_device"].as_bool()), (Some("Alice's laptop"), Some(false)));
    assert!(a["joined_at"].is_i64() && a["last_seen"].is_i64(), "{a}");
    assert!(a["revoked_at"].is_null());
    assert_eq!(devices.iter().find(|d| d["member_name"] == "Sam").unwrap()["this_device"], true);

    let r = sam.post_json(&format!("/v1/devices/{}/revoke", alice.device), json!({})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let a = v["devices"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(a["member_name"], "Alice", "revoked devices are listed last");
    assert!(a["revoked_at"].is_i64());
    // Her live stream ends now, without waiting for her next request...
    while let Some(e) = alice_live.next().await {
        assert_ne!(e.event, "changed", "no more pokes after the revocation");
    }
    // ...and her next request is refused.
    assert_eq!(alice.get("/v1/board").await.status(), 401);
    // Revoking again changes nothing and says so plainly.
    let r = sam.post_json(&format!("/v1/devices/{}/revoke", alice.device), json!({})).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn only_a_lead_of_the_same_team_revokes_and_never_their_own_device() {
    let server = TestServer::start().await;
    let (sam, alice) = team_of_two(&server).await;
    let (_, other_code) = server.create_team("Elsewhere").await;
    let stranger = Dev::join(&server, &other_code, "Stranger").await;
    let revoke = |d: &Dev| format!("/v1/devices/{}/revoke", d.device);

    assert_eq!(alice.get("/v1/devices").await.status(), 403);
    let r = alice.post_json(&revoke(&sam), json!({})).await;
    assert_eq!(r.status(), 403);
    let r = stranger.post_json(&revoke(&alice), json!({})).await;
    assert_eq!(r.status(), 404, "another team's lead learns nothing about the device");
    let r = sam.post_json(&revoke(&stranger), json!({})).await;
    assert_eq!(r.status(), 404);
    let r = sam.post_json(&revoke(&sam), json!({})).await;
    assert_eq!((r.status().as_u16(), r.json::<Value>().await.unwrap()["code"].clone()), (400, json!("revoke_self")));
    let r = sam.post_json("/v1/devices/nope/revoke", json!({})).await;
    assert_eq!(r.status(), 400);
    // Everyone still works.
    for d in [&sam, &alice, &stranger] {
        assert_eq!(d.get("/v1/board").await.status(), 200, "{}", d.name);
    }
}
