//! A device opens its live stream on a connection of its own, never on one its syncs used: the
//! server then holds an idle stream in a few KiB instead of a whole HTTP connection's buffers
//! and state (docs/benchmarks.md, "Memory per connected device"), and a lone-worker service is
//! mostly idle streams. Counted by the server: `kith_live_streams_own_connection_total` (a
//! process-wide counter, hence one test in this file).

mod common;

use common::{Server, lee_joins, server_metric};
use kith_sync::ServerClient;

const TOKEN: &str = "5a69788796a5b4c3d2e1f00f1e2d3c4b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_opened_after_a_request_does_not_take_that_requests_idle_connection() {
    let server = Server::start_with(|c| c.metrics_token = Some(TOKEN.into())).await;
    let (_team, code) = server.team("North estate").await;
    let join = lee_joins(code);
    let joined = ServerClient::new(&server.url, None).unwrap().join(&join).await.unwrap();
    let client = ServerClient::new(&server.url, Some(joined.token)).unwrap();
    // A request whose connection then idles in the client's pool.
    client.board().await.unwrap();
    let _live = kith_sync::live::connect(&client).await.unwrap();
    assert_eq!(server_metric(&server, TOKEN, "kith_live_streams_own_connection_total").await, 1);
}
