//! A lead chooses the webhook URL, so the server must not become their way into what only it can
//! reach. Loopback, private, link-local and other special-use targets are refused when the webhook
//! is set (unless the operator opts in), and again at delivery: a name that resolves to loopback
//! by then (DNS rebinding) gets nothing. A redirect is never followed.

use crate::common;
use common::*;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::storage::WebhookConfig;
use kith_server::testing::TestServer;
use serde_json::{Value, json};

const SECRET: &str = "a-long-random-webhook-secret";

/// A receiver on loopback that records the paths it is asked for; `/moved` redirects to `/hook`.
async fn receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g1 = got.clone();
    let g2 = got.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(move || async move {
                g1.lock().unwrap().push("/hook".to_string());
                StatusCode::OK
            }),
        )
        .route(
            "/moved",
            post(move |_h: HeaderMap| async move {
                g2.lock().unwrap().push("/moved".to_string());
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/hook")]).into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, got)
}

/// A team whose webhook was set (straight in storage, as if checked when the name pointed
/// elsewhere) to `url`, and an emergency in it, so alert events are queued for that URL.
async fn alert_for(server: &TestServer, url: &str) -> kith_domain::TeamId {
    let (team, lead_code) = server.create_team("North estate").await;
    server.storage().set_webhook(team, Some(WebhookConfig { url: url.into(), secret: SECRET.into() })).await.unwrap();
    let _lead = Dev::join(server, &lead_code, "Sam").await;
    let mut alice = Dev::join(server, &server.invite(team, Role::Member).await, "Alice").await;
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 8 * 3_600_000, Secs::minutes(30), vec![]);
    alice.checkin_at(shift, CheckInStatus::Emergency, now);
    alice.sync().await;
    team
}

#[tokio::test]
async fn a_private_target_is_refused_when_the_webhook_is_set() {
    let server = TestServer::start().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let lead = Dev::join(&server, &lead_code, "Sam").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.20/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0:8080/hook",
        "http://224.0.0.1/hook",
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]:8080/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::]/hook",
    ] {
        let resp = lead.put_json("/v1/webhook", json!({"url": url, "secret": SECRET})).await;
        assert_eq!(resp.status(), 400, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("webhook_allow_private"), "{url}: {body}");
        assert_eq!(server.storage().webhook(team).await.unwrap(), None, "{url} was stored");
    }
    // A public address is fine (an address, so the test needs no DNS).
    let resp = lead.put_json("/v1/webhook", json!({"url": "https://93.184.215.14/kith", "secret": SECRET})).await;
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_at_delivery_gets_nothing() {
    let (port, got) = receiver().await;
    let server = TestServer::start_manual().await;
    // The name resolves to loopback now; an address given as such is checked the same way.
    for url in [format!("http://localhost:{port}/hook"), format!("http://127.0.0.1:{port}/hook")] {
        let team = alert_for(&server, &url).await;
        assert_eq!(server.deliver_due().await, 0, "{url}");
        let log = server.storage().deliveries(team).await.unwrap();
        assert!(!log.is_empty());
        for d in &log {
            let err = d.last_error.clone().unwrap_or_default();
            assert!(err.contains("loopback") && err.contains("webhook_allow_private"), "{url}: {err}");
            assert_eq!(d.delivered_at, None);
        }
    }
    assert!(got.lock().unwrap().is_empty(), "the receiver on loopback was reached: {:?}", got.lock().unwrap());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (port, got) = receiver().await;
    // The receivers are on loopback: the operator allows that here.
    let server = TestServer::start_manual_with(|c| c.alerts.webhook_allow_private = true).await;
    let (team, lead_code) = server.create_team("North estate").await;
    let lead = Dev::join(&server, &lead_code, "Sam").await;
    let url = format!("http://127.0.0.1:{port}/moved");
    assert_eq!(lead.put_json("/v1/webhook", json!({"url": url, "secret": SECRET})).await.status(), 204);
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 8 * 3_600_000, Secs::minutes(30), vec![]);
    alice.checkin_at(shift, CheckInStatus::Emergency, now);
    alice.sync().await;

    assert_eq!(server.deliver_due().await, 0);
    let paths = got.lock().unwrap().clone();
    assert!(!paths.is_empty() && paths.iter().all(|p| p == "/moved"), "{paths:?}");
    let log = server.storage().deliveries(team).await.unwrap();
    assert!(log.iter().all(|d| d.last_error.as_deref().unwrap_or("").contains("redirect")), "{log:?}");
}
