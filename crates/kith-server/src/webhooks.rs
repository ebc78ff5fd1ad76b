//! Webhook delivery: each alert event is queued in the database in the same transaction as the
//! alert change it reports, then POSTed to the team's URL as JSON with
//! `X-Kith-Signature: sha256=<hex HMAC-SHA256 of the body under the team's secret>` and an
//! idempotency key (`X-Kith-Delivery`, also `Idempotency-Key`, and `id` in the body) that is the
//! same on every retry. Failures are retried with exponential backoff; every attempt is logged.
//! Nothing is lost across restarts: the queue is the table.
//!
//! A lead chooses the URL, so the server refuses targets on loopback, private and other
//! special-use networks unless its operator allows them ([`special_use`]), at configuration and
//! again at every delivery (the name is resolved once per connection and only checked addresses are
//! connected to), never follows a redirect and never goes through a proxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use kith_domain::TeamId;

use crate::config::AlertsConfig;
use crate::error::ServerError;
use crate::storage::{Delivery, DeliveryAttempt, Storage, StorageError, WebhookConfig};

/// Deliveries attempted per pass.
const BATCH: usize = 100;

/// Longest webhook URL accepted, in characters (code points) as the OpenAPI document's
/// `maxLength` counts: a lead types or pastes it, and a path may hold any script.
pub const MAX_URL_CHARS: usize = 2000;
/// Shortest and longest webhook secret, in characters as the OpenAPI document counts them.
pub const MIN_SECRET_CHARS: usize = 16;
pub const MAX_SECRET_CHARS: usize = 256;

/// `sha256=<hex>`: the signature of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why an address is no webhook target unless the operator allows private targets
/// (`alerts.webhook_allow_private`); `None` for an ordinary public address. A lead chooses the
/// URL, so without this a webhook could reach what only the server can reach: its own loopback
/// services, the private network, a cloud's metadata service.
pub fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_use_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Some(special_use_v4(v4).unwrap_or("an IPv4-mapped IPv6 address"));
            }
            let seg = v6.segments();
            if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if v6.is_unique_local() {
                Some("a private (unique local) address")
            } else if v6.is_unicast_link_local() || (seg[0] & 0xffc0) == 0xfec0 {
                Some("a link-local address")
            } else if seg[0] == 0x64 && seg[1] == 0xff9b {
                Some("a NAT64 address (it embeds an IPv4 address)")
            } else if seg[0] == 0x2002 {
                Some("a 6to4 address (it embeds an IPv4 address)")
            } else if seg[0] == 0x2001 && seg[1] < 0x0200 {
                Some("an IETF special-purpose address (Teredo, benchmarking, ...)")
            } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
                Some("a documentation address")
            } else if seg[0] == 0x0100 && seg[1..4] == [0, 0, 0] {
                Some("a discard-only address")
            } else if seg[..6] == [0, 0, 0, 0, 0, 0] {
                Some("an IPv4-compatible IPv6 address")
            } else {
                None
            }
        }
    }
}

fn special_use_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("the unspecified (\"this network\") range")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private network address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT (shared) address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata services live there)")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() || a >= 240 {
        Some("a reserved or broadcast address")
    } else if ip.is_documentation() {
        Some("a documentation address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("an IETF protocol address")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("a benchmarking address")
    } else {
        None
    }
}

fn not_allowed(host: &str, ip: IpAddr, why: &str) -> String {
    format!(
        "the webhook's host {host} is {ip}, {why}: webhooks go to public addresses unless the server's operator \
         sets alerts.webhook_allow_private = true"
    )
}

/// Checks that a webhook URL's host is, or resolves only to, public addresses (unless `allow_private`).
pub async fn check_target(url: &url::Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let (host, ips): (String, Vec<IpAddr>) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), vec![IpAddr::V4(ip)]),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), vec![IpAddr::V6(ip)]),
        Some(url::Host::Domain(name)) => {
            let ips = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| format!("the webhook's host {name} cannot be resolved ({e}): check the URL"))?
                .map(|a| a.ip())
                .collect();
            (name.to_string(), ips)
        }
        None => return Err("the webhook URL has no host".into()),
    };
    for ip in ips {
        if let Some(why) = special_use(ip) {
            return Err(not_allowed(&host, ip, why));
        }
    }
    Ok(())
}

