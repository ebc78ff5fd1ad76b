//! The HTTP side: join, sync and the team board, over reqwest.

use std::time::Duration;

use kith_api::{AlertList, AlertView, BoardResponse, KudosRequest, ResolveRequest};
use kith_proto::{ApiError, CONTENT_TYPE, JoinRequest, JoinResponse, SyncRequest, SyncResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::SyncError;

/// A connection to one team server, with this device's credential once it has joined.
#[derive(Clone, Debug)]
pub struct ServerClient {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
    /// For the live stream only: never pools, so the stream always opens a connection of its own
    /// and that connection's first request is `GET /v1/live`, which the server holds in a few KiB
    /// instead of a whole HTTP connection's buffers (docs/benchmarks.md, "Memory per connected
    /// device"). Syncs keep their pooled connection, for `SYNC_CONNECTION_IDLE`.
    live_http: reqwest::Client,
}

/// How long one request may take before it counts as failed (and is retried later).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection used for syncs is kept once idle: long enough for a burst (a check-in,
/// then the syncs the live channel's pokes bring), shorter than the period between syncs when
/// nothing happens (a minute), so an idle device holds only its live stream. The server holds an
/// idle HTTP connection in about 18 KiB, twice what the rest of a connected device costs it
/// (docs/benchmarks.md, "A device's idle sync connection"); a new one costs a handshake a minute.
pub const SYNC_CONNECTION_IDLE: Duration = Duration::from_secs(20);

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("kith/", env!("CARGO_PKG_VERSION")))
}

fn http_client(idle: Duration) -> Result<reqwest::Client, SyncError> {
    builder().pool_idle_timeout(idle).build().map_err(|e| SyncError::Protocol(e.to_string()))
}

