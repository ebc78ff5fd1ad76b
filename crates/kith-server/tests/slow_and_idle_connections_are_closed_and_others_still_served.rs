//! A connection that trickles its headers, or sits idle, is closed by the server (each holds a file
//! descriptor; enough of them used to lock everyone out), while a normal client is served as
//! usual and the live channel's never-ending stream is never cut. Over the connection cap, a new
//! connection is told `503 server_busy` with `Retry-After`, and served again once slots free up.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any timeout of these servers: a server that never closes fails the test
/// instead of hanging it.
const SAFETY: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads until the server closes the connection; returns what it sent.
async fn until_closed(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(SAFETY, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// A client that sends the start of a request, then one header byte at a time, for ever.
async fn trickle(server: &TestServer) -> tokio::task::JoinHandle<()> {
    let s = TcpStream::connect(server.addr).await.unwrap();
    tokio::spawn(async move {
        let (mut r, mut w) = s.into_split();
        w.write_all(b"GET /healthz HTTP/1.1\r\nHost: kith\r\n").await.unwrap();
        let writer = tokio::spawn(async move {
            for b in b"X-Slow: 1\r\n".iter().cycle() {
                if w.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(SAFETY, r.read_to_end(&mut rest)).await;
        writer.abort();
        assert!(closed.is_ok(), "the server never closed a trickling connection");
        assert!(rest.is_empty() || !String::from_utf8_lossy(&rest).contains("200 OK"), "no answer to half a request");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_connections_are_closed_and_the_live_stream_is_not() {
    let server = TestServer::start_with(|c| {
        c.limits.header_read_timeout_s = 1;
        c.limits.idle_timeout_s = 2;
    })
    .await;
    let (lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    let mut live = open_live(&lead).await;

    let idle: Vec<TcpStream> = futures_util::future::join_all((0..5).map(|_| TcpStream::connect(server.addr)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let tricklers: Vec<_> = futures_util::future::join_all((0..5).map(|_| trickle(&server))).await;
    // A keep-alive connection that made one request and then says nothing more.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: kith\r\n\r\n").await.unwrap();

    // A normal client is served while all of them are connected.
    let resp = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let answered = until_closed(kept).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    for s in idle {
        assert_eq!(until_closed(s).await, "", "an idle connection is closed without a word");
    }
    for t in tricklers {
        t.await.unwrap();
    }

    // The live stream, open and silent for longer than the idle timeout, still carries events.
    alice.checkin(shift, CheckInStatus::Ok, 20);
    alice.sync().await;
    next_live(&mut live, "changed", |v| v["docs"].to_string().contains(&shift.to_string())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_cap_a_client_is_told_to_retry() {
    let server = TestServer::start_with(|c| {
        c.limits.max_connections = 6;
        c.limits.idle_timeout_s = 1;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // A full request and its answer: the connection is surely accepted and counted.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: kith\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    let over = TcpStream::connect(server.addr).await.unwrap();
    let answer = until_closed(over).await.to_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1") && answer.contains("\"server_busy\""), "{answer}");
    assert!(answer.contains("\"retryable\":true"), "{answer}");

    // The held connections go idle and are closed; then a client is served again.
    for s in held {
        until_closed(s).await;
    }
    let resp = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
