//! Webhooks: a real HTTP receiver on loopback that is first unreachable, then failing, then up.
//! Every alert event is delivered, signatures verify, retries back off exponentially, the queue
//! survives a server restart, and no event arrives under two different idempotency keys.

use crate::common;
use common::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use kith_domain::{CheckInStatus, Role, Secs};
use kith_server::testing::{MANUAL_START_MS, TestServer};
use serde_json::{Value, json};

const T: i64 = MANUAL_START_MS;
const SECRET: &str = "a-long-random-webhook-secret";

#[derive(Default)]
struct Receiver {
    up: AtomicBool,
    /// Every request: (idempotency key, signature header, body, answered 2xx).
    got: Mutex<Vec<(String, String, String, bool)>>,
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let up = r.up.load(Ordering::SeqCst);
    r.got.lock().unwrap().push((
        h("x-kith-delivery"),
        h("x-kith-signature"),
        String::from_utf8_lossy(&body).into(),
        up,
    ));
    if up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}

fn verify(body: &str, sig: &str) -> bool {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let Some(hex) = sig.strip_prefix("sha256=") else { return false };
    mac.verify_slice(&hex::decode(hex).unwrap_or_default()).is_ok()
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_alert_once_signed() {
    // A port with nobody listening yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The receiver is on loopback: the operator allows private targets (refused by default).
    let mut server = TestServer::start_manual_with(|c| c.alerts.webhook_allow_private = true).await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    let url = format!("http://127.0.0.1:{port}/hook");
    assert_eq!(alice.put_json("/v1/webhook", json!({"url": url, "secret": SECRET})).await.status(), 403);
    assert_eq!(lead.put_json("/v1/webhook", json!({"url": url, "secret": "short"})).await.status(), 400);
    assert_eq!(lead.put_json("/v1/webhook", json!({"url": url, "secret": SECRET})).await.status(), 204);

    // An emergency (two steps at once), claimed and resolved: four events.
    let now = alice.device_now();
    let shift = alice.start_shift_at(now, now + 8 * 3_600_000, Secs::minutes(30), vec![]);
    alice.checkin_at(shift, CheckInStatus::Emergency, now);
    alice.sync().await;
    lead.sync().await;
    let alerts: Value = lead.get("/v1/alerts").await.json().await.unwrap();
    let id = alerts["alerts"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(lead.post_json(&format!("/v1/alerts/{id}/claim"), json!({})).await.status(), 200);
    let resp = lead.post_json(&format!("/v1/alerts/{id}/resolve"), json!({"note": "Ambulance called"})).await;
    assert_eq!(resp.status(), 200);

    // Unreachable: every attempt fails and is scheduled 5 s later.
    assert_eq!(server.deliver_due().await, 0);
    let log = server.storage().deliveries(team).await.unwrap();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|d| d.attempts == 1 && d.next_attempt_at == T + 5_000 && d.last_error.is_some()));
    assert_eq!(server.deliver_due().await, 0, "nothing is due again before the backoff");
    assert_eq!(server.storage().deliveries(team).await.unwrap()[0].attempts, 1);

    // The receiver comes up but fails (503): the next delay doubles to 10 s.
    let receiver = Arc::new(Receiver::default());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let app = axum::Router::new().route("/hook", post(hook)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    server.clock().set(T + 5_000);
    assert_eq!(server.deliver_due().await, 0);
    let log = server.storage().deliveries(team).await.unwrap();
    assert!(log.iter().all(|d| d.attempts == 2 && d.next_attempt_at == T + 15_000));
    assert_eq!(receiver.got.lock().unwrap().len(), 4);

    // The kith server restarts: the queue is in its database.
    server.restart().await;
    receiver.up.store(true, Ordering::SeqCst);
    server.clock().set(T + 15_000 - 1);
    assert_eq!(server.deliver_due().await, 0);
    server.clock().set(T + 15_000);
    assert_eq!(server.deliver_due().await, 4);
    server.clock().set(T + 3_600_000);
    assert_eq!(server.deliver_due().await, 0, "delivered ones are never sent again");

    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 8);
    let mut bodies_by_key: HashMap<String, Vec<String>> = HashMap::new();
    for (key, sig, body, _) in &got {
        assert!(verify(body, sig), "the signature of {key} verifies");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["id"], key.as_str(), "the body carries its idempotency key");
        bodies_by_key.entry(key.clone()).or_default().push(body.clone());
    }
    // Four events, each under one key; retries resend the very same body.
    assert_eq!(bodies_by_key.len(), 4);
    assert!(bodies_by_key.values().all(|b| b.len() == 2 && b[0] == b[1]));
    let accepted: Vec<&String> = got.iter().filter(|g| g.3).map(|g| &g.0).collect();
    assert_eq!(accepted.len(), 4);
    let events: Vec<String> = bodies_by_key
        .values()
        .map(|b| serde_json::from_str::<Value>(&b[0]).unwrap()["event"].as_str().unwrap().to_string())
        .collect();
    for e in ["alert.step", "alert.claimed", "alert.resolved"] {
        assert!(events.iter().any(|x| x == e), "{e} delivered");
    }
    let log = server.storage().deliveries(team).await.unwrap();
    assert!(log.iter().all(|d| d.delivered_at == Some(T + 15_000) && d.attempts == 3));
}
