//! Two `kith-server` processes on one PostgreSQL database behave as one server for the deadline
//! engine and webhooks: exactly one of them (the holder of the duty lease) fires each escalation
//! step and delivers each webhook, and when that one is SIGKILLed in the middle of an escalation,
//! the other takes over: no step is missed and none is fired or delivered twice.
//!
//! Real processes (the built binary), a real webhook receiver on loopback counting what it
//! accepted. The lease and the chain are short settings, so the story takes a few seconds; every
//! wait is for an event (a log line, a delivery), bounded only to fail instead of hanging.

use crate::common;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use kith_domain::{Role, Secs};
use kith_server::testing::{Backend, TestServer};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

const SECRET: &str = "a-long-random-webhook-secret";
/// The step whose first delivery the receiver holds unanswered: the holder is killed then.
const HELD_STEP: u64 = 2;
/// The chain of an alert past the planned end: the worker at once, then the policy's steps.
const STEPS: u64 = 5;

/// The receiver: every delivery it answered 2xx, by key; the held step's first request is never
/// answered (its sender dies meanwhile), and the test hears of it.
struct Receiver {
    accepted: Mutex<HashMap<String, usize>>,
    steps: watch::Sender<Vec<u64>>,
    held: Mutex<Option<mpsc::UnboundedSender<()>>>,
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let key = headers.get("x-kith-delivery").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let step = v["step"].as_u64();
    if step == Some(HELD_STEP) {
        let first = r.held.lock().unwrap().take();
        if let Some(tell) = first {
            let _ = tell.send(());
            std::future::pending::<()>().await;
        }
    }
    *r.accepted.lock().unwrap().entry(key).or_default() += 1;
    if let Some(s) = step {
        r.steps.send_modify(|v| v.push(s));
    }
    StatusCode::OK
}

/// The instances' settings: a short lease, a fast ticker, webhooks to the loopback receiver.
const LEASE_SETTINGS: &[(&str, &str)] = &[
    ("KITH_ALERTS__LEASE_MS", "600"),
    ("KITH_ALERTS__TICK_MS", "100"),
    ("KITH_ALERTS__WEBHOOK_ALLOW_PRIVATE", "true"),
    ("KITH_ALERTS__WEBHOOK_TIMEOUT_S", "30"),
];

/// Which of the two says first that it holds the duty lease (0: `a`), from their log lines.
async fn duty_holder(a: &mut Instance, b: &mut Instance) -> usize {
    let duty = |l: &Option<String>| l.as_deref().is_some_and(|l| l.contains("holds the duty lease"));
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            tokio::select! {
                l = a.lines.recv() => if duty(&l) { return 0 },
                l = b.lines.recv() => if duty(&l) { return 1 },
            }
        }
    })
    .await
    .expect("an instance takes the duty lease")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_of_the_duty_dies_mid_escalation_and_the_other_instance_finishes_it_once() {
    let Backend::Postgres { .. } = Backend::from_env() else {
        eprintln!("several instances share a PostgreSQL database: run with KITH_TEST_BACKEND=postgres");
        return;
    };
    // The receiver.
    let (held_tx, mut held_rx) = mpsc::unbounded_channel();
    let receiver = Arc::new(Receiver {
        accepted: Mutex::default(),
        steps: watch::channel(Vec::new()).0,
        held: Mutex::new(Some(held_tx)),
    });
    let mut steps = receiver.steps.subscribe();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hook", post(hook)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The team, set up through an in-process server that then stops: the database stays.
    let mut setup = TestServer::start_with(|c| {
        c.alerts.webhook_allow_private = true;
        c.alerts.background = false;
    })
    .await;
    let (team, lead_code) = setup.create_team("Night shift").await;
    let mut lead = Dev::join(&setup, &lead_code, "Sam").await;
    let mut alice = Dev::join(&setup, &setup.invite(team, Role::Member).await, "Alice").await;
    assert_eq!(lead.put_json("/v1/webhook", json!({"url": hook_url, "secret": SECRET})).await.status(), 204);
    let policy = json!({"min_interval_s": 60, "max_interval_s": 3600, "default_interval_s": 600, "grace_s": 0,
        "reminder_lead_s": 0, "escalation": [{"after_s": 0, "notify": "buddies"}, {"after_s": 1, "notify": "leads"},
        {"after_s": 2, "notify": "leads"}, {"after_s": 3, "notify": "leads"}]});
    assert_eq!(lead.put_json("/v1/team/policy", policy).await.status(), 200);
    let db_args = setup.admin_args();
    let database_url = db_args[1].clone();
    let storage = setup.open_another().await;
    setup.stop().await;

    // Two instances on the database.
    let mut a = Instance::start_with(LEASE_SETTINGS, "A", &database_url).await;
    let mut b = Instance::start_with(LEASE_SETTINGS, "B", &database_url).await;
    let holder = duty_holder(&mut a, &mut b).await;
    let (worker, standby) = if holder == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
    eprintln!("{} holds the duty; {} stands by", worker.name, standby.name);

    // Alice's shift, synced through the standby, runs past its planned end in a moment.
    alice.base = standby.url.clone();
    lead.base = standby.url.clone();
    let now = kith_server::now_ms();
    let shift = alice.start_shift_at(now - 5 * 60_000, now + 500, Secs::minutes(10), vec![lead.member]);
    alice.sync().await;

    // The holder fires the first steps and delivers them; at the held step, it dies.
    tokio::time::timeout(Duration::from_secs(60), held_rx.recv())
        .await
        .expect("the holder delivers the steps up to the held one")
        .expect("the receiver tells");
    worker.kill();
    eprintln!("{} killed (SIGKILL) while delivering step {HELD_STEP}", worker.name);

    // The other takes over and finishes the chain.
    tokio::time::timeout(Duration::from_secs(60), steps.wait_for(|s| (0..STEPS).all(|i| s.contains(&i))))
        .await
        .expect("every step is delivered after the hand-over")
        .expect("the receiver runs");

    // Exactly once: every step's delivery accepted once, and stored once.
    let accepted = receiver.accepted.lock().unwrap().clone();
    let step_keys: Vec<&String> = accepted.keys().filter(|k| k.contains(":step:")).collect();
    assert_eq!(step_keys.len() as u64, STEPS, "one delivery per step: {accepted:?}");
    assert!(accepted.values().all(|n| *n == 1), "a delivery was accepted twice: {accepted:?}");
    let delivered_steps = steps.borrow().clone();
    assert_eq!(delivered_steps.len() as u64, STEPS, "a step was delivered twice: {delivered_steps:?}");
    let alerts = storage.alerts(Some(team), false, 10).await.unwrap();
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    assert_eq!(alerts[0].shift, shift);
    let fired: Vec<usize> = storage.alert_steps(alerts[0].id).await.unwrap().into_iter().map(|s| s.index).collect();
    assert_eq!(fired, (0..STEPS as usize).collect::<Vec<_>>());
    assert_eq!(alerts[0].steps_fired as u64, STEPS);
    storage.close().await;
}
