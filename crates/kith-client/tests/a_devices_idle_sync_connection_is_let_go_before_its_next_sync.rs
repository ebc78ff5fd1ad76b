//! A device lets its sync connection go once it has idled for a while, before its next periodic
//! sync, so that while nothing happens it holds only its live stream: the server keeps an idle
//! HTTP connection in about 18 KiB, twice what the rest of a connected device costs it
//! (docs/benchmarks.md, "A device's idle sync connection"). Counted by the server:
//! `kith_connections_open` (a process-wide gauge, hence one server in this file).

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, Server, lee_joins, server_metric};
use kith_sync::ServerClient;
use kith_sync::client::SYNC_CONNECTION_IDLE;
use kith_sync::runner::RunnerOptions;

const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// The server's open connections, the one reading them among them.
async fn open_connections(server: &Server) -> u64 {
    server_metric(server, TOKEN, "kith_connections_open").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_idle_sync_connection_is_closed_once_it_has_idled() {
    let server = Server::start_with(|c| c.metrics_token = Some(TOKEN.into())).await;
    let (_team, code) = server.team("North estate").await;
    let idle = Duration::from_millis(300);
    let join = lee_joins(code);
    let joined = ServerClient::new(&server.url, None)
        .unwrap()
        .with_sync_connection_idle(idle)
        .unwrap()
        .join(&join)
        .await
        .unwrap();
    let client = ServerClient::new(&server.url, Some(joined.token)).unwrap().with_sync_connection_idle(idle).unwrap();
    client.board().await.unwrap();
    // The board's connection idles in the client's pool (the join's may too, until its own idle
    // time): it is open beside the one reading the metrics.
    assert!(open_connections(&server).await >= 2, "the request's connection is kept for the next one");

    let start = Instant::now();
    loop {
        let open = open_connections(&server).await;
        if open == 1 {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{open} connections still open {:?} after the last request",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_device_lets_its_idle_connection_go_first_and_both_sides_before_the_next_periodic_sync() {
    let period = RunnerOptions::default().period;
    let server_idle = Duration::from_secs(kith_server::Config::default().limits.idle_timeout_s);
    // A device that closes first never sends a request on a connection the server is closing.
    assert!(SYNC_CONNECTION_IDLE < server_idle, "{SYNC_CONNECTION_IDLE:?} against the server's {server_idle:?}");
    assert!(server_idle < period, "the server's {server_idle:?} against a sync every {period:?}");
}
