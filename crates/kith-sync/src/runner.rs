//! Background sync: after a local change (debounced), on a live poke, periodically and at start,
//! with exponential backoff and jitter after failures. The state is published for the UI.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use kith_store::Store;
use rand::Rng;
use serde::Serialize;
use tokio::sync::{Notify, broadcast, watch};
use uuid::Uuid;

use kith_core::schedule::{Ended, Schedule, ScheduleOptions};

use crate::client::ServerClient;
use crate::engine;
use crate::live::{self, LiveEvent, Presence};

/// Timing of the background loop.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Wait this long after a local change before syncing, to batch quick successive edits.
    pub debounce: Duration,
    /// Sync at least this often even with no trigger.
    pub period: Duration,
    /// First retry delay after a failure; doubles up to `max_backoff`, with full jitter.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Open the live channel (pokes and presence).
    pub live: bool,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            debounce: Duration::from_millis(250),
            period: Duration::from_secs(60),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            live: true,
        }
    }
}

/// The sync state shown to the user: staleness is never hidden.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// The last exchange with the server succeeded.
    pub online: bool,
    /// Whether the live channel is connected.
    pub live: bool,
    pub last_synced_ms: Option<i64>,
    /// Local changes not yet on the server.
    pub pending_changes: usize,
    pub last_error: Option<String>,
    /// The last error cannot be fixed by waiting (e.g. the device was revoked).
    pub needs_attention: bool,
    /// The server has no record of this device (restored from a backup taken before it joined):
    /// joining with a new invite re-joins it as the same member, keeping everything.
    pub device_unknown: bool,
    /// The server answered but could not store some local changes now (its storage is full or
    /// failing): why, in one sentence. They stay queued and are sent again with backoff.
    pub retrying: Option<String>,
    pub clock_offset_ms: Option<i64>,
    /// How many sync exchanges completed since start.
    pub syncs: u64,
    /// How many sync cycles ended since start, whether they succeeded or failed.
    pub cycles: u64,
}

/// Controls a running background sync.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    trigger: Arc<Notify>,
    local: Arc<Notify>,
    status: watch::Receiver<SyncStatus>,
    presence: watch::Receiver<BTreeMap<Uuid, Presence>>,
    alerts: watch::Receiver<Option<Box<kith_api::AlertEvent>>>,
    /// Every live event, in order (a watch keeps only the latest: two alerts or waves arriving
    /// together must both reach the app).
    live_events: broadcast::Sender<LiveEvent>,
    /// The documents each successful sync received, so the app can refresh what changed.
    received: broadcast::Sender<Vec<Uuid>>,
    stop: Arc<watch::Sender<bool>>,
}

impl SyncHandle {
    /// A local change was made: sync soon (debounced).
    pub fn local_change(&self) {
        self.local.notify_one();
    }
    /// Sync now.
    pub fn sync_now(&self) {
        self.trigger.notify_one();
    }
    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }
    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }
    pub fn watch_presence(&self) -> watch::Receiver<BTreeMap<Uuid, Presence>> {
        self.presence.clone()
    }
    /// The latest `alert` event from the live channel (for desktop notifications); the full
    /// list is `ServerClient::alerts`.
    pub fn watch_alerts(&self) -> watch::Receiver<Option<Box<kith_api::AlertEvent>>> {
        self.alerts.clone()
    }
    /// Every event of the live channel from now on (alerts, waves, presence, pokes). A receiver
    /// that falls behind by more than [`EVENT_BUFFER`] events gets `Lagged` and continues.
    pub fn subscribe_live(&self) -> broadcast::Receiver<LiveEvent> {
        self.live_events.subscribe()
    }
    /// The documents received by each successful sync from now on (only syncs that received any).
    pub fn subscribe_received(&self) -> broadcast::Receiver<Vec<Uuid>> {
        self.received.subscribe()
    }
    /// Stops the background tasks.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// A delay of `attempt` failures: exponential from `min` to `max`, with full jitter so many
/// devices coming back at once do not all retry together.
pub fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    Duration::from_millis(kith_core::schedule::backoff_ms(attempt, ms(min), ms(max), rand::rng().random()))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How many events [`SyncHandle::subscribe_live`] and [`SyncHandle::subscribe_received`] keep
/// for a slow receiver.
pub const EVENT_BUFFER: usize = 256;

