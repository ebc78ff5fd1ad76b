//! A text field's limit is one number of characters (Unicode code points), whatever the script: the
//! OpenAPI document's `maxLength` (which JSON Schema counts in code points) is exactly what the
//! server accepts, so a name of accented or emoji characters at the published limit is taken and
//! one character more is refused. (The server once counted bytes of UTF-8: "é" × 300 matched the
//! schema and was refused.)

mod common;
use automerge::ActorId;
use common::*;
use kith_server::testing::TestServer;
use serde_json::Value;

fn max_length(api: &Value, schema: &str, field: &str) -> usize {
    let v = &api["components"]["schemas"][schema]["properties"][field];
    v["maxLength"].as_u64().unwrap_or_else(|| panic!("{schema}.{field} publishes a maxLength: {v}")) as usize
}

#[tokio::test]
async fn a_multibyte_name_at_the_published_limit_is_taken_and_one_more_character_is_refused() {
    let server = TestServer::start().await;
    let api: Value = reqwest::get(server.url("/openapi.json")).await.unwrap().json().await.unwrap();
    let (team, lead_code) = server.create_team("North estate").await;
    let _lead = Dev::join(&server, &lead_code, "Sam").await;

    let name_max = max_length(&api, "JoinRequest", "name");
    let label_max = max_length(&api, "JoinRequest", "device_label");
    // 2 bytes of UTF-8 each, then 4 bytes (and 2 UTF-16 units) each.
    for ch in ["é", "😀"] {
        for (name, label, ok) in [
            (ch.repeat(name_max), ch.repeat(label_max), true),
            (ch.repeat(name_max + 1), "laptop".to_string(), false),
            ("Alice".to_string(), ch.repeat(label_max + 1), false),
        ] {
            let code = server.invite(team, kith_domain::Role::Member).await;
            let mut req = join_request(&code, "x", &ActorId::random());
            req.name = name.clone();
            req.device_label = label.clone();
            let resp = http().post(server.url("/v1/join")).json(&req).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            if ok {
                assert_eq!(status, 200, "{ch} × {name_max}: {body}");
            } else {
                assert_eq!(status, 400, "{ch} over the limit: {body}");
                let msg = body["message"].as_str().unwrap();
                assert!(msg.contains("characters"), "the refusal counts what the schema counts: {msg}");
            }
        }
    }
}
