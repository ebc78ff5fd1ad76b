//! `/healthz` answers 200 only when the server can store what it is sent: a nearly full disk or a
//! storage that cannot commit a write makes it `503` with what is wrong, so a load balancer takes
//! the instance out of rotation instead of sending it check-ins it cannot keep.

use kith_server::testing::TestServer;
use serde_json::Value;

async fn healthz(server: &TestServer) -> (u16, Value) {
    let resp = reqwest::get(server.url("/healthz")).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_working_server_is_healthy() {
    let server = TestServer::start().await;
    let (status, body) = healthz(&server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["status"].as_str(), body["storage"].as_str()), (Some("ok"), Some("ok")));
    assert!(body.get("problem").is_none());
}

#[tokio::test]
async fn a_disk_with_too_little_free_space_fails_the_health_check() {
    // More free space than any disk has: this one is "nearly full".
    let server = TestServer::start_with(|c| c.limits.min_free_disk_bytes = u64::MAX).await;
    let (status, body) = healthz(&server).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!((body["status"].as_str(), body["storage"].as_str()), (Some("failing"), Some("failing")));
    let problem = body["problem"].as_str().unwrap();
    assert!(problem.contains("bytes free") && problem.contains("min_free_disk_bytes"), "{problem}");
}

#[tokio::test]
async fn storage_that_cannot_commit_fails_the_health_check_and_recovers_with_it() {
    let mut server = TestServer::start_with(|c| c.limits.health_probe_interval_ms = 0).await;
    assert_eq!(healthz(&server).await.0, 200);
    // The storage stops taking writes (its writer is gone) while the server still answers.
    server.storage().close().await;
    let (status, body) = healthz(&server).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["problem"].as_str().unwrap().contains("cannot commit a write"), "{body}");
    // A server started again on the same data works, and says so.
    server.restart().await;
    assert_eq!(healthz(&server).await.0, 200);
}
