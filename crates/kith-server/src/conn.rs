//! Accepting connections: the accept loop, a cap on open connections, and the two timeouts that
//! keep a connection from holding a file descriptor while doing nothing useful.
//!
//! `axum::serve` has neither a header-read nor an idle timeout, so a client that trickles its
//! headers or never sends anything keeps its socket for ever (enough of them exhaust the process's
//! file descriptors, and everyone is refused). Each connection here is served by hyper-util's
//! HTTP/1 + HTTP/2 builder next to a watchdog that knows, from the bytes it reads and the requests
//! in flight, what the connection is doing:
//!
//! - **header-read timeout** (`limits.header_read_timeout_s`): once the first byte of a request has
//!   arrived, its headers must be complete within this long;
//! - **idle timeout** (`limits.idle_timeout_s`, 30 s): a connection with no request in flight that
//!   receives nothing for this long is closed. HTTP/1.1 cannot tell a client that its idle connection
//!   is about to close, so a client that keeps one longer (reqwest's default: 90 s) may send a
//!   request just as the server closes it and meet a reset. Kith's clients let theirs go first
//!   (`SYNC_CONNECTION_IDLE`, 20 s; the tests' and tools' clients too), and a device retries a
//!   failed sync anyway.
//!
//! - **write-stall timeout** (`limits.write_stall_timeout_s`): a connection whose peer has
//!   accepted none of what the server writes for this long (it stopped reading and its socket is
//!   full) is closed, whatever is in flight. Without it such a peer kept its slot, and held up a
//!   graceful shutdown, for ever.
//!
//! A request counts as in flight until its response body has been sent or dropped: a long handler
//! is bounded by `limits.request_timeout_s` instead, and the live channel's stream (`/v1/live`), a
//! response that never ends, is never cut by the first two timeouts (its keep-alives fit in the
//! socket, so only a peer that stopped reading stalls it).
//!
//! At most `limits.max_connections` are open at once (lowered at start to what the file-descriptor
//! limit allows, see [`raise_file_limit`]); a connection over the cap is answered
//! `503 server_busy` with `Retry-After` and closed, so clients back off instead of waiting.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::config::Limits;

/// The most an HTTP/1 connection's read buffer grows to: hyper's floor.
const HTTP1_MAX_BUF: usize = 8192;

/// File descriptors kept for everything that is not a client connection (the database and its
/// WAL, webhook requests, logs).
pub const RESERVED_FDS: u64 = 256;

/// Raises the soft limit on open files to the hard limit (where the platform allows) and returns
/// how many connections fit in it: `wanted`, or fewer if the limit is lower.
pub fn raise_file_limit(wanted: usize) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            match rlimit::Resource::NOFILE.get() {
                Ok((soft, _)) => soft,
                Err(_) => return wanted,
            }
        }
    };
    let fit = usize::try_from(soft.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    if fit < wanted {
        tracing::warn!(
            open_files = soft,
            wanted,
            allowed = fit,
            "the open-file limit allows fewer connections than limits.max_connections: raise `ulimit -n` (LimitNOFILE= under systemd)"
        );
    }
    wanted.min(fit)
}

/// What one connection is doing, as its watchdog sees it. Times are milliseconds since `base`.
#[derive(Debug)]
struct Activity {
    base: Instant,
    /// Requests whose response is not finished (the body sent or dropped).
    in_flight: AtomicUsize,
    /// When the connection last had nothing in flight (or was accepted).
    idle_since: AtomicU64,
    /// When the first byte after `idle_since` arrived (0: none yet), plus one.
    head_started: AtomicU64,
    /// When a write last found the socket full and nothing has been written since (0: not
    /// stalled), plus one.
    write_stalled: AtomicU64,
    /// Answers that handed hyper data and have not been asked for more since: hyper waits to send
    /// it (the socket is full, or an HTTP/2 peer gives no flow-control window).
    answers_waiting: AtomicUsize,
    /// When hyper last asked an answer for more, plus one.
    answer_pulled: AtomicU64,
    /// Woken when something the watchdog's deadline depends on changes.
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            write_stalled: AtomicU64::new(0),
            answers_waiting: AtomicUsize::new(0),
            answer_pulled: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_started.load(Ordering::Acquire) == 0 {
            let _ = self.head_started.compare_exchange(0, self.now() + 1, Ordering::AcqRel, Ordering::Acquire);
            self.changed.notify_one();
        }
    }

    /// A write was tried: `accepted` if the socket took some of it, otherwise it is full.
    fn wrote(&self, accepted: bool) {
        if accepted {
            if self.write_stalled.load(Ordering::Relaxed) != 0 {
                self.write_stalled.store(0, Ordering::Release);
            }
        } else if self.write_stalled.load(Ordering::Acquire) == 0 {
            let _ = self.write_stalled.compare_exchange(0, self.now() + 1, Ordering::AcqRel, Ordering::Acquire);
            self.changed.notify_one();
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the watchdog closes the connection if nothing changes: `None` while a request is in
    /// flight and its answer is not stalled.
    fn deadline(&self, t: &Timeouts) -> Option<Instant> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let socket = match self.write_stalled.load(Ordering::Acquire) {
            0 => None,
            since => Some(since - 1),
        };
        let answer = (self.answers_waiting.load(Ordering::Acquire) > 0)
            .then(|| self.answer_pulled.load(Ordering::Acquire).saturating_sub(1));
        let stalled = socket.into_iter().chain(answer).min().map(|since| since.saturating_add(ms(t.write_stall)));
        let waiting =
            (self.in_flight.load(Ordering::Acquire) == 0).then(|| match self.head_started.load(Ordering::Acquire) {
                0 => self.idle_since.load(Ordering::Acquire).saturating_add(ms(t.idle)),
                started => (started - 1).saturating_add(ms(t.header)),
            });
        let at = match (stalled, waiting) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(self.base + Duration::from_millis(at))
    }
}