impl ServerClient {
    /// A client for the server at `base` (e.g. `https://kith.example.org`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self, SyncError> {
        let mut url = Url::parse(base.trim()).map_err(|_| SyncError::BadServerAddress(base.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(SyncError::BadServerAddress(base.to_string()));
        }
        if url.scheme() == "http" && !is_loopback(&url) && !plain_http_allowed() {
            return Err(SyncError::PlainHttp(base.trim().to_string()));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        let http = http_client(SYNC_CONNECTION_IDLE)?;
        let live_http = builder().pool_max_idle_per_host(0).build().map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(ServerClient { base: url, token, http, live_http })
    }

    /// The same client, keeping an idle sync connection for `idle` instead of
    /// `SYNC_CONNECTION_IDLE`.
    pub fn with_sync_connection_idle(mut self, idle: Duration) -> Result<Self, SyncError> {
        self.http = http_client(idle)?;
        Ok(self)
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub(crate) fn live_http(&self) -> &reqwest::Client {
        &self.live_http
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, SyncError> {
        self.base.join(path).map_err(|_| SyncError::BadServerAddress(self.base.to_string()))
    }

    pub(crate) fn authed(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, SyncError> {
        let token = self.token.as_deref().ok_or(SyncError::NotJoined)?;
        Ok(rb.bearer_auth(token))
    }

    pub(crate) fn transport(&self, e: reqwest::Error) -> SyncError {
        let server = self.base.to_string();
        // Anything else on the way (refused, reset, cut mid-body) means "not reachable now".
        if e.is_timeout() {
            SyncError::Timeout { server }
        } else {
            SyncError::Offline { server, reason: root_cause(&e) }
        }
    }

    pub(crate) async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, SyncError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let code = status.as_u16();
        let retry_after = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let api = serde_json::from_slice::<ApiError>(&bytes).unwrap_or_else(|_| ApiError {
            code: format!("http_{code}"),
            message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            retryable: crate::error::retryable_status(code),
        });
        Err(SyncError::from_api(code, api, retry_after))
    }

    /// Redeems an invite code; the answer carries this device's own credential.
    pub async fn join(&self, req: &JoinRequest) -> Result<JoinResponse, SyncError> {
        let resp = self
            .http
            .post(self.url("v1/join")?)
            .timeout(REQUEST_TIMEOUT)
            .json(req)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        resp.json().await.map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// One sync exchange. A request body over 1 KiB is sent gzip-compressed.
    pub async fn sync(&self, req: &SyncRequest) -> Result<SyncResponse, SyncError> {
        let body = kith_proto::encode(req).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let mut rb = self
            .http
            .post(self.url("v1/sync")?)
            .timeout(REQUEST_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::ACCEPT, CONTENT_TYPE);
        rb = match crate::engine::gzip_body(&body) {
            Some(gz) => rb.header(reqwest::header::CONTENT_ENCODING, "gzip").body(gz),
            None => rb.body(body),
        };
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        kith_proto::decode(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Alerts this member may see, unresolved only unless `all`.
    pub async fn alerts(&self, all: bool) -> Result<AlertList, SyncError> {
        self.request(reqwest::Method::GET, if all { "v1/alerts?all=true" } else { "v1/alerts" }, None::<&()>).await
    }

    /// Claims an alert: everyone sees this member owns it, and it escalates no further.
    pub async fn claim_alert(&self, id: uuid::Uuid) -> Result<AlertView, SyncError> {
        self.request(reqwest::Method::POST, &format!("v1/alerts/{id}/claim"), None::<&()>).await
    }

    /// Resolves an alert this member claimed, with a note.
    pub async fn resolve_alert(&self, id: uuid::Uuid, req: &ResolveRequest) -> Result<AlertView, SyncError> {
        self.request(reqwest::Method::POST, &format!("v1/alerts/{id}/resolve"), Some(req)).await
    }

    /// Sends a wave to a teammate (`POST /v1/kudos`): ephemeral, delivered on their live channel.
    pub async fn kudos(&self, req: &KudosRequest) -> Result<(), SyncError> {
        self.request(reqwest::Method::POST, "v1/kudos", Some(req)).await
    }

    /// The team board as the server computes it, with presence.
    pub async fn board(&self) -> Result<BoardResponse, SyncError> {
        self.request(reqwest::Method::GET, "v1/board", None::<&()>).await
    }

    /// Any JSON endpoint of the server's API (also the lead's console: invites, devices, alert
    /// take-over and assignment), the body and the answer in their kith-api types. A 204 (or an
    /// empty answer) reads as JSON `null`, so as `()` or an `Option`.
    pub async fn request<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, SyncError> {
        let mut rb = self.http.request(method, self.url(path)?).timeout(REQUEST_TIMEOUT);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let json: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(json).map_err(|e| SyncError::Protocol(format!("{path}: {e}")))
    }
}

/// Environment variable that lets the client use plain `http://` to a server that is not on this
/// computer: for testing and development only (the credential and every check-in travel in clear).
pub const ALLOW_PLAIN_HTTP_ENV: &str = "KITH_ALLOW_PLAIN_HTTP";

fn plain_http_allowed() -> bool {
    std::env::var(ALLOW_PLAIN_HTTP_ENV).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// A server on this computer (`localhost`, 127.0.0.0/8, `::1`): plain HTTP never leaves it.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `Retry-After` in seconds (the form Kith's server sends; an HTTP date is ignored: the backoff
/// decides then).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_to_this_computer() {
        for ok in [
            "https://kith.example.org",
            "http://127.0.0.1:8457",
            "http://localhost:3000/",
            "http://[::1]:80",
            "http://127.1.2.3",
            "HTTP://LOCALHOST",
        ] {
            assert!(ServerClient::new(ok, None).is_ok(), "{ok}");
        }
        for bad in [
            "http://kith.example.org",
            "http://192.168.1.10:8457",
            "http://0.0.0.0:1",
            "http://[2001:db8::1]",
            "http://localhost.example.org",
        ] {
            match ServerClient::new(bad, None) {
                Err(e @ SyncError::PlainHttp(_)) => {
                    let m = e.to_string();
                    assert!(m.contains("https://") && m.contains("KITH_ALLOW_PLAIN_HTTP"), "{m}");
                    assert!(!e.retryable());
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
