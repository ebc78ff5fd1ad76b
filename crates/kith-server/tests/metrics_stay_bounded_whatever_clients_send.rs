//! `/metrics` (read with the monitoring token) counts every request, from anyone, and every distinct label value is a series kept for the life of
//! the process: labels come from closed sets (standard methods or `other`, route templates or
//! `other`, status codes), so made-up methods and paths add nothing, however many are sent.

use kith_server::testing::TestServer;

const TOKEN: &str = "the-monitoring-token";

async fn series(client: &reqwest::Client, server: &TestServer) -> (String, usize) {
    let text = client.get(server.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
    let n = text.lines().filter(|l| l.starts_with("kith_http_requests_total{")).count();
    (text, n)
}

async fn junk(client: &reqwest::Client, server: &TestServer, round: usize) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..40 {
        let name = format!("ZQX{round}M{i}");
        let method = reqwest::Method::from_bytes(name.as_bytes()).unwrap();
        let path = if i % 2 == 0 { format!("/v1/zq{round}p{i}") } else { format!("/zq{round}p{i}/x") };
        let resp = client.request(method, server.url(&path)).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{}", resp.status());
        names.push(name);
        names.push(path);
    }
    names
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_series() {
    let server = TestServer::start_with(|c| c.metrics_token = Some(TOKEN.into())).await;
    let client = reqwest::Client::builder().pool_idle_timeout(kith_sync::client::SYNC_CONNECTION_IDLE).build().unwrap();
    let sent = junk(&client, &server, 1).await;
    // Reading /metrics is a request too: read once so its own series exists.
    series(&client, &server).await;
    let (text, before) = series(&client, &server).await;
    for s in &sent {
        assert!(!text.contains(s.as_str()), "{s} became a label:\n{text}");
    }
    assert!(text.contains("method=\"other\"") && text.contains("path=\"other\""), "{text}");
    // Another round of different names: not one more series.
    junk(&client, &server, 2).await;
    let (_, after) = series(&client, &server).await;
    assert_eq!(after, before, "the number of series grew");
}
