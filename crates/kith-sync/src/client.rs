//! The HTTP side: join, sync and the team board, over reqwest.

use std::time::Duration;

use kith_proto::{ApiError, CONTENT_TYPE, JoinRequest, JoinResponse, SyncRequest, SyncResponse};
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
    /// device"). Syncs keep their pooled connection.
    live_http: reqwest::Client,
}

/// How long one request may take before it counts as failed (and is retried later).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("kith/", env!("CARGO_PKG_VERSION")))
        };
        let http = builder().build().map_err(|e| SyncError::Protocol(e.to_string()))?;
        let live_http = builder().pool_max_idle_per_host(0).build().map_err(|e| SyncError::Protocol(e.to_string()))?;
        Ok(ServerClient { base: url, token, http, live_http })
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

    /// Alerts this member may see (JSON `{server_time, alerts}`), unresolved only unless `all`.
    pub async fn alerts(&self, all: bool) -> Result<serde_json::Value, SyncError> {
        let path = if all { "v1/alerts?all=true" } else { "v1/alerts" };
        let rb = self.http.get(self.url(path)?).timeout(REQUEST_TIMEOUT);
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        resp.json().await.map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Claims an alert: everyone sees this member owns it, and it escalates no further.
    pub async fn claim_alert(&self, id: uuid::Uuid) -> Result<serde_json::Value, SyncError> {
        let rb = self.http.post(self.url(&format!("v1/alerts/{id}/claim"))?).timeout(REQUEST_TIMEOUT);
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        resp.json().await.map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Resolves an alert this member claimed, with a note.
    pub async fn resolve_alert(&self, id: uuid::Uuid, note: &str) -> Result<serde_json::Value, SyncError> {
        let rb = self
            .http
            .post(self.url(&format!("v1/alerts/{id}/resolve"))?)
            .timeout(REQUEST_TIMEOUT)
            .json(&serde_json::json!({ "note": note }));
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        resp.json().await.map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Sends a wave to a teammate (`POST /v1/kudos`): ephemeral, delivered on their live channel.
    pub async fn kudos(&self, to: uuid::Uuid) -> Result<(), SyncError> {
        let rb = self.http.post(self.url("v1/kudos")?).timeout(REQUEST_TIMEOUT).json(&serde_json::json!({ "to": to }));
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        self.check(resp).await?;
        Ok(())
    }

    /// Any other JSON endpoint of the server's API (the lead's console: invites, devices, alert
    /// take-over and assignment): `method` (`GET`, `POST`, `PUT`) on `path` with an optional JSON
    /// body; a 204 answers `null`.
    pub async fn request_json(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, SyncError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| SyncError::Protocol(format!("'{method}' is not an HTTP method")))?;
        let mut rb = self.http.request(method, self.url(path)?).timeout(REQUEST_TIMEOUT);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(serde_json::Value::Null);
        }
        resp.json().await.map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// The team board as the server computes it (JSON), with presence.
    pub async fn board(&self) -> Result<serde_json::Value, SyncError> {
        let rb = self.http.get(self.url("v1/board")?).timeout(REQUEST_TIMEOUT);
        let resp = self.authed(rb)?.send().await.map_err(|e| self.transport(e))?;
        let resp = self.check(resp).await?;
        resp.json().await.map_err(|e| SyncError::Protocol(e.to_string()))
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
