//! Kudos (a wave to a teammate) go out on the live channel to the target member's connections
//! only, are never stored in a document, stay inside the team, and are rate limited per sender.

use crate::common;
use common::*;
use kith_domain::Role;
use kith_server::testing::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn kudos_reach_the_target_members_streams_and_nobody_elses() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let bob = Dev::join(&server, &server.invite(lead.team, Role::Member).await, "Bob").await;
    let mut alice_live = open_live(&alice).await;
    // Alice on a second device (the browser): both of her connections get it.
    let mut alice_again = open_live(&alice).await;
    let mut bob_live = open_live(&bob).await;
    let mut lead_live = open_live(&lead).await;
    let seq = max_seq(&server).await;

    let resp = lead.post_json("/v1/kudos", json!({"to": alice.member})).await;
    assert_eq!(resp.status(), 204);
    for events in [&mut alice_live, &mut alice_again] {
        let k = next_live(events, "kudos", |_| true).await;
        assert_eq!(k["from"], lead.member.to_string());
        assert_eq!(k["from_name"], "Sam");
        assert_eq!(k["to"], alice.member.to_string());
        assert!(k["at"].as_i64().unwrap() > 0);
    }

    // Then kudos for Bob and for the lead: the first kudos each of them sees is their own, so
    // Alice's never reached them.
    assert_eq!(alice.post_json("/v1/kudos", json!({"to": bob.member})).await.status(), 204);
    assert_eq!(bob.post_json("/v1/kudos", json!({"to": lead.member})).await.status(), 204);
    let k = next_live(&mut bob_live, "kudos", |_| true).await;
    assert_eq!((k["to"].as_str(), k["from_name"].as_str()), (Some(bob.member.to_string().as_str()), Some("Alice")));
    let k = next_live(&mut lead_live, "kudos", |_| true).await;
    assert_eq!((k["to"].as_str(), k["from_name"].as_str()), (Some(lead.member.to_string().as_str()), Some("Bob")));
    // And Alice, who sent Bob's, sees no echo of it: her next kudos is a new one for her.
    assert_eq!(bob.post_json("/v1/kudos", json!({"to": alice.member})).await.status(), 204);
    let k = next_live(&mut alice_live, "kudos", |_| true).await;
    assert_eq!(k["from_name"], "Bob");

    // Nothing was written into any document.
    assert_eq!(max_seq(&server).await, seq);
}

#[tokio::test]
async fn kudos_stay_inside_the_team_and_bad_requests_are_refused() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let (_, other_code) = server.create_team("South estate").await;
    let eve = Dev::join(&server, &other_code, "Eve").await;
    let cases = [
        (json!({"to": eve.member}), 404, "member_unknown"),
        (json!({"to": uuid::Uuid::now_v7()}), 404, "member_unknown"),
        (json!({"to": lead.member}), 400, "kudos_to_self"),
        (json!({"to": "Alice"}), 400, "malformed_json"),
        (json!({}), 400, "malformed_json"),
    ];
    for (body, status, code) in cases {
        let resp = lead.post_json("/v1/kudos", body.clone()).await;
        assert_eq!(resp.status().as_u16(), status, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], code, "{body}");
    }
    let resp = lead.post_raw("/v1/kudos", "{\"to\":").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(eve.post_json("/v1/kudos", json!({"to": alice.member})).await.status(), 404);
}

#[tokio::test]
async fn kudos_are_rate_limited_per_sender_on_the_server_clock() {
    let server = TestServer::start_manual_with(|c| {
        c.kudos_rate.burst = 3;
        c.kudos_rate.replenish_ms = 60_000;
    })
    .await;
    let (lead, alice) = team_of_two(&server).await;
    for _ in 0..3 {
        assert_eq!(lead.post_json("/v1/kudos", json!({"to": alice.member})).await.status(), 204);
    }
    let resp = lead.post_json("/v1/kudos", json!({"to": alice.member})).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    let e: Value = resp.json().await.unwrap();
    assert_eq!((e["code"].as_str(), e["retryable"].as_bool()), (Some("rate_limited"), Some(true)));
    // Another sender has their own budget.
    assert_eq!(alice.post_json("/v1/kudos", json!({"to": lead.member})).await.status(), 204);
    // A minute later the lead may send one more, and only one.
    server.clock().advance(60_000);
    assert_eq!(lead.post_json("/v1/kudos", json!({"to": alice.member})).await.status(), 204);
    assert_eq!(lead.post_json("/v1/kudos", json!({"to": alice.member})).await.status(), 429);
}