/// A request in flight; dropped with its response body.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

/// A response body served by hyper, telling the watchdog when hyper takes data from it and when it
/// asks for more: data taken and not followed by a request for more is waiting on the peer (over
/// HTTP/2 the socket does not fill: a peer that reads nothing gives no flow-control window).
struct Answer {
    body: Body,
    /// Handed data, and not asked for more since.
    waiting: bool,
    in_flight: InFlight,
}

impl Answer {
    fn set_waiting(&mut self, waiting: bool) {
        if waiting == self.waiting {
            return;
        }
        self.waiting = waiting;
        let a = &self.in_flight.0;
        if waiting {
            a.answers_waiting.fetch_add(1, Ordering::AcqRel);
            a.changed.notify_one();
        } else {
            a.answers_waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl http_body::Body for Answer {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let a = &self.in_flight.0;
        a.answer_pulled.store(a.now() + 1, Ordering::Release);
        self.set_waiting(false);
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(&polled, Poll::Ready(Some(Ok(f))) if f.is_data()) && !self.body.is_end_stream() {
            self.set_waiting(true);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.set_waiting(false);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(self.0.now(), Ordering::Release);
            self.0.head_started.store(0, Ordering::Release);
            self.0.changed.notify_one();
        }
    }
}

/// The TCP stream, telling the watchdog when bytes arrive.
struct Watched {
    /// The connection's slot under the cap. Declared first, so it is released before the socket
    /// closes: a client that sees the close and connects again finds the slot free.
    _slot: OwnedSemaphorePermit,
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.activity.wrote(polled.is_ready());
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.activity.wrote(polled.is_ready());
        polled
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// How long a connection may wait on its peer, by what it waits for (`Limits`, at least 1 s each).
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    header: Duration,
    idle: Duration,
    write_stall: Duration,
}

impl Timeouts {
    fn new(limits: &Limits) -> Timeouts {
        let s = |n: u64| Duration::from_secs(n.max(1));
        Timeouts {
            header: s(limits.header_read_timeout_s),
            idle: s(limits.idle_timeout_s),
            write_stall: s(limits.write_stall_timeout_s),
        }
    }
}

/// The answer to a connection over the cap: plain HTTP/1.1, written before reading anything.
fn busy_response() -> Vec<u8> {
    let body = serde_json::json!({
        "code": "server_busy",
        "message": "The server has as many connections open as it takes: try again in a moment.",
        "retryable": true,
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets requests in
/// flight finish, and returns when every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let timeouts = Timeouts::new(limits);
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    // Closed (dropped) to tell every connection to finish; each holds a receiver of `open` until done.
    let (stop_tx, stop_rx) = watch::channel(());
    let (open_tx, _) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or the peer left before we got to it: wait a
                    // little rather than spin, and go on.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics::counter!("kith_connections_refused_total").increment(1);
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&busy_response())).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stop = stop_rx.clone();
        let open = open_tx.subscribe();
        let router = router.clone();
        tokio::spawn(async move {
            metrics::gauge!("kith_connections_open").increment(1.0);
            serve_one(stream, permit, remote, router, timeouts, stop).await;
            metrics::gauge!("kith_connections_open").decrement(1.0);
            drop(open);
        });
    }
    drop(stop_rx);
    drop(stop_tx);
    // Every connection task holds a receiver: wait until the last is gone.
    open_tx.closed().await;
    Ok(())
}

async fn serve_one(
    stream: TcpStream,
    slot: OwnedSemaphorePermit,
    remote: SocketAddr,
    router: Router,
    t: Timeouts,
    mut stop: watch::Receiver<()>,
) {
    let req = tokio::select! {
        first = tokio::time::timeout(t.idle, live_request(&stream, remote)) => match first {
            Ok(Ok(req)) => req,
            Ok(Err(_)) => return,
            Err(_) => {
                metrics::counter!("kith_connections_timed_out_total").increment(1);
                tracing::debug!(%remote, "closing an idle connection");
                return;
            }
        },
        _ = stop.changed() => return,
    };
    match req {
        Some(req) => {
            // How many streams took the lean path (devices open theirs on a connection of its own).
            metrics::counter!("kith_live_streams_own_connection_total").increment(1);
            serve_live(stream, slot, req, router, t.write_stall, stop).await
        }
        // Boxed: a live stream's task does not carry hyper's connection state in its future.
        None => Box::pin(serve_hyper(stream, slot, remote, router, t, stop)).await,
    }
}

/// How much of a new connection's first bytes is looked at for a `GET /v1/live` head.
const LIVE_PEEK: usize = 4096;

/// Waits for a new connection's first bytes. If they are a whole `GET /v1/live` request head and
/// nothing more, reads it and returns the request; otherwise reads nothing (hyper serves the
/// connection from its first byte). `Err`: the peer closed, or the socket failed.
async fn live_request(stream: &TcpStream, remote: SocketAddr) -> std::io::Result<Option<axum::http::Request<Body>>> {
    let mut buf = vec![0u8; LIVE_PEEK];
    let n = stream.peek(&mut buf).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let Some((len, mut req)) = live_head(&buf[..n]) else { return Ok(None) };
    req.extensions_mut().insert(ConnectInfo(remote));
    // Consume exactly the head just parsed (the bytes peeked are in the socket already).
    let mut rest = len;
    while rest > 0 {
        stream.readable().await?;
        match stream.try_read(&mut buf[..rest]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => rest -= k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(req))
}

/// `bytes` as a live stream's request and the length of its head, if they are a whole
/// `GET /v1/live` head, HTTP/1.1, without a body, and nothing more. Not async, so its parser's
/// header array is not kept in the connection's future.
fn live_head(bytes: &[u8]) -> Option<(usize, axum::http::Request<Body>)> {
    use axum::http::{Method, Request, Version};
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    // A head split over several packets, or followed by pipelined bytes, is hyper's to serve.
    let Ok(httparse::Status::Complete(len)) = parsed.parse(bytes) else { return None };
    let path = parsed.path.unwrap_or_default();
    let is_live = len == bytes.len()
        && parsed.method == Some("GET")
        && parsed.version == Some(1)
        && (path == "/v1/live" || path.starts_with("/v1/live?"));
    // Only a bodiless request, that asks for nothing but the stream.
    let plain = |h: &httparse::Header<'_>| {
        let name = h.name.to_ascii_lowercase();
        !matches!(name.as_str(), "content-length" | "transfer-encoding" | "expect" | "upgrade")
            || (name == "content-length" && h.value == b"0")
    };
    if !is_live || !parsed.headers.iter().all(plain) {
        return None;
    }
    let mut req = Request::builder().method(Method::GET).uri(path).version(Version::HTTP_11);
    for h in parsed.headers.iter() {
        req = req.header(h.name, h.value);
    }
    // Anything hyper would refuse (a header it cannot take) it refuses itself.
    Some((len, req.body(Body::empty()).ok()?))
}

/// Serves a live stream's request without hyper: the router answers it as any other request, and
/// its response is written here, the body chunked, until it ends, the client leaves or the server
/// stops; then the connection closes. An idle stream then holds its task, its socket and its
/// response body (the SSE stream), not hyper's read and write buffers (8 KiB each) and
/// connection state, which it kept for as long as the stream lived (docs/benchmarks.md, "Memory
/// per connected device").
async fn serve_live(
    mut stream: TcpStream,
    slot: OwnedSemaphorePermit,
    req: axum::http::Request<Body>,
    router: Router,
    stall: Duration,
    mut stop: watch::Receiver<()>,
) {
    // Boxed, and freed once answered: the router's call (every layer's future inline) is the
    // largest state of this function, and the task would keep room for it while the stream idles.
    let Ok(resp) = Box::pin(router.oneshot(req)).await;
    let (parts, body) = resp.into_parts();
    let exact = http_body::Body::size_hint(&body).exact();
    // The head is written and dropped with the response's headers: a stream keeps none of it.
    if write_or_stall(&mut stream, &response_head(parts, exact), stall).await.is_err() {
        return;
    }
    let mut body = pin!(body);
    let (mut rd, mut wr) = stream.split();
    // The client sends nothing more (the connection closes after the stream); a read ending is it leaving.
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            frame = body.frame() => match frame {
                Some(Ok(frame)) => {
                    let Some(data) = frame.data_ref().filter(|d| !d.is_empty()) else { continue };
                    let out = match exact {
                        Some(_) => data.to_vec(),
                        None => {
                            let mut out = Vec::with_capacity(data.len() + 16);
                            out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                            out.extend_from_slice(data);
                            out.extend_from_slice(b"\r\n");
                            out
                        }
                    };
                    if write_or_stall(&mut wr, &out, stall).await.is_err() {
                        break;
                    }
                }
                // A body that failed is cut short: the client sees no last chunk and knows.
                Some(Err(_)) => break,
                None => {
                    if exact.is_none() {
                        let _ = write_or_stall(&mut wr, b"0\r\n\r\n", stall).await;
                    }
                    break;
                }
            },
            read = tokio::io::AsyncReadExt::read(&mut rd, &mut scratch) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
            }
            _ = stop.changed() => {
                if exact.is_none() {
                    let _ = write_or_stall(&mut wr, b"0\r\n\r\n", stall).await;
                }
                break;
            }
        }
    }
    // The slot before the socket, as in `Watched`.
    drop(slot);
    let _ = tokio::time::timeout(stall, stream.shutdown()).await;
}

