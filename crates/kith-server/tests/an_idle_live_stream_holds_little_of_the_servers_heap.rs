//! A connected device mostly idles on its live stream (`GET /v1/live`), for hours: what the server
//! holds for it then decides how many devices one instance serves. hyper kept each connection's
//! read and write buffers (8 KiB each) and its connection state for the stream's whole life (25.5
//! KB of heap per idle stream); a live stream on a connection of its own is now written by
//! `conn.rs` itself, so an idle stream holds its task, its socket and its SSE stream only (4.2 KB).
//! dhat's allocator counts the heap (server and these raw clients, in one process: the only test
//! here, so no other test's allocations are counted). That such a stream works as any other is
//! `a_live_stream_on_its_own_connection_works_as_any_other.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Dev, open_raw_live as open};
use kith_domain::Role;
use kith_server::testing::TestServer;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// How many idle streams are measured.
const STREAMS: usize = 100;

#[tokio::test]
async fn an_idle_live_stream_holds_under_6_kib_of_the_servers_heap() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let server = TestServer::start().await;
    let (team, _) = server.create_team("Heap").await;
    let lead = Dev::join(&server, &server.invite(team, Role::Lead).await, "Lead").await;
    // One stream first, so what every stream shares (the team's channel, presence) exists.
    let (_first, head) = open(&server, &lead.token).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let before = dhat::HeapStats::get().curr_bytes;
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let (s, head) = open(&server, &lead.token).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        streams.push(s);
    }
    let per = dhat::HeapStats::get().curr_bytes.saturating_sub(before) / STREAMS;
    println!("an idle live stream holds {per} bytes of heap");
    assert!(per <= 6144, "an idle live stream holds {per} bytes of heap");
}
