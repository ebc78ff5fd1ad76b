//! `/metrics` tells anyone who reads it how busy the server is, how many devices are connected
//! and which routes fail: it answers only a scraper with the operator's `metrics_token`
//! (`Authorization: Bearer`), and nobody when none is set. A device's own token is not enough.

use crate::common;
use common::*;
use kith_server::testing::TestServer;

const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

async fn get(server: &TestServer, bearer: Option<&str>) -> (u16, String) {
    let mut req = http().get(server.url("/metrics"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_monitoring_token_reads_the_metrics_and_nothing_else_does() {
    let server = TestServer::start_with(|c| c.metrics_token = Some(TOKEN.into())).await;
    let (_lead, alice) = team_of_two(&server).await;

    let (status, text) = get(&server, Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("kith_http_requests_total"), "{text}");

    for bearer in [None, Some("wrong"), Some(&TOKEN[1..]), Some(alice.token.as_str())] {
        let (status, body) = get(&server, bearer).await;
        assert_eq!(status, 401, "{bearer:?}: {body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["retryable"], false, "{body}");
        assert!(e["message"].as_str().unwrap().contains("metrics_token"), "{body}");
        assert!(!body.contains("kith_http_requests_total"));
    }
}

#[tokio::test]
async fn without_a_monitoring_token_nobody_reads_the_metrics() {
    let server = TestServer::start().await;
    let (_lead, alice) = team_of_two(&server).await;
    for bearer in [Some(alice.token.as_str()), Some("not-a-token")] {
        let (status, body) = get(&server, bearer).await;
        assert_eq!(status, 403, "{bearer:?}: {body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["code"], "metrics_off", "{body}");
        assert!(e["message"].as_str().unwrap().contains("KITH_METRICS_TOKEN"), "{body}");
    }
    // No credentials at all is 401, as for every endpoint that takes a bearer token (found by
    // schemathesis: a request missing its required Authorization header must be 401); the
    // message still says that the metrics are off.
    for bearer in [None, Some("")] {
        let (status, body) = get(&server, bearer).await;
        assert_eq!(status, 401, "{bearer:?}: {body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["code"], "unauthorized", "{body}");
        assert!(e["message"].as_str().unwrap().contains("metrics are off"), "{body}");
    }
}