/// Writes all of `bytes`, or fails once the peer has accepted none of them for `stall` (it
/// stopped reading and the socket is full).
async fn write_or_stall<W: AsyncWrite + Unpin>(w: &mut W, mut bytes: &[u8], stall: Duration) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match tokio::time::timeout(stall, w.write(bytes)).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => bytes = &bytes[n..],
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                metrics::counter!("kith_connections_timed_out_total").increment(1);
                return Err(std::io::ErrorKind::TimedOut.into());
            }
        }
    }
    Ok(())
}

/// An HTTP/1.1 response head for `parts`, its body `exact` bytes long or (`None`) chunked, the
/// connection closed after it.
fn response_head(parts: axum::http::response::Parts, exact: Option<u64>) -> Vec<u8> {
    use axum::http::header;
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\ndate: ");
    head.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if [header::CONNECTION, header::TRANSFER_ENCODING, header::CONTENT_LENGTH].contains(name) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match exact {
        Some(n) => head.extend_from_slice(format!("content-length: {n}\r\n").as_bytes()),
        None => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

/// A connection served by hyper (HTTP/1 or HTTP/2), under the watchdog.
async fn serve_hyper(
    stream: TcpStream,
    slot: OwnedSemaphorePermit,
    remote: SocketAddr,
    router: Router,
    t: Timeouts,
    mut stop: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { _slot: slot, io: stream, activity: activity.clone() });
    let a = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let guard = a.begin();
        let router = router.clone();
        async move {
            let resp = router.oneshot(req.map(Body::new)).await?;
            // The request stays in flight until its body is sent or dropped.
            Ok::<_, Infallible>(resp.map(|body| Answer { body, waiting: false, in_flight: guard }))
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // HTTP/2 connections are pinged to find dead peers; the watchdog handles the rest.
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(t.idle)).keep_alive_timeout(t.header);
    // hyper keeps an HTTP/1 connection's read buffer at the size it grew to, for as long as the
    // connection lives: a device's live stream idles for hours. Its floor (8 KiB) caps it; bodies
    // are read in chunks of that, and headers past it are refused (431).
    builder.http1().max_buf_size(HTTP1_MAX_BUF);
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut stopping = false;
    loop {
        let deadline = activity.deadline(&t);
        let wake = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = activity.changed.notified() => {}
            _ = wake => {
                // Nothing in flight and the headers were too slow or nothing came, or the peer
                // stopped reading what is written: close.
                if activity.deadline(&t).is_some_and(|d| d <= Instant::now()) {
                    metrics::counter!("kith_connections_timed_out_total").increment(1);
                    tracing::debug!(%remote, "closing a slow, idle or stalled connection");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit_and_the_cap_fits_in_it() {
        let fit = raise_file_limit(usize::MAX);
        let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
        // macOS caps it lower still (kern.maxfilesperproc).
        assert!(soft == hard || cfg!(target_os = "macos"), "the soft limit is raised to the hard one");
        assert_eq!(fit as u64, soft.saturating_sub(RESERVED_FDS).max(16), "the cap leaves room for the rest");
        assert_eq!(raise_file_limit(100), 100.min(fit), "a cap that fits is kept");
    }
}
