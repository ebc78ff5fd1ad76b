//! A TCP proxy on 127.0.0.1:0 that forwards to the team server and can cut connections in the
//! middle of a request or of a response, to prove that nothing is lost or duplicated.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to the next connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Forward only this many bytes of the request, then cut both sides.
    CutRequestAfter(usize),
    /// Forward the whole request, but only this many bytes of the response, then cut.
    CutResponseAfter(usize),
    /// Forward the whole request (its headers and its `Content-Length` body), then cut both sides
    /// at once, before any answer: the server is still handling it.
    CutWhenRequestSent,
    /// Refuse connections at once (the server is "down").
    Refuse,
}

#[derive(Debug)]
struct State {
    target: SocketAddr,
    fault: Fault,
    /// How many connections have been cut.
    cuts: usize,
}

/// The proxy; it stops when dropped (its task ends with the runtime).
#[derive(Debug, Clone)]
pub struct FaultyProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FaultyProxy {
    pub async fn start(target: SocketAddr) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State { target, fault: Fault::None, cuts: 0 }));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, fault) = {
                    let s = st.lock().unwrap();
                    (s.target, s.fault)
                };
                let st = st.clone();
                tokio::spawn(async move {
                    if handle(client, target, fault).await {
                        st.lock().unwrap().cuts += 1;
                    }
                });
            }
        });
        FaultyProxy { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_fault(&self, fault: Fault) {
        self.state.lock().unwrap().fault = fault;
    }

    pub fn set_target(&self, target: SocketAddr) {
        self.state.lock().unwrap().target = target;
    }

    pub fn cuts(&self) -> usize {
        self.state.lock().unwrap().cuts
    }
}

/// Serves one connection; true if it was cut on purpose.
async fn handle(mut client: TcpStream, target: SocketAddr, fault: Fault) -> bool {
    if fault == Fault::Refuse {
        return true;
    }
    let Ok(mut server) = TcpStream::connect(target).await else { return false };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up_limit = match fault {
        Fault::CutRequestAfter(n) => Some(n),
        _ => None,
    };
    let whole_request = fault == Fault::CutWhenRequestSent;
    let down_limit = match fault {
        Fault::CutResponseAfter(n) => Some(n),
        _ => None,
    };
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent = 0usize;
        let mut head = Vec::new();
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            let allowed = up_limit.map_or(n, |l| n.min(l.saturating_sub(sent)));
            if sw.write_all(&buf[..allowed]).await.is_err() {
                return false;
            }
            sent += allowed;
            if allowed < n {
                return true;
            }
            if whole_request {
                head.extend_from_slice(&buf[..n]);
                if request_length(&head).is_some_and(|len| head.len() >= len) {
                    return true;
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent = 0usize;
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            let allowed = down_limit.map_or(n, |l| n.min(l.saturating_sub(sent)));
            if cw.write_all(&buf[..allowed]).await.is_err() {
                return false;
            }
            sent += allowed;
            if allowed < n {
                return true;
            }
        }
    };
    // Whichever side is cut (or closes) ends the connection for both.
    tokio::select! {
        cut = up => cut,
        cut = down => cut,
    }
}

/// The length of the HTTP/1 request at the start of `bytes` (headers and `Content-Length` body),
/// once its headers are all there.
fn request_length(bytes: &[u8]) -> Option<usize> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let body = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
        })
        .unwrap_or(0);
    Some(end + body)
}
