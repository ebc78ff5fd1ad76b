//! Webhook delivery: each alert event is queued in the database in the same transaction as the
//! alert change it reports, then POSTed to the team's URL as JSON with
//! `X-Kith-Signature: sha256=<hex HMAC-SHA256 of the body under the team's secret>` and an
//! idempotency key (`X-Kith-Delivery`, also `Idempotency-Key`, and `id` in the body) that is the
//! same on every retry. Failures are retried with exponential backoff; every attempt is logged.
//! Nothing is lost across restarts: the queue is the table.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use kith_domain::TeamId;

use crate::config::AlertsConfig;
use crate::error::ServerError;
use crate::storage::{Delivery, DeliveryAttempt, Storage, StorageError, WebhookConfig};

/// Deliveries attempted per pass.
const BATCH: usize = 100;

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

/// Sets (or, with an empty URL, removes) a team's webhook after checking it.
pub async fn configure(storage: &dyn Storage, team: TeamId, url: &str, secret: &str) -> Result<(), ServerError> {
    let url = url.trim();
    if url.is_empty() {
        storage.set_webhook(team, None).await?;
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|_| {
        ServerError::Invalid(format!("'{url}' is not a URL: give one like https://alerts.example.org/kith"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ServerError::Invalid("the webhook URL must start with https:// (or http://)".into()));
    }
    if secret.len() < 16 {
        return Err(ServerError::Invalid(
            "the webhook secret must be at least 16 characters: generate a random one".into(),
        ));
    }
    storage.set_webhook(team, Some(WebhookConfig { url: url.to_string(), secret: secret.to_string() })).await?;
    Ok(())
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
        let next = now.saturating_add(self.backoff_ms(d.attempts));
        match sent {
            Ok(r) if r.status().is_success() => DeliveryAttempt {
                at: now,
                status: Some(r.status().as_u16()),
                error: None,
                delivered: true,
                next_attempt_at: now,
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
                error: Some(format!("could not reach the receiver: {e}")),
                delivered: false,
                next_attempt_at: next,
            },
        }
    }
}
