//! The OpenAPI document is what outside clients (and schemathesis) are written against, so it must
//! say every answer an operation can give: 401 for every operation that needs a token, 400 for
//! every operation that takes input (a body, a path or a query parameter), and the limits of the
//! input it takes, so a client can stay inside them (the same numbers as the domain's table of
//! limits, which the server enforces).

use kith_domain::limits::{ACK_REPLY, ALERT_NOTE, DEVICE_LABEL, MEMBER_NAME};
use kith_server::testing::TestServer;
use serde_json::Value;

fn operations(api: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

/// A component schema, following a `$ref`.
fn schema<'a>(api: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str() {
        Some(r) => &api["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => s,
    }
}

/// The schema of a parameter of an operation.
fn param(op: &Value, name: &str) -> Value {
    let p = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name);
    p.unwrap_or_else(|| panic!("no {name}"))["schema"].clone()
}

#[tokio::test]
async fn every_operation_documents_401_and_400_where_they_can_happen() {
    let server = TestServer::start().await;
    let api: Value = reqwest::get(server.url("/openapi.json")).await.unwrap().json().await.unwrap();
    let mut missing = Vec::new();
    for (method, path, op) in operations(&api) {
        let responses = op["responses"].as_object().unwrap();
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured && !responses.contains_key("401") {
            missing.push(format!("{method} {path}: 401"));
        }
        let takes_input = op.get("requestBody").is_some()
            || op["parameters"].as_array().is_some_and(|p| p.iter().any(|p| p["in"] == "path" || p["in"] == "query"));
        if takes_input && !responses.contains_key("400") {
            missing.push(format!("{method} {path}: 400"));
        }
    }
    assert!(missing.is_empty(), "undocumented answers:\n{}", missing.join("\n"));
}

#[tokio::test]
async fn input_limits_are_in_the_schema() {
    let server = TestServer::start().await;
    let api: Value = reqwest::get(server.url("/openapi.json")).await.unwrap().json().await.unwrap();
    let op = |method: &str, path: &str| api["paths"][path][method].clone();

    let days = param(&op("get", "/v1/health"), "days");
    assert_eq!((days["minimum"].as_i64(), days["maximum"].as_i64()), (Some(1), Some(366)), "{days}");
    let limit = param(&op("get", "/v1/members/{id}/shifts"), "limit");
    assert_eq!((limit["minimum"].as_i64(), limit["maximum"].as_i64()), (Some(1), Some(200)), "{limit}");
    let all = param(&op("get", "/v1/alerts"), "all");
    assert_eq!(all["type"], "boolean", "{all}");

    let body = |method: &str, path: &str| {
        let o = op(method, path);
        schema(&api, &o["requestBody"]["content"]["application/json"]["schema"]).clone()
    };
    let resolve = body("post", "/v1/alerts/{id}/resolve");
    let note = &resolve["properties"]["note"];
    let max = |l: kith_domain::limits::TextLimit| Some(l.max_chars as i64);
    assert_eq!((note["minLength"].as_i64(), note["maxLength"].as_i64()), (Some(1), max(ALERT_NOTE)), "{note}");
    let invite = body("post", "/v1/invites");
    let role = &invite["properties"]["role"];
    let roles: Vec<&str> = role["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(roles, ["member", "lead"], "{role}");
    let uses = &invite["properties"]["uses"];
    assert_eq!((uses["minimum"].as_i64(), uses["maximum"].as_i64()), (Some(1), Some(1000)), "{uses}");
    let expires = &invite["properties"]["expires_in_s"];
    assert_eq!((expires["minimum"].as_i64(), expires["maximum"].as_i64()), (Some(1), Some(90 * 24 * 3600)));
    let webhook = body("put", "/v1/webhook");
    assert_eq!(webhook["properties"]["secret"]["minLength"].as_i64(), Some(16), "{webhook}");
    let ack = body("post", "/v1/shifts/{id}/checkins/{checkin}/ack");
    assert_eq!(ack["properties"]["reply"]["maxLength"].as_i64(), max(ACK_REPLY), "{ack}");
    let join = body("post", "/v1/join");
    assert_eq!(join["properties"]["name"]["maxLength"].as_i64(), max(MEMBER_NAME), "{join}");
    assert_eq!(join["properties"]["device_label"]["maxLength"].as_i64(), max(DEVICE_LABEL), "{join}");
    assert_eq!(join["properties"]["name"]["minLength"].as_i64(), Some(1), "{join}");

    // Which characters a text field may hold, as the domain's table of limits says.
    let pattern = |v: &Value| v["pattern"].as_str().map(str::to_string);
    for (field, limit) in [
        (&join["properties"]["name"], MEMBER_NAME),
        (&join["properties"]["device_label"], DEVICE_LABEL),
        (note, ALERT_NOTE),
        (&ack["properties"]["reply"], ACK_REPLY),
    ] {
        assert_eq!(pattern(field).as_deref(), Some(limit.pattern()), "{}: {field}", limit.what);
    }
    // An actor id is whole bytes of hex.
    let actor = regex::Regex::new(&pattern(&join["properties"]["actor"]).unwrap()).unwrap();
    assert!(actor.is_match("0aff") && !actor.is_match("0af") && !actor.is_match(&"00".repeat(33)));

    // The join's 429 says when to come back.
    let too_many = &op("post", "/v1/join")["responses"]["429"];
    assert!(too_many["headers"]["Retry-After"].is_object(), "{too_many}");
}
