//! Every JSON request body is an object. serde also builds a struct from a JSON array of its
//! fields in order, so `PUT /v1/members/{id}` took `[null, null]` (found by schemathesis, which
//! reads the OpenAPI document: bodies there are objects). Each operation that takes a JSON body
//! refuses the array form of a body it would accept, with `malformed_json`, and stores nothing.

use crate::common;
use common::*;
use kith_domain::Role;
use kith_server::testing::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn every_json_body_is_an_object_never_an_array() {
    let server = TestServer::start_with(|c| c.alerts.webhook_allow_private = true).await;
    let (sam, alice) = team_of_two(&server).await;
    let (team, _) = (sam.team, ());
    let code = server.invite(team, Role::Member).await;
    let seq = max_seq(&server).await;
    let alice_path = format!("/v1/members/{}", alice.member);
    // (method, path, the array form of a body the operation accepts as an object)
    let cases: Vec<(&str, String, Value)> = vec![
        ("PUT", alice_path.clone(), json!([null, null])),
        ("PUT", alice_path, json!(["member", [], "+44 7700 900123"])),
        ("PUT", "/v1/team/policy".into(), json!([600, 7200, 1800, 300, 300, [[0, "leads"]]])),
        ("POST", "/v1/kudos".into(), json!([alice.member])),
        ("POST", "/v1/invites".into(), json!(["member", 3600, 1])),
        ("PUT", "/v1/webhook".into(), json!(["https://127.0.0.1:9/kith", "0123456789abcdef0123"])),
        ("POST", "/v1/join".into(), json!([code, "Mallory", "phone", "00ff"])),
    ];
    for (method, path, body) in cases {
        let rb = match method {
            "PUT" => sam.http.put(server.url(&path)),
            _ => sam.http.post(server.url(&path)),
        };
        let r = rb.bearer_auth(&sam.token).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let code = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["code"].as_str().map(str::to_string));
        assert_eq!((status, code.as_deref()), (400, Some("malformed_json")), "{method} {path} {body}: {text}");
    }
    assert_eq!(max_seq(&server).await, seq, "nothing stored");
    let (_, t) = sam.get_json("/v1/team").await;
    assert_eq!(t["members"].as_array().map(Vec::len), Some(2), "nobody joined");
}
