//! A client that asks for something and then reads none of the answer (a phone gone into a
//! tunnel with its socket open, or someone holding connections on purpose) leaves the server's
//! writes waiting on a full socket. Before, nothing timed that wait: the connection kept its slot
//! under `limits.max_connections` for ever, and a graceful shutdown waited for it for ever (both
//! for a live stream served by `conn.rs` and for any answer served by hyper). Now a connection
//! whose peer accepts nothing for `limits.write_stall_timeout_s` is closed. Over HTTP/2 the socket
//! never fills (a peer that reads nothing gives no flow-control window), so what counts there is
//! that hyper has taken the answer's data and cannot send it.
//!
//! The router here answers with a body that never ends, so the socket fills within milliseconds;
//! everything else is the server's real connection handling on a real socket.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use kith_server::config::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Far longer than the stall timeout: a server that waits for ever fails the test instead of hanging it.
const SAFETY: Duration = Duration::from_secs(60);

fn endless() -> Body {
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    Body::from_stream(futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone())))
}

/// `/v1/live` (served by `conn.rs` when it is a connection's first request) and `/big` (hyper).
fn router() -> Router {
    Router::new().route("/v1/live", get(|| async { endless() })).route("/big", get(|| async { endless() }))
}

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(max_connections: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits { write_stall_timeout_s: 1, ..Limits::default() };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        kith_server::conn::serve(listener, router(), &limits, max_connections, async move {
            let _ = stopped.await;
        })
        .await
    });
    Server { addr, stop: Some(stop), task }
}

/// Asks for `path` and reads the start of the answer (so the server is surely writing), then
/// nothing more.
async fn ask_and_stop_reading(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: kith\r\n\r\n").as_bytes()).await.unwrap();
    let mut start = [0u8; 12];
    s.read_exact(&mut start).await.unwrap();
    assert_eq!(&start, b"HTTP/1.1 200");
    s
}

/// A client held open while the test runs: a socket, or an HTTP/2 connection whose answer is
/// never read.
type Held = Box<dyn std::any::Any + Send>;

/// Over HTTP/2 (prior knowledge, as `h2c`): asks for `path`, takes the answer's head and reads
/// none of its body, so its flow-control window closes after 64 KiB.
async fn h2_ask_and_stop_reading(addr: std::net::SocketAddr, path: &str) -> Held {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
    let driver = tokio::spawn(conn);
    let req = hyper::Request::get(format!("http://kith{path}")).body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    Box::new((send, resp, driver))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_is_not_held_up_by_clients_that_stopped_reading() {
    let mut server = serve(100).await;
    let held: Vec<Held> = vec![
        Box::new(ask_and_stop_reading(server.addr, "/v1/live").await),
        Box::new(ask_and_stop_reading(server.addr, "/big").await),
        h2_ask_and_stop_reading(server.addr, "/big").await,
    ];
    let _ = server.stop.take().unwrap().send(());
    let done = tokio::time::timeout(SAFETY, &mut server.task).await;
    assert!(done.is_ok(), "the server waited for ever for clients that read nothing");
    done.unwrap().unwrap().unwrap();
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_stopped_reading_gives_its_connection_slot_back() {
    let server = serve(1).await;
    let held = h2_ask_and_stop_reading(server.addr, "/big").await;
    let served = tokio::time::timeout(SAFETY, served_once_the_slot_is_free(server.addr)).await;
    assert!(served.is_ok(), "an HTTP/2 client that reads nothing kept its slot for ever");
    drop(held);
}

/// Asks until the server answers 200 (it says 503 while its only slot is held).
async fn served_once_the_slot_is_free(addr: std::net::SocketAddr) {
    loop {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /big HTTP/1.1\r\nhost: kith\r\n\r\n").await.unwrap();
        let mut start = [0u8; 12];
        if s.read_exact(&mut start).await.is_ok() && &start == b"HTTP/1.1 200" {
            return;
        }
        assert_eq!(&start, b"HTTP/1.1 503", "over the cap a client is told to retry");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stopped_reading_gives_its_connection_slot_back() {
    for path in ["/v1/live", "/big"] {
        let server = serve(1).await;
        let mut stalled = ask_and_stop_reading(server.addr, path).await;
        // The only slot is held: others are told to retry until the stalled connection is cut.
        let served = tokio::time::timeout(SAFETY, served_once_the_slot_is_free(server.addr)).await;
        assert!(served.is_ok(), "{path}: a client that reads nothing kept its slot for ever");
        // And the stalled client, reading again, finds its connection closed after what was sent.
        let mut buf = vec![0u8; 1 << 20];
        let closed = tokio::time::timeout(SAFETY, async {
            loop {
                match stalled.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "{path}: the stalled connection was never closed");
    }
}
