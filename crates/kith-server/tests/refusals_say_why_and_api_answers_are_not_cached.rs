//! A refused request says which of its problems it is: no token, a token this server does not
//! know, or a revoked device (each with what to do), and a rate-limited join says when to come
//! back. API answers, which carry tokens and people's check-ins, are never kept by a cache.

use crate::common;
use common::*;
use kith_proto::ApiError;
use kith_server::testing::TestServer;

#[tokio::test]
async fn a_missing_an_unknown_and_a_revoked_token_are_told_apart() {
    let server = TestServer::start().await;
    let (_lead, alice) = team_of_two(&server).await;

    let resp = http().get(server.url("/v1/board")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let e: ApiError = resp.json().await.unwrap();
    assert_eq!(e.code, "unauthorized");
    assert!(e.message.contains("no device token") && e.message.contains("Authorization: Bearer"), "{}", e.message);

    let resp =
        http().get(server.url("/v1/board")).header("authorization", "Basic YWxpY2U6c2VjcmV0").send().await.unwrap();
    let e: ApiError = resp.json().await.unwrap();
    assert!(e.message.contains("no device token"), "{}", e.message);

    let resp = http().get(server.url("/v1/board")).bearer_auth("made-up-token").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let e: ApiError = resp.json().await.unwrap();
    assert_eq!(e.code, "device_unknown", "told apart from a revoked device: the device offers to re-join");
    assert!(
        e.message.contains("does not know this device") && e.message.contains("backup") && e.message.contains("invite"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("revoked"), "{}", e.message);

    assert!(server.revoke(alice.device).await);
    let resp = alice.get("/v1/board").await;
    let e: ApiError = resp.json().await.unwrap();
    assert!(e.message.contains("revoked"), "{}", e.message);
}

#[tokio::test]
async fn a_rate_limited_join_says_when_to_come_back() {
    let server = TestServer::start_with(|c| {
        c.join_rate.burst = 1;
        c.join_rate.replenish_ms = 60_000;
    })
    .await;
    let actor = automerge::ActorId::random();
    let first =
        http().post(server.url("/v1/join")).json(&join_request("NOPE-NOPE", "Eve", &actor)).send().await.unwrap();
    assert_eq!(first.status(), 403);
    let second =
        http().post(server.url("/v1/join")).json(&join_request("NOPE-NOPE", "Eve", &actor)).send().await.unwrap();
    assert_eq!(second.status(), 429);
    let wait: u64 = second.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let e: ApiError = second.json().await.unwrap();
    assert_eq!((e.code.as_str(), e.retryable), ("rate_limited", true));
}

#[tokio::test]
async fn api_answers_are_never_cached() {
    let server = TestServer::start().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let join = http()
        .post(server.url("/v1/join"))
        .json(&join_request(&lead_code, "Sam", &automerge::ActorId::random()))
        .send()
        .await
        .unwrap();
    assert_eq!(join.status(), 200);
    assert_eq!(join.headers()["cache-control"], "no-store", "the join answer carries the device's token");
    let _ = team;
    let token = join.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    for path in ["/v1/me", "/v1/board", "/v1/alerts", "/v1/health", "/v1/nothing-here"] {
        let resp = http().get(server.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(resp.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{path}");
    }
    let resp = http().get(server.url("/v1/board")).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store", "a refusal too");
    let resp = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_join_limit_counts_each_client_and_ignores_what_clients_claim() {
    let join = |server: &TestServer, forwarded: &'static str| {
        let url = server.url("/v1/join");
        async move {
            let req = join_request("NOPE-NOPE", "Eve", &automerge::ActorId::random());
            let resp = http().post(url).header("x-forwarded-for", forwarded).json(&req).send().await.unwrap();
            resp.status().as_u16()
        }
    };
    let limited = |c: &mut kith_server::Config| {
        c.join_rate.burst = 1;
        c.join_rate.replenish_ms = 60_000;
    };
    // The proxy (here: the test, on loopback) appends the client's address.
    let server = TestServer::start_with(|c| {
        limited(c);
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    assert_eq!(join(&server, "203.0.113.5").await, 403);
    assert_eq!(join(&server, "203.0.113.6").await, 403, "another client has its own budget");
    // A client cannot escape its limit by claiming another address further left.
    assert_eq!(join(&server, "198.51.100.1, 203.0.113.5").await, 429);
    // Without a trusted proxy the header means nothing: one peer, one budget.
    let server = TestServer::start_with(limited).await;
    assert_eq!(join(&server, "203.0.113.5").await, 403);
    assert_eq!(join(&server, "203.0.113.6").await, 429);
}
