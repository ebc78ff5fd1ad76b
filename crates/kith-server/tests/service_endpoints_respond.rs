//! Health, metrics and the OpenAPI document respond; responses are compressed when asked.

use crate::common;
use common::*;
use kith_server::testing::TestServer;

#[tokio::test]
async fn healthz_metrics_and_openapi_respond() {
    let server = TestServer::start_with(|c| c.metrics_token = Some("the-monitoring-token".into())).await;
    let (_lead, mut alice) = team_of_two(&server).await;
    alice.start_shift();
    alice.sync().await;

    let health: serde_json::Value = http().get(server.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");

    let metrics = http()
        .get(server.url("/metrics"))
        .bearer_auth("the-monitoring-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in
        ["kith_http_requests_total", "kith_sync_duration_seconds_bucket", "kith_documents", "kith_changes_stored_total"]
    {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }

    let api: serde_json::Value = http().get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/v1/sync",
        "/v1/join",
        "/v1/live",
        "/v1/board",
        "/v1/invites",
        "/healthz",
        "/metrics",
        "/v1/me",
        "/v1/shifts/{id}",
        "/v1/members/{id}/shifts",
        "/v1/shifts/{id}/checkins/{checkin}/ack",
        "/v1/health",
        "/v1/kudos",
    ] {
        assert!(api["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    for schema in [
        "ApiError",
        "JoinRequest",
        "JoinResponse",
        "BoardResponse",
        "InviteRequest",
        "MeResponse",
        "ShiftView",
        "CheckInView",
        "AckRequest",
        "HealthResponse",
        "WorkerHealth",
        "Kudos",
        "KudosRequest",
        "AlertView",
    ] {
        assert!(api["components"]["schemas"][schema].is_object(), "{schema} missing");
    }
    // The shared kith-api types are what the document describes, field by field.
    let shift = &api["components"]["schemas"]["ShiftView"]["properties"];
    for field in ["id", "worker", "worker_name", "checkins", "next_due", "due", "active"] {
        assert!(shift[field].is_object(), "ShiftView.{field} missing: {shift}");
    }
    let ack = &api["paths"]["/v1/shifts/{id}/checkins/{checkin}/ack"]["post"];
    assert!(ack["responses"]["403"].is_object() && ack["security"].is_array(), "{ack}");

    let raw = common::client().no_gzip().build().unwrap();
    let resp = raw.get(server.url("/openapi.json")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
}