/// Starts background sync on the current tokio runtime.
pub fn spawn(store: Arc<Mutex<Store>>, client: ServerClient, opts: RunnerOptions) -> SyncHandle {
    let (status_tx, status_rx) = watch::channel(SyncStatus::default());
    let (presence_tx, presence_rx) = watch::channel(BTreeMap::new());
    let (alerts_tx, alerts_rx) = watch::channel(None);
    let handle = SyncHandle {
        trigger: Arc::new(Notify::new()),
        local: Arc::new(Notify::new()),
        status: status_rx,
        presence: presence_rx,
        alerts: alerts_rx,
        live_events: broadcast::channel(EVENT_BUFFER).0,
        received: broadcast::channel(EVENT_BUFFER).0,
        stop: Arc::new(watch::channel(false).0),
    };
    let status_tx = Arc::new(status_tx);

    {
        let (h, store, client, opts, status_tx) =
            (handle.clone(), store.clone(), client.clone(), opts.clone(), status_tx.clone());
        tokio::spawn(async move {
            let mut stop = h.stop.subscribe();
            // The core decides when to try again (kith_core::schedule), as the browser's does.
            let mut schedule = Schedule::new(ScheduleOptions {
                debounce_ms: ms(opts.debounce),
                period_ms: ms(opts.period),
                min_backoff_ms: ms(opts.min_backoff),
                max_backoff_ms: ms(opts.max_backoff),
            });
            loop {
                if *stop.borrow() {
                    return;
                }
                let result = engine::sync_now(&store, &client).await;
                let pending = {
                    let mut s = store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    engine::pending_change_count(&mut s).unwrap_or(0)
                };
                let ended = match &result {
                    Ok(report) => {
                        // A refusal for now is a failure for the backoff: try again soon, not
                        // after a whole period, and later each time it happens again.
                        let retrying = report.retrying_text().map(|why| {
                            format!("Not delivered yet: {why}. Kept on this device and sent again automatically.")
                        });
                        if !report.received.is_empty() {
                            // Nobody listening is fine: the documents are in the store already.
                            let _ = h.received.send(report.received.clone());
                        }
                        let ended = if retrying.is_some() { Ended::RefusedForNow } else { Ended::Done };
                        status_tx.send_modify(|st| {
                            st.online = true;
                            st.last_synced_ms = Some(report.synced_at_ms);
                            st.pending_changes = pending;
                            st.last_error = None;
                            st.needs_attention = false;
                            st.device_unknown = false;
                            st.retrying = retrying;
                            st.clock_offset_ms = Some(report.clock_offset_ms);
                            st.syncs += 1;
                            st.cycles += 1;
                        });
                        ended
                    }
                    Err(e) => {
                        let retry = e.retryable();
                        status_tx.send_modify(|st| {
                            st.online = false;
                            st.pending_changes = pending;
                            st.last_error = Some(e.to_string());
                            st.needs_attention = !retry;
                            st.device_unknown = e.device_unknown();
                            st.cycles += 1;
                        });
                        Ended::Failed { retryable: retry, retry_after_ms: e.retry_after().map(ms) }
                    }
                };
                let delay = Duration::from_millis(schedule.after(&ended, rand::rng().random()));
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = h.trigger.notified() => {}
                    _ = tokio::time::sleep(delay) => {}
                    _ = h.local.notified() => {
                        // Debounce: a burst of local edits becomes one sync.
                        tokio::time::sleep(opts.debounce).await;
                    }
                }
            }
        });
    }

    if opts.live {
        let (h, client, status_tx) = (handle.clone(), client, status_tx);
        tokio::spawn(async move {
            let mut stop = h.stop.subscribe();
            let mut failures = 0u32;
            loop {
                if *stop.borrow() {
                    return;
                }
                match live::connect(&client).await {
                    Ok(mut stream) => {
                        failures = 0;
                        status_tx.send_modify(|st| st.live = true);
                        // Whatever happened while we were not listening: catch up.
                        h.trigger.notify_one();
                        loop {
                            tokio::select! {
                                _ = stop.changed() => return,
                                ev = stream.next() => {
                                    if let Some(Ok(ev)) = &ev {
                                        // Nobody subscribed is fine: then nobody needs it.
                                        let _ = h.live_events.send(ev.clone());
                                    }
                                    match ev {
                                        Some(Ok(LiveEvent::Changed(_))) => h.trigger.notify_one(),
                                        Some(Ok(LiveEvent::Presence(p))) => {
                                            presence_tx.send_modify(|m| { m.insert(p.member_id, p); });
                                        }
                                        Some(Ok(LiveEvent::Alert(a))) => {
                                            alerts_tx.send_replace(Some(a));
                                        }
                                        Some(Ok(LiveEvent::Other(..) | LiveEvent::Kudos(_))) => {}
                                        Some(Err(_)) | None => break,
                                    }
                                }
                            }
                        }
                        status_tx.send_modify(|st| st.live = false);
                    }
                    Err(e) if !e.retryable() => {
                        // Refused for good (revoked, or unknown to a restored server): no sync
                        // can succeed either, so the device is not shown online meanwhile.
                        status_tx.send_modify(|st| {
                            st.online = false;
                            st.live = false;
                            st.last_error = Some(e.to_string());
                            st.needs_attention = true;
                            st.device_unknown = e.device_unknown();
                        });
                    }
                    Err(_) => {}
                }
                failures = failures.saturating_add(1);
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(backoff(failures - 1, Duration::from_millis(500), Duration::from_secs(60))) => {}
                }
            }
        });
    }
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_the_cap_with_jitter() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for attempt in 0..30 {
            let cap = min.saturating_mul(2u32.saturating_pow(attempt.min(20))).min(max);
            for _ in 0..20 {
                let d = backoff(attempt, min, max);
                assert!(d <= cap, "attempt {attempt}: {d:?} over {cap:?}");
                assert!(d >= cap / 2, "attempt {attempt}: {d:?} under half of {cap:?}");
            }
        }
        assert!(backoff(50, min, max) <= max);
    }
}
