//! A TCP proxy on 127.0.0.1:0 that forwards to the team server and can cut connections in the
//! middle of a request or of a response, to prove that nothing is lost or duplicated; with
//! [`Fault::Random`] it drops, delays, truncates and duplicates connections at random, from a seed.

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
    /// Each new connection draws one of the faults above, a delay, or a duplicate of everything the
    /// client sends (played to the server a second time on a connection of its own, its answers
    /// thrown away), from the proxy's seeded random source (see [`FaultyProxy::seed`]).
    Random,
}

/// What one connection gets under [`Fault::Random`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drawn {
    Plain(Fault),
    Delay(u64),
    Duplicate,
}

#[derive(Debug)]
struct State {
    target: SocketAddr,
    fault: Fault,
    /// How many connections have been cut.
    cuts: usize,
    rng: rand::rngs::StdRng,
    seed: u64,
    /// Connections per drawn fault (random mode), for the report.
    drawn: std::collections::BTreeMap<&'static str, usize>,
}

impl State {
    fn draw(&mut self) -> Drawn {
        use rand::Rng;
        let (d, name) = match self.fault {
            Fault::Random => match self.rng.random_range(0..100) {
                0..45 => (Drawn::Plain(Fault::None), "forwarded"),
                45..55 => (Drawn::Plain(Fault::Refuse), "dropped"),
                55..70 => (Drawn::Delay(self.rng.random_range(1..300)), "delayed"),
                70..78 => (Drawn::Plain(Fault::CutRequestAfter(self.rng.random_range(0..600))), "request truncated"),
                78..88 => (Drawn::Plain(Fault::CutResponseAfter(self.rng.random_range(0..600))), "response truncated"),
                _ => (Drawn::Duplicate, "duplicated"),
            },
            f => (Drawn::Plain(f), "fixed"),
        };
        *self.drawn.entry(name).or_default() += 1;
        d
    }
}

/// The proxy; it stops when dropped (its task ends with the runtime).
#[derive(Debug, Clone)]
pub struct FaultyProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FaultyProxy {
    /// A proxy whose random faults come from `KITH_PROXY_SEED`, else from a random seed.
    pub async fn start(target: SocketAddr) -> FaultyProxy {
        let seed = std::env::var("KITH_PROXY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
        FaultyProxy::start_seeded(target, seed).await
    }

    /// A proxy whose random faults ([`Fault::Random`]) are drawn from `seed`.
    pub async fn start_seeded(target: SocketAddr, seed: u64) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State {
            target,
            fault: Fault::None,
            cuts: 0,
            rng: rand::SeedableRng::seed_from_u64(seed),
            seed,
            drawn: Default::default(),
        }));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, drawn) = {
                    let mut s = st.lock().unwrap();
                    (s.target, s.draw())
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let cut = match drawn {
                        Drawn::Plain(fault) => handle(client, target, fault, false).await,
                        Drawn::Delay(ms) => {
                            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                            handle(client, target, Fault::None, false).await
                        }
                        Drawn::Duplicate => handle(client, target, Fault::None, true).await,
                    };
                    if cut {
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

    /// The seed of the random faults (`KITH_PROXY_SEED` replays a run's draws, as far as the order
    /// in which connections arrive allows).
    pub fn seed(&self) -> u64 {
        self.state.lock().unwrap().seed
    }

    /// How many connections got each kind of random fault.
    pub fn drawn(&self) -> std::collections::BTreeMap<&'static str, usize> {
        self.state.lock().unwrap().drawn.clone()
    }
}

/// Serves one connection; true if it was cut on purpose. With `duplicate`, everything the client
/// sends is also played to the server on a second connection whose answers are thrown away.
async fn handle(mut client: TcpStream, target: SocketAddr, fault: Fault, duplicate: bool) -> bool {
    if fault == Fault::Refuse {
        return true;
    }
    let Ok(mut server) = TcpStream::connect(target).await else { return false };
    let mut twin = if duplicate { TcpStream::connect(target).await.ok() } else { None };
    let (twin_tx, mut twin_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    if let Some(mut t) = twin.take() {
        tokio::spawn(async move {
            let (mut tr, mut tw) = t.split();
            let drain = async {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = tr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let feed = async {
                while let Some(bytes) = twin_rx.recv().await {
                    if tw.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                // The client is gone: so is the twin, once the server has answered.
                let _ = tw.shutdown().await;
            };
            tokio::join!(drain, feed);
        });
    }
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
            if duplicate {
                let _ = twin_tx.send(buf[..allowed].to_vec());
            }
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
