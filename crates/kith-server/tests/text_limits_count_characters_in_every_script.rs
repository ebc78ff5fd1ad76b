//! A text field's limit is one number of characters (Unicode code points), whatever the script: the
//! OpenAPI document's `maxLength` (which JSON Schema counts in code points) is exactly what the
//! server accepts, so a name of accented or emoji characters at the published limit is taken and
//! one character more is refused. (The server once counted bytes of UTF-8: "é" × 300 matched the
//! schema and was refused.)

use crate::common;
use automerge::ActorId;
use common::*;
use kith_server::testing::TestServer;
use serde_json::{Value, json};

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

fn min_length(api: &Value, schema: &str, field: &str) -> usize {
    let v = &api["components"]["schemas"][schema]["properties"][field];
    v["minLength"].as_u64().unwrap_or_else(|| panic!("{schema}.{field} publishes a minLength: {v}")) as usize
}

/// The webhook's URL and secret count characters as their schema does. (The server once counted
/// bytes: a URL with "é" in its path at the published 2,000 characters was refused as too long,
/// and a secret of 8 "é" — 16 bytes, 8 characters — was taken though the schema asks for 16.)
#[tokio::test]
async fn a_webhook_url_and_secret_count_characters_as_the_schema_does() {
    let server = TestServer::start().await;
    let api: Value = reqwest::get(server.url("/openapi.json")).await.unwrap().json().await.unwrap();
    let (team, lead_code) = server.create_team("North estate").await;
    let lead = Dev::join(&server, &lead_code, "Sam").await;
    let url_max = max_length(&api, "WebhookRequest", "url");
    let secret = "a-long-random-webhook-secret";
    // A public address, so the test needs no DNS.
    let base = "https://93.184.215.14/";
    let url_of = |chars: usize| format!("{base}{}", "é".repeat(chars - base.len()));

    let resp = lead.put_json("/v1/webhook", json!({"url": url_of(url_max), "secret": secret})).await;
    assert_eq!(resp.status(), 204, "a URL of {url_max} characters: {}", resp.text().await.unwrap());
    let stored = server.storage().webhook(team).await.unwrap().expect("stored");
    assert_eq!(kith_domain::limits::char_count(&stored.url), url_max);

    let secret_min = min_length(&api, "WebhookRequest", "secret");
    let secret_max = max_length(&api, "WebhookRequest", "secret");
    let refusals = [
        (url_of(url_max + 1), secret.to_string()),
        (url_of(30), "é".repeat(secret_min - 1)),
        (url_of(30), "😀".repeat(secret_max + 1)),
    ];
    for (url, secret) in refusals {
        let resp = lead.put_json("/v1/webhook", json!({"url": url, "secret": secret})).await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            status,
            400,
            "{} characters of URL, {} of secret: {body}",
            url.chars().count(),
            secret.chars().count()
        );
        assert!(body["message"].as_str().unwrap().contains("characters"), "{body}");
        // Nothing changed: the webhook set first is still there.
        assert_eq!(server.storage().webhook(team).await.unwrap(), Some(stored.clone()));
    }
}

/// Every text limit the OpenAPI document publishes is the domain's number of characters for it,
/// so outside clients, the UI (generated from the same table) and the server agree.
#[tokio::test]
async fn the_published_text_limits_are_the_domains() {
    use kith_domain::limits;
    let server = TestServer::start().await;
    let api: Value = reqwest::get(server.url("/openapi.json")).await.unwrap().json().await.unwrap();
    for (schema, field, limit) in [
        ("JoinRequest", "name", limits::MEMBER_NAME),
        ("JoinRequest", "device_label", limits::DEVICE_LABEL),
        ("ResolveRequest", "note", limits::ALERT_NOTE),
        ("AckRequest", "reply", limits::ACK_REPLY),
    ] {
        assert_eq!(max_length(&api, schema, field), limit.max_chars, "{schema}.{field}");
        let pattern = api["components"]["schemas"][schema]["properties"][field]["pattern"].as_str();
        assert_eq!(pattern, Some(limit.pattern()), "{schema}.{field}");
    }
}
