//! A live stream (`GET /v1/live`) on a connection of its own is answered by `conn.rs`, not hyper
//! (so an idle one holds little memory: `an_idle_live_stream_holds_little_of_the_servers_heap.rs`):
//! it works as any other answer, over a raw HTTP/1.1 connection: the head, events in chunks, the
//! last chunk when the server stops, and a refusal answered whole and the connection closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Dev, open_raw_live as open, read_until};
use kith_domain::Role;
use kith_server::testing::TestServer;
use tokio::io::AsyncReadExt as _;

#[tokio::test]
async fn a_live_stream_on_its_own_connection_carries_events_and_ends_with_the_server() {
    let mut server = TestServer::start().await;
    let (team, _) = server.create_team("Events").await;
    let lead = Dev::join(&server, &server.invite(team, Role::Lead).await, "Lead").await;
    let (mut s, head) = open(&server, &lead.token).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut worker = Dev::join(&server, &server.invite(team, Role::Member).await, "Worker").await;
    let shift = worker.start_shift();
    worker.sync().await;
    // The worker's arrival and its shift reach the lead, in chunks.
    let got = read_until(&mut s, &shift.uuid().to_string()).await;
    assert!(got.contains("event: changed"), "{got}");

    server.stop().await;
    let rest = read_until(&mut s, "\r\n0\r\n\r\n").await;
    assert!(rest.ends_with("0\r\n\r\n"), "the stream ends with its last chunk: {rest:?}");
}

#[tokio::test]
async fn a_live_request_without_a_valid_token_is_refused_and_closed() {
    let server = TestServer::start().await;
    let (mut s, head) = open(&server, "not-a-token").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a refusal says its length")
        .trim()
        .parse()
        .unwrap();
    let mut body = head.split_once("\r\n\r\n").unwrap().1.as_bytes().to_vec();
    let mut buf = [0u8; 512];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body.len(), len, "the whole refusal, then the connection closes");
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(err["code"].is_string() && err["message"].is_string(), "{err}");
}
