//! Joining: an invite gives a device its own credential; wrong, expired and used-up codes, a
//! reused actor id and malformed requests are refused with JSON errors; redemption is rate-limited.

use crate::common;
use automerge::ActorId;
use common::*;
use kith_domain::Role;
use kith_proto::ApiError;
use kith_server::storage::InviteRecord;
use kith_server::testing::TestServer;

async fn try_join(server: &TestServer, code: &str, actor: &ActorId) -> (u16, serde_json::Value) {
    let resp = http().post(server.url("/v1/join")).json(&join_request(code, "Alice", actor)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn a_lead_and_a_member_join_and_get_their_own_credentials() {
    let server = TestServer::start().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let lead = Dev::join(&server, &lead_code, "Sam").await;
    assert_eq!(lead.role, "lead");
    assert_eq!(lead.team, team);
    let member_code = server.invite(team, Role::Member).await;
    let alice = Dev::join(&server, &member_code, "Alice").await;
    assert_eq!(alice.role, "member");
    assert_ne!(alice.token, lead.token);
    assert!(alice.token.len() >= 43, "a high-entropy token");

    // Both appear in the team document (written by the server) and on the board.
    let team_doc = server_doc(&server, team.uuid()).await.unwrap();
    let t = kith_domain::doc::team::read(&team_doc).unwrap();
    let names: Vec<_> = t.members.iter().map(|m| (m.name.as_str(), m.role)).collect();
    assert_eq!(names, vec![("Alice", Role::Member), ("Sam", Role::Lead)]);

    // The stored token is a hash, never the token (seen in the SQLite file).
    if let Ok(db) = std::fs::read(server.db_path()) {
        assert!(!db.windows(alice.token.len()).any(|w| w == alice.token.as_bytes()));
    }
}

#[tokio::test]
async fn wrong_expired_and_used_up_codes_and_a_taken_actor_are_refused() {
    let server = TestServer::start().await;
    let (team, lead_code) = server.create_team("North estate").await;

    let (status, body) = try_join(&server, "NOPE-NOPE-NOPE-NOPE", &ActorId::random()).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("invite_unknown")));
    assert!(body["message"].as_str().unwrap().contains("ask a lead"));

    let expired = "EXPD-EXPD-EXPD-EXPD";
    server
        .storage()
        .create_invite(InviteRecord {
            code_hash: kith_server::auth::invite_hash(expired),
            team,
            role: Role::Member,
            expires_at: kith_server::now_ms() - 1,
            uses_left: 5,
            created_at: kith_server::now_ms() - 10_000,
        })
        .await
        .unwrap();
    let (status, body) = try_join(&server, expired, &ActorId::random()).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("invite_expired")));

    let actor = ActorId::random();
    let (status, _) = try_join(&server, &lead_code, &actor).await;
    assert_eq!(status, 200);
    let (status, body) = try_join(&server, &lead_code, &ActorId::random()).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("invite_used_up")));

    let two_uses = server.invite_with(team, Role::Member, std::time::Duration::from_secs(60), 2).await;
    let (status, body) = try_join(&server, &two_uses, &actor).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("actor_taken")), "an actor belongs to one device");
    // The refused attempt did not use the invite up.
    assert_eq!(try_join(&server, &two_uses.to_lowercase(), &ActorId::random()).await.0, 200);
    assert_eq!(try_join(&server, &two_uses, &ActorId::random()).await.0, 200);
    assert_eq!(try_join(&server, &two_uses, &ActorId::random()).await.0, 403);

    let resp = http().post(server.url("/v1/join")).body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let e: ApiError = resp.json().await.unwrap();
    assert_eq!(e.code, "malformed_json");
    let resp = http()
        .post(server.url("/v1/join"))
        .json(&kith_proto::JoinRequest { actor: "zz".into(), ..join_request(&two_uses, "A", &actor) })
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<ApiError>().await.unwrap().code, "bad_actor");
}

#[tokio::test]
async fn invite_redemption_is_rate_limited() {
    let server = TestServer::start_with(|c| {
        c.join_rate.burst = 3;
        c.join_rate.replenish_ms = 60_000;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(try_join(&server, "WRNG-WRNG-WRNG-WRNG", &ActorId::random()).await);
    }
    assert_eq!(statuses.iter().map(|s| s.0).collect::<Vec<_>>(), vec![403, 403, 403, 429, 429]);
    assert_eq!(statuses[4].1["code"], "rate_limited");
    assert_eq!(statuses[4].1["retryable"], true);
}

#[tokio::test]
async fn leads_create_invites_and_members_cannot() {
    let server = TestServer::start().await;
    let (lead, alice) = team_of_two(&server).await;
    let resp = lead
        .http
        .post(server.url("/v1/invites"))
        .bearer_auth(&lead.token)
        .json(&serde_json::json!({"role": "member", "expires_in_s": 3600, "uses": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let inv: serde_json::Value = resp.json().await.unwrap();
    let code = inv["code"].as_str().unwrap();
    let link = inv["link"].as_str().unwrap();
    assert!(link.starts_with("kith://join?server=http%3A%2F%2F127.0.0.1%3A"), "{link}");
    assert!(link.ends_with(&format!("&code={code}")));
    assert!(inv["expires_at"].as_i64().unwrap() > kith_server::now_ms());
    let bob = Dev::join(&server, code, "Bob").await;
    assert_eq!(bob.team, lead.team);

    let resp = alice
        .http
        .post(server.url("/v1/invites"))
        .bearer_auth(&alice.token)
        .json(&serde_json::json!({"role": "lead"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<ApiError>().await.unwrap().code, "forbidden");
}
