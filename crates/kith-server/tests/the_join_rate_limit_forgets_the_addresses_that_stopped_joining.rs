//! The join rate limit keeps a record per client address. The limiter never forgets one by
//! itself, so every address that ever tried to join would stay in memory for the life of the
//! process: the records back to a full burst are dropped every `burst × replenish_ms`, and
//! `kith_join_rate_clients` tells how many are kept. One test in this file: the metrics recorder
//! is process-global.

mod common;
use common::*;
use kith_server::testing::TestServer;

const TOKEN: &str = "the-monitoring-token";

async fn kept(server: &TestServer) -> Option<u64> {
    let text = http().get(server.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("kith_join_rate_clients "))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
}

#[tokio::test]
async fn addresses_that_stopped_joining_are_forgotten() {
    let server = TestServer::start_with(|c| {
        c.metrics_token = Some(TOKEN.into());
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.join_rate.burst = 1;
        c.join_rate.replenish_ms = 300;
    })
    .await;
    // The proxy (here: the test, on loopback) names 40 different clients.
    for i in 0..40 {
        let req = join_request("NOPE-NOPE", "Eve", &automerge::ActorId::random());
        let resp = http()
            .post(server.url("/v1/join"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&req)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "a wrong code, within the client's own budget");
    }
    // Polled, not slept on: the records are kept while their burst refills (300 ms), then dropped.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let n = kept(&server).await;
        if seen.last() != Some(&n) {
            seen.push(n);
        }
        if seen.iter().any(|n| n.is_some_and(|n| n > 0)) && n == Some(0) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the join limiter's records were never seen dropped: {seen:?}");
}