/// The deliverer's resolver: resolves a host once and hands the HTTP client only the addresses
/// that may be reached, so the address checked is the address connected to (a name that resolved
/// to a public address when the webhook was set cannot be pointed at loopback later).
#[derive(Debug)]
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let ok: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| match special_use(a.ip()) {
                    Some(why) if !allow => {
                        refused = Some(not_allowed(&host, a.ip(), why));
                        false
                    }
                    _ => true,
                })
                .collect();
            if ok.is_empty() {
                let msg = refused.unwrap_or_else(|| format!("{host} resolves to no address"));
                return Err(msg.into());
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sets (or, with an empty URL, removes) a team's webhook after checking it: an http(s) URL whose
/// host is public (see [`check_target`]), and a long enough secret.
pub async fn configure(
    storage: &dyn Storage,
    team: TeamId,
    url: &str,
    secret: &str,
    allow_private: bool,
) -> Result<(), ServerError> {
    let url = url.trim();
    if url.is_empty() {
        storage.set_webhook(team, None).await?;
        return Ok(());
    }
    let len = kith_domain::limits::char_count(url);
    if len > MAX_URL_CHARS {
        return Err(ServerError::Invalid(format!(
            "the webhook URL is {len} characters long; at most {MAX_URL_CHARS}: give a shorter one"
        )));
    }
    let parsed = url::Url::parse(url).map_err(|_| {
        ServerError::Invalid(format!("'{url}' is not a URL: give one like https://alerts.example.org/kith"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ServerError::Invalid("the webhook URL must start with https:// (or http://)".into()));
    }
    if parsed.username() != "" || parsed.password().is_some() {
        return Err(ServerError::Invalid(
            "the webhook URL must not carry a user name or password: authenticate with the signature".into(),
        ));
    }
    check_target(&parsed, allow_private).await.map_err(ServerError::Invalid)?;
    let len = kith_domain::limits::char_count(secret);
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&len) {
        return Err(ServerError::Invalid(format!(
            "the webhook secret is {len} characters long: it must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} \
             characters; generate a random one"
        )));
    }
    storage.set_webhook(team, Some(WebhookConfig { url: url.to_string(), secret: secret.to_string() })).await?;
    Ok(())
}

/// An error and what caused it, in one line (reqwest's own message leaves out the cause).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The deliverer.
#[derive(Debug)]
pub struct Webhooks {
    storage: Arc<dyn Storage>,
    http: reqwest::Client,
    config: AlertsConfig,
    /// Serialises passes, so one delivery is never attempted twice at once.
    pass: tokio::sync::Mutex<()>,
    /// Woken when something is queued.
    pub queued: tokio::sync::Notify,
}

impl Webhooks {
    pub fn new(storage: Arc<dyn Storage>, config: AlertsConfig) -> Result<Webhooks, ServerError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.webhook_timeout_s.max(1)))
            .user_agent(concat!("kith-server/", env!("CARGO_PKG_VERSION")))
            // A redirect would lead the request wherever the receiver says, past every check here.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the resolver's check.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow_private: config.webhook_allow_private }))
            .build()
            .map_err(|e| ServerError::Internal(format!("cannot build the webhook client: {e}")))?;
        Ok(Webhooks { storage, http, config, pass: tokio::sync::Mutex::new(()), queued: tokio::sync::Notify::new() })
    }

    /// The delay before attempt `attempts + 1`, after `attempts` failures: exponential from the
    /// minimum to the maximum backoff.
    pub fn backoff_ms(&self, attempts: u32) -> i64 {
        let min = self.config.webhook_min_backoff_s.max(1);
        let max = self.config.webhook_max_backoff_s.max(min);
        let secs = min.saturating_mul(1u64 << attempts.min(30)).min(max);
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Attempts every delivery due at `now`; returns how many were delivered.
    pub async fn deliver_due(&self, now: i64) -> Result<usize, StorageError> {
        let _pass = self.pass.lock().await;
        let mut delivered = 0;
        for d in self.storage.due_deliveries(now, BATCH).await? {
            let attempt = self.attempt(&d, now).await;
            if attempt.delivered {
                delivered += 1;
                metrics::counter!("kith_webhook_deliveries_total", "outcome" => "delivered").increment(1);
            } else {
                metrics::counter!("kith_webhook_deliveries_total", "outcome" => "retry").increment(1);
                tracing::warn!(delivery = %d.key, error = ?attempt.error, status = ?attempt.status, "webhook delivery failed; will retry");
            }
            self.storage.record_attempt(d.id, attempt).await?;
        }
        Ok(delivered)
    }

    async fn attempt(&self, d: &Delivery, now: i64) -> DeliveryAttempt {
        let next = now.saturating_add(self.backoff_ms(d.attempts));
        // A host given as an address is not resolved: check it here (names are checked by the resolver).
        if !self.config.webhook_allow_private
            && let Ok(u) = url::Url::parse(&d.url)
            && let Some(ip) = match u.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            }
            && let Some(why) = special_use(ip)
        {
            return DeliveryAttempt {
                at: now,
                status: None,
                error: Some(not_allowed(&ip.to_string(), ip, why)),
                delivered: false,
                next_attempt_at: next,
            };
        }
        let sent = self
            .http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Kith-Signature", signature(&d.secret, d.body.as_bytes()))
            .header("X-Kith-Delivery", &d.key)
            .header("Idempotency-Key", &d.key)
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => DeliveryAttempt {
                at: now,
                status: Some(r.status().as_u16()),
                error: None,
                delivered: true,
                next_attempt_at: now,
            },
            Ok(r) if r.status().is_redirection() => DeliveryAttempt {
                at: now,
                status: Some(r.status().as_u16()),
                error: Some(format!(
                    "the receiver answered {} (a redirect, which is not followed): give the final URL",
                    r.status()
                )),
                delivered: false,
                next_attempt_at: next,
            },
            Ok(r) => DeliveryAttempt {
                at: now,
                status: Some(r.status().as_u16()),
                error: Some(format!("the receiver answered {}", r.status())),
                delivered: false,
                next_attempt_at: next,
            },
            Err(e) => DeliveryAttempt {
                at: now,
                status: None,
                error: Some(format!("could not reach the receiver: {}", with_causes(&e))),
                delivered: false,
                next_attempt_at: next,
            },
        }
    }
}
