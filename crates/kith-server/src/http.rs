//! The HTTP API (axum): routes, handlers, the middleware stack and the OpenAPI document.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use automerge::ActorId;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt as _;
use kith_domain::rules;
use kith_domain::{DeviceId, MemberId, Role, TeamId, Timestamp, limits};
use kith_proto::{JoinRequest, JoinResponse, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION, SyncRequest};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_stream::wrappers::BroadcastStream;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::alerts::{AlertEngine, AlertError, AlertEvent, AlertView, CheckinTimes};
use crate::auth;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::docs::DocService;
use crate::error::{ApiErr, ServerError};
use crate::live::{ChangedEvent, LiveEvent, LiveHub, PresenceEvent, visible};
use crate::storage::{DeviceAuth, NewDevice, Redeem, Storage};
use crate::sync::{SyncError, SyncService, Transfer};
use crate::views;
use crate::webhooks::Webhooks;

/// The running server's state.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    /// The documents: cache, loading, the server's own edits.
    pub docs: Arc<DocService>,
    pub sync: SyncService,
    /// The live channel: pokes (following the stored changes), presence, alerts, kudos.
    pub live: Arc<LiveHub>,
    pub metrics: PrometheusHandle,
    /// Every deadline is decided on this clock.
    pub clock: Arc<dyn Clock>,
    pub alerts: Arc<AlertEngine>,
    pub webhooks: Webhooks,
    /// The built dashboard served at `/` (see [`crate::ui`]), if installed.
    pub ui_dir: Option<std::path::PathBuf>,
    /// Kudos sent per member, for the rate limit.
    pub kudos_limiter: crate::views::RateLimiter,
    /// Whether storage works, for `/healthz`.
    pub storage_status: crate::status::StorageStatus,
    /// When each device last reached the server (the console's list of devices).
    pub seen: crate::console::Seen,
    /// Where heavy sync exchanges run, bounded (see [`crate::heavy`]).
    pub heavy: Arc<crate::heavy::HeavyPool>,
    /// Keeps the document cache true to a database other instances write to (PostgreSQL).
    pub coherence: Option<Arc<crate::coherence::Coherence>>,
    /// Whether the background start is done ([`App::started`]).
    started: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Builds the state over a storage, on the system clock.
    pub async fn new(config: Config, storage: Arc<dyn Storage>) -> Result<Arc<App>, ServerError> {
        App::with_clock(config, storage, Arc::new(SystemClock)).await
    }

    /// Builds the state over a storage and a clock, and starts re-deriving every deadline and
    /// open alert from storage in the background (anything that came due while the server was
    /// down fires then, once): the server serves meanwhile, and `/healthz` says when the deadline
    /// engine is done ([`AlertEngine::is_ready`]). The rosters are checked after that.
    pub async fn with_clock(
        config: Config,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<App>, ServerError> {
        App::with_clock_held(config, storage, clock, std::future::ready(())).await
    }

    /// [`App::with_clock`], whose background start (the deadline engine's load, then the roster
    /// check) waits for `hold` first: a test looks at a server whose engine is still loading.
    pub async fn with_clock_held(
        config: Config,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        hold: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Arc<App>, ServerError> {
        let actor = ActorId::from(storage.server_actor().await?);
        let receipt_key = storage.receipt_key().await?;
        let docs = storage.count_docs().await?;
        let metrics = metrics_handle();
        metrics::gauge!("kith_documents").set(docs as f64);
        storage.set_feed_window_bytes(config.cache.feed_window_bytes);
        storage.set_auth_cache_bytes(config.cache.auth_max_bytes);
        // Empty at start: each device is read from storage on its first exchange.
        let clocks = crate::receipts::DeviceClocks::new(config.cache.clocks_max_bytes);
        let docs =
            Arc::new(DocService::new(storage.clone(), config.cache.clone(), config.limits.clone(), actor, clocks));
        let live = Arc::new(LiveHub::new());
        live.set_presence_max_bytes(config.limits.presence_max_bytes);
        let alerts = Arc::new(AlertEngine::new(
            storage.clone(),
            docs.clone(),
            live.clone(),
            clock.clone(),
            config.alerts.shifts_max_bytes,
            config.alerts.teams_max_bytes,
        ));
        let webhooks = Webhooks::new(storage.clone(), config.alerts.clone())?;
        let ui_dir = crate::ui::resolve(&config);
        let kudos_limiter = crate::views::RateLimiter::new(config.kudos_rate.burst, config.kudos_rate.replenish_ms);
        let cursor_key = crate::cursor::CursorKey::new(&receipt_key)?;
        let heavy =
            Arc::new(crate::heavy::HeavyPool::new(config.limits.heavy_sync_workers, config.limits.heavy_sync_queue));
        let sync = SyncService {
            storage: storage.clone(),
            docs: docs.clone(),
            limits: config.limits.clone(),
            receipt_key,
            cursor_key,
            heavy: heavy.clone(),
        };
        let storage_status = crate::status::StorageStatus::new(storage.clone(), &config);
        // One server process per SQLite file: only a shared database has other writers.
        let coherence = config.postgres_url().is_some().then(|| crate::coherence::Coherence::new(docs.clone()));
        let app = Arc::new(App {
            started: tokio::sync::watch::channel(false).0,
            coherence: coherence.clone(),
            ui_dir,
            kudos_limiter,
            storage_status,
            seen: crate::console::Seen::new(config.limits.seen_max_bytes),
            heavy,
            docs,
            sync,
            live: live.clone(),
            config,
            metrics,
            clock,
            alerts: alerts.clone(),
            webhooks,
        });
        // Takes the engine's catch-up lock before anything follows the stored changes.
        let loading = alerts.load_in_background(hold);
        // From here on the deadline engine (once loaded) and the live channel follow what is stored.
        alerts.follow(live.shutdown_signal());
        alerts.relay(live.shutdown_signal(), app.config.alerts.relay_max_bytes);
        if let Some(c) = &coherence {
            c.follow(live.shutdown_signal());
        }
        live.watch_auth(storage.clone(), Duration::from_millis(app.config.limits.auth_check_ms));
        live.share_presence(storage.clone(), Duration::from_millis(app.config.limits.presence_ttl_ms));
        live.follow(storage);
        let a = app.clone();
        tokio::spawn(async move {
            let _ = loading.await;
            // A join whose roster write failed and whose background retry did not finish before
            // a stop is completed here (after the engine's load: both read every team document).
            match a.storage().teams().await {
                Ok(teams) => {
                    for t in teams {
                        if let Err(e) = a.docs.ensure_roster(t.id, a.clock.now_ms()).await {
                            tracing::warn!(team = %t.id, error = %e, "the roster is missing a member: retrying in the background");
                            repair_roster_later(a.clone(), t.id);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not list the teams to check their rosters"),
            }
            a.started.send_replace(true);
        });
        Ok(app)
    }

    /// Waits until the background start is done: the deadline engine has re-evaluated every
    /// active shift and every roster was checked (tests start from there).
    pub async fn started(&self) {
        let mut rx = self.started.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// One sync exchange as the HTTP handler runs it: the sync, then (briefly, at most
    /// `alerts.sync_wait_ms`) waiting for the deadline engine to take in what it stored, so an
    /// emergency's alert is raised before the device hears "accepted". The engine takes it in
    /// whether or not this future is then polled to the end.
    pub async fn sync_exchange(
        &self,
        dev: &DeviceAuth,
        req: kith_proto::SyncRequest,
    ) -> Result<kith_proto::SyncResponse, SyncError> {
        self.sync_exchange_with(dev, req, Transfer::Plain).await
    }

    /// [`App::sync_exchange`] for an answer that travels as `transfer` says.
    pub async fn sync_exchange_with(
        &self,
        dev: &DeviceAuth,
        req: kith_proto::SyncRequest,
        transfer: Transfer,
    ) -> Result<kith_proto::SyncResponse, SyncError> {
        let synced = self.sync.sync_with(dev, req, self.clock.now_ms(), transfer).await?;
        // While the engine loads at start it takes nothing in: waiting would only delay the
        // answer (what was stored is taken in once it is loaded).
        if let Some(seq) = synced.stored_upto.filter(|_| self.alerts.is_ready()) {
            let wait = Duration::from_millis(self.config.alerts.sync_wait_ms);
            if tokio::time::timeout(wait, self.alerts.caught_up(seq)).await.is_err() {
                tracing::warn!(seq, "answering a sync before the deadline engine took it in (it still will)");
            }
        }
        Ok(synced.response)
    }

    /// Waits until every write queued so far is committed and the deadline engine has taken in
    /// everything stored (tests and benchmarks; a running server does this by itself).
    pub async fn settled(&self) {
        if let Err(e) = self.alerts.settle().await {
            tracing::error!(error = %e, "could not settle the deadline engine");
        }
    }

    /// Evaluates every deadline and escalation step due at `now` (the ticker calls this on the
    /// system clock; tests call it on a manual clock).
    pub async fn run_due(&self, now: i64) -> Result<usize, ServerError> {
        Ok(self.alerts.run_due(now).await?)
    }

    /// Attempts every webhook delivery due at `now`; returns how many were delivered.
    pub async fn deliver_due(&self, now: i64) -> Result<usize, ServerError> {
        Ok(self.webhooks.deliver_due(now).await?)
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.docs.storage
    }
}

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
            let builder = PrometheusBuilder::new();
            let builder =
                match builder.set_buckets_for_metric(Matcher::Full("kith_sync_duration_seconds".into()), &buckets) {
                    Ok(b) => b,
                    Err(_) => PrometheusBuilder::new(),
                };
            match builder.install_recorder() {
                Ok(h) => h,
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests, ends live
/// streams and closes the storage.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let hub = app.live.clone();
    if app.config.alerts.background {
        spawn_background(app.clone());
    }
    let max_connections = crate::conn::raise_file_limit(app.config.limits.max_connections);
    let result = crate::conn::serve(listener, router(app.clone()), &app.config.limits, max_connections, async move {
        shutdown.await;
        hub.shutdown();
    })
    .await;
    app.storage().close().await;
    result.map_err(ServerError::Io)
}

/// The deadline ticker and the webhook deliverer, on the app's clock, until shutdown, while this
/// instance holds the duty lease ([`hold_duty`]). They sleep until the next thing is due (at most
/// `alerts.tick_ms`), so a deadline is acted on within milliseconds of passing, and a restart or a
/// hand-over loses nothing (both re-read their work from storage).
fn spawn_background(app: Arc<App>) {
    let tick = Duration::from_millis(app.config.alerts.tick_ms.max(10));
    let duty = hold_duty(app.clone());
    let a = app.clone();
    let mut stop = app.live.shutdown_signal();
    let mut held = duty.clone();
    tokio::spawn(async move {
        loop {
            if !*held.borrow_and_update() {
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    changed = held.changed() => if changed.is_err() { return },
                }
                continue;
            }
            let now = a.clock.now_ms();
            if let Err(e) = a.run_due(now).await {
                tracing::error!(error = %e, "deadline scan failed; retrying");
            }
            let wait = match a.alerts.next_wake().await {
                Some(t) => {
                    Duration::from_millis(u64::try_from(t.saturating_sub(a.clock.now_ms())).unwrap_or(0)).min(tick)
                }
                None => tick,
            };
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                _ = tokio::time::sleep(wait) => {}
                _ = a.alerts.wake.notified() => {}
                _ = held.changed() => {}
            }
        }
    });
    let mut stop = app.live.shutdown_signal();
    let mut held = duty;
    tokio::spawn(async move {
        loop {
            if !*held.borrow_and_update() {
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    changed = held.changed() => if changed.is_err() { return },
                }
                continue;
            }
            let now = app.clock.now_ms();
            if let Err(e) = app.deliver_due(now).await {
                tracing::error!(error = %e, "webhook delivery failed; retrying");
            }
            let wait = match app.storage().next_delivery_at().await {
                Ok(Some(t)) => {
                    Duration::from_millis(u64::try_from(t.saturating_sub(app.clock.now_ms())).unwrap_or(0)).min(tick)
                }
                _ => tick,
            };
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
                _ = app.webhooks.queued.notified() => {}
                _ = held.changed() => {}
            }
        }
    });
}

/// The lease every instance on the database competes for (see [`crate::storage::Storage::hold_lease`]).
pub const DUTY_LEASE: &str = "duty";

/// Takes and renews the duty lease (every third of `alerts.lease_ms`) until shutdown; the
/// receiver says whether this instance holds it. An instance that takes it over from another
/// reloads the deadline engine from storage first, so it goes on from every alert raised and
/// every step fired before (late steps fire at once, none twice). With one instance (SQLite
/// always) it is held from the start.
fn hold_duty(app: Arc<App>) -> tokio::sync::watch::Receiver<bool> {
    let (held, rx) = tokio::sync::watch::channel(false);
    let lease = i64::try_from(app.config.alerts.lease_ms.max(100)).unwrap_or(i64::MAX);
    let renew = Duration::from_millis(u64::try_from(lease / 3).unwrap_or(1000));
    let holder = uuid::Uuid::new_v4().to_string();
    let mut stop = app.live.shutdown_signal();
    tokio::spawn(async move {
        // Held until then, as far as this instance knows (its own clock, as the lease's).
        let mut until = i64::MIN;
        let mut first = true;
        loop {
            let now = app.clock.now_ms();
            match app.storage().hold_lease(DUTY_LEASE, &holder, now, lease).await {
                Ok(true) => {
                    if !*held.borrow() {
                        // Just loaded at start; taken over later: start from what is stored.
                        let loaded = if first { Ok(()) } else { app.alerts.reload(now).await };
                        match loaded {
                            Ok(()) => {
                                tracing::info!(instance = %holder, "this instance holds the duty lease: it runs the deadline ticker and delivers webhooks");
                                held.send_replace(true);
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "could not reload the deadline engine to take over the duty; retrying")
                            }
                        }
                    }
                    until = now.saturating_add(lease);
                }
                Ok(false) => {
                    if held.send_replace(false) {
                        tracing::warn!(instance = %holder, "another instance holds the duty lease now");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew the duty lease");
                    // Stop before it could lapse, so two instances never act at once.
                    if now.saturating_add(i64::try_from(renew.as_millis()).unwrap_or(0)) >= until {
                        held.send_replace(false);
                    }
                }
            }
            first = false;
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                _ = tokio::time::sleep(renew) => {}
            }
        }
    });
    rx
}

/// Runs `forget` every `every` until it answers None (the limiter is gone with its router),
/// telling how many client records it keeps (`kith_join_rate_clients`).
fn forget_idle_join_clients(every: Duration, mut forget: impl FnMut() -> Option<usize> + Send + 'static) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(kept) = forget() else { return };
            metrics::gauge!("kith_join_rate_clients").set(kept as f64);
        }
    });
}

/// The routes and the middleware stack.
pub fn router(app: Arc<App>) -> Router {
    let limits = &app.config.limits;
    let rate = &app.config.join_rate;
    let governor = GovernorConfigBuilder::default()
        .key_extractor(ClientIp { trusted_proxies: Arc::new(app.config.trusted_proxies.clone()) })
        .per_millisecond(rate.replenish_ms.max(1))
        .burst_size(rate.burst.max(1))
        .finish()
        .map(|conf| {
            // A record per client address, which the limiter never forgets by itself: those back
            // to a full burst (no different from an address never seen) are dropped every
            // `burst × replenish_ms`, so the records are bounded by the addresses that tried to
            // join within that time, not every address that ever did.
            let every = Duration::from_millis(u64::from(rate.burst.max(1)).saturating_mul(rate.replenish_ms.max(1)))
                .clamp(Duration::from_millis(10), Duration::from_secs(60));
            let limiter = Arc::downgrade(conf.limiter());
            forget_idle_join_clients(every, move || {
                limiter.upgrade().map(|l| {
                    l.retain_recent();
                    l.shrink_to_fit();
                    l.len()
                })
            });
            GovernorLayer::new(Arc::new(conf)).error_handler(|e| match e {
                tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
                    let mut r = ApiErr::for_status(StatusCode::TOO_MANY_REQUESTS).into_response();
                    // When the next attempt is allowed (whole seconds, at least one).
                    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(wait_time.max(1)));
                    r
                }
                _ => ApiErr::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
            })
        });
    let [csp, nosniff, referrer] = crate::ui::security_headers();
    let mut join_route = Router::new().route("/v1/join", post(join));
    if let Some(g) = governor {
        join_route = join_route.route_layer(g);
    }
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/sync", post(sync))
        .route("/v1/live", get(live))
        .route("/v1/board", get(board))
        .route("/v1/invites", post(invites))
        .route("/v1/alerts", get(list_alerts))
        .route("/v1/alerts/{id}/claim", post(claim_alert))
        .route("/v1/alerts/{id}/resolve", post(resolve_alert))
        .route("/v1/alerts/{id}/takeover", post(crate::console::takeover_alert))
        .route("/v1/alerts/{id}/assign", post(crate::console::assign_alert))
        .route("/v1/team", get(crate::console::get_team))
        .route("/v1/team/policy", axum::routing::put(crate::console::put_policy))
        .route("/v1/members/{id}", axum::routing::put(crate::console::put_member))
        .route("/v1/devices", get(crate::console::list_devices))
        .route("/v1/devices/{id}/revoke", post(crate::console::revoke_device))
        .route("/v1/webhook", axum::routing::put(put_webhook))
        .route("/v1/me", get(views::me))
        .route("/v1/shifts/{id}", get(views::get_shift))
        .route("/v1/shifts/{id}/checkins/{checkin}/ack", post(views::ack))
        .route("/v1/members/{id}/shifts", get(views::member_history))
        .route("/v1/health", get(views::health))
        .route("/v1/kudos", post(views::kudos))
        .merge(join_route)
        .fallback(crate::ui::fallback)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(RequestDecompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(limits.request_timeout_s),
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(SizeAbove::new(1024))))
        .layer(middleware::from_fn(track))
        .layer(middleware::from_fn(no_store))
        .layer(TraceLayer::new_for_http())
        .layer(csp)
        .layer(nosniff)
        .layer(referrer)
        .with_state(app)
}

/// The client's address, for the join rate limit: the peer's, unless the peer is one of
/// `trusted_proxies` (a reverse proxy terminating TLS, docs/security.md); then the nearest address
/// in `X-Forwarded-For` that is not a trusted proxy, which the proxy appended itself (what a client
/// put further left is whatever it wanted, so it is never used).
#[derive(Clone, Debug)]
struct ClientIp {
    trusted_proxies: Arc<Vec<std::net::IpAddr>>,
}

impl tower_governor::key_extractor::KeyExtractor for ClientIp {
    type Key = std::net::IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<Self::Key, tower_governor::GovernorError> {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or(tower_governor::GovernorError::UnableToExtractKey)?;
        if !self.trusted_proxies.contains(&peer) {
            return Ok(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .collect::<Vec<_>>();
        for addr in forwarded.into_iter().rev() {
            match addr {
                Some(a) if self.trusted_proxies.contains(&a) => continue,
                Some(a) => return Ok(a),
                // Not an address: everything to its left is untrustworthy.
                None => break,
            }
        }
        Ok(peer)
    }
}

/// Every error answer is JSON: replaces the plain bodies of layers and extractors.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
        let mut r = ApiErr::for_status(status).into_response();
        if let Some(v) = retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    resp
}

/// API answers carry tokens and people's check-ins: no cache (a browser's, a proxy's) keeps them.
/// The dashboard's files set their own caching (see [`crate::ui`]).
async fn no_store(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let api = path == "/v1" || path.starts_with("/v1/") || path == "/healthz";
    let mut resp = next.run(req).await;
    if api && !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    resp
}

/// Counts requests by method, route and status. Every label comes from a closed set (anyone can
/// send any method and path, and each distinct label value would be a series kept for ever): the
/// standard methods or `other`, the matched route template or `other`, and the status code.
async fn track(req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().map_or("other".to_string(), |p| p.as_str().to_string());
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("kith_http_requests_total", "method" => method, "path" => path, "status" => status).increment(1);
    resp
}

/// The method as a metrics label: one of the standard methods, or `other`.
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// An authenticated device (`Authorization: Bearer <token>`), not revoked.
#[derive(Debug, Clone)]
pub struct AuthDevice(pub DeviceAuth);

impl FromRequestParts<Arc<App>> for AuthDevice {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiErr::no_token)?;
        let dev = app.storage().device_by_token(auth::token_hash(token)).await?.ok_or_else(ApiErr::unknown_token)?;
        if dev.device.revoked_at.is_some() {
            return Err(ApiErr::unauthorized());
        }
        // What other instances stored before this request applies to it.
        if let Some(c) = &app.coherence {
            c.fresh().await?;
        }
        app.seen.touch(dev.device.id, app.clock.now_ms());
        Ok(AuthDevice(dev))
    }
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// `GET /healthz` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `failing` (with status 503).
    pub status: String,
    pub server_time: i64,
    /// `ok`, or `failing`: this server cannot store what it is sent.
    pub storage: String,
    /// `ready` once the deadline engine has re-evaluated every active shift since the server
    /// started (or took over the duty); `loading` before. The server serves meanwhile (status
    /// stays 200): alerts that came due while it was down may not be raised yet.
    pub deadlines: String,
    /// What is wrong and what to do, when failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[utoipa::path(get, path = "/healthz",
    responses((status = 200, body = Health, description = "The server is up and its storage takes writes"),
        (status = 503, body = Health, description = "The server is up but its storage fails (a full disk, a write that cannot commit): take it out of rotation")))]
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let now = crate::now_ms();
    let deadlines = if app.alerts.is_ready() { "ready" } else { "loading" }.to_string();
    match app.storage_status.check(now).await {
        Ok(()) => {
            Json(Health { status: "ok".into(), server_time: now, storage: "ok".into(), deadlines, problem: None })
                .into_response()
        }
        Err(problem) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "failing".into(),
                server_time: now,
                storage: "failing".into(),
                deadlines,
                problem: Some(problem),
            }),
        )
            .into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", body = String,
    description = "Prometheus metrics: kith_http_requests_total, kith_sync_duration_seconds, kith_documents, kith_live_connections, ..."),
        (status = 401, body = ApiErrorDoc, description = "No bearer token, or not the server's `metrics_token` (a device's token is not one)"),
        (status = 403, body = ApiErrorDoc, description = "`metrics_off`: a token was sent but the server has no `metrics_token` set, so nobody reads its metrics")),
    security(("bearer" = [])))]
async fn metrics_text(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<impl IntoResponse, ApiErr> {
    metrics_caller_allowed(app.config.metrics_token.as_deref(), bearer(&headers))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()))
}

/// Whether a request may read `/metrics`: with the configured `metrics_token`, compared through
/// SHA-256 digests so the comparison's time says nothing about the token.
/// No credentials at all is 401 whether or not metrics are on, as on every bearer endpoint.
fn metrics_caller_allowed(expected: Option<&str>, given: Option<&str>) -> Result<(), ApiErr> {
    let expected = expected.map(str::trim).filter(|t| !t.is_empty());
    if given.is_none() {
        return Err(ApiErr::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            if expected.is_some() {
                "Reading the metrics takes the server's `metrics_token` as `Authorization: Bearer <token>`: \
                 ask the server's operator."
            } else {
                "This server's metrics are off: its operator sets `metrics_token` (KITH_METRICS_TOKEN) and \
                 the scraper sends it as `Authorization: Bearer <token>` (docs/operations.md, \"Metrics\")."
            },
            false,
        ));
    }
    let Some(expected) = expected else {
        return Err(ApiErr::new(
            StatusCode::FORBIDDEN,
            "metrics_off",
            "This server's metrics are off: its operator sets `metrics_token` (KITH_METRICS_TOKEN) and the \
             scraper sends it as `Authorization: Bearer <token>` (docs/operations.md, \"Metrics\").",
            false,
        ));
    };
    match given {
        Some(g) if crate::auth::sha256(g.as_bytes()) == crate::auth::sha256(expected.as_bytes()) => Ok(()),
        _ => Err(ApiErr::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Reading the metrics takes the server's `metrics_token` as `Authorization: Bearer <token>` \
             (a device's token is not one): ask the server's operator.",
            false,
        )),
    }
}

#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "This document")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Reads a JSON request body into `T`: a JSON object only. serde would also take a struct from a
/// JSON array of its fields in order (`[null, null]`), a form no client of this API sends and the
/// OpenAPI document does not allow (found by schemathesis).
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(serde::de::Error::custom("the body must be a JSON object"));
    }
    serde_json::from_slice(body)
}

/// The JSON error body of every non-2xx answer.
#[derive(utoipa::ToSchema)]
#[schema(as = ApiError)]
#[allow(dead_code)]
pub(crate) struct ApiErrorDoc {
    /// Stable machine code, e.g. `unauthorized`, `payload_too_large`.
    code: String,
    /// What went wrong and what to do next.
    message: String,
    retryable: bool,
}

/// Redeeming an invite.
#[derive(utoipa::ToSchema)]
#[schema(as = JoinRequest)]
#[allow(dead_code)]
struct JoinRequestDoc {
    /// The invite code (case, spaces and dashes do not matter).
    code: String,
    /// The name on the team board: 1 to 300 characters (code points), no control or text-direction characters.
    /// (The pattern is `kith_domain::limits::REQUIRED_LINE_PATTERN`.)
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$"
    )]
    name: String,
    /// At most 300 characters (code points), no control or text-direction characters.
    #[schema(max_length = 300, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$")]
    device_label: String,
    /// The device's Automerge actor id, hex (1 to 32 bytes: an even number of digits).
    #[schema(pattern = "^([0-9a-fA-F]{2}){1,32}$")]
    actor: String,
    /// Only when re-joining a server that forgot this device (restored from a backup): the
    /// member and device ids it had, granted if the server knows neither (else 409 `rejoin_refused`).
    rejoin: Option<RejoinDoc>,
}

/// The identity a device had on a server that has since forgotten it.
#[derive(utoipa::ToSchema)]
#[schema(as = Rejoin)]
#[allow(dead_code)]
struct RejoinDoc {
    /// The team the device belonged to: the invite must be for it (else 409 `rejoin_other_team`).
    team_id: Uuid,
    member_id: Uuid,
    device_id: Uuid,
}

/// The device's credential, shown once.
#[derive(utoipa::ToSchema)]
#[schema(as = JoinResponse)]
#[allow(dead_code)]
struct JoinResponseDoc {
    team_id: Uuid,
    team_name: String,
    member_id: Uuid,
    device_id: Uuid,
    role: String,
    token: String,
    server_time: i64,
}

/// Retries [`crate::docs::DocService::ensure_roster`] with backoff (0.5 s doubling to a minute)
/// until it succeeds or the server stops.
pub(crate) fn repair_roster_later(app: Arc<App>, team: TeamId) {
    let mut stop = app.live.shutdown_signal();
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match app.docs.ensure_roster(team, app.clock.now_ms()).await {
                Ok(n) => {
                    tracing::info!(team = %team, added = n, "the roster is complete again");
                    return;
                }
                Err(e) => tracing::warn!(team = %team, error = %e, "the roster is still missing a member: retrying"),
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    });
}

fn join_err(status: StatusCode, code: &str, msg: &str) -> ApiErr {
    ApiErr::new(status, code, msg, false)
}

#[utoipa::path(post, path = "/v1/join", request_body = JoinRequestDoc,
    responses((status = 200, body = JoinResponseDoc, description = "Joined: the device's own token"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, `bad_name`, `bad_label`, `bad_actor`"),
        (status = 403, body = ApiErrorDoc, description = "Unknown, expired or used-up invite"),
        (status = 409, body = ApiErrorDoc, description = "`actor_taken`: the actor id belongs to another device; `rejoin_refused`: a re-join asked for a member or device this server knows; `rejoin_other_team`: with an invite of another team"),
        (status = 429, body = ApiErrorDoc, description = "`rate_limited`: too many attempts from this address",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))))]
async fn join(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<JoinResponse>, ApiErr> {
    let req: JoinRequest = json_object(&body).map_err(|e| {
        ApiErr::bad_request("malformed_json", format!("The join request is not the expected JSON ({e}): update Kith."))
    })?;
    // The roster's own limits (the team document's `members/<id>/name`), so the name the server
    // writes there is one a device could have written.
    let name = req.name.trim().to_string();
    if let Err(e) = limits::MEMBER_NAME.check(&name) {
        return Err(ApiErr::bad_request(
            "bad_name",
            format!(
                "Give a name of 1 to {} characters, as it should appear on the team board, without control characters ({e}).",
                limits::MEMBER_NAME.max_chars
            ),
        ));
    }
    let label = req.device_label.trim().to_string();
    if let Err(e) = limits::DEVICE_LABEL.check(&label) {
        return Err(ApiErr::bad_request(
            "bad_label",
            format!(
                "Give a device label of at most {} characters, without control characters ({e}).",
                limits::DEVICE_LABEL.max_chars
            ),
        ));
    }
    let actor = hex::decode(req.actor.trim())
        .ok()
        .filter(|a| !a.is_empty() && a.len() <= 32)
        .ok_or_else(|| ApiErr::bad_request("bad_actor", "The actor id must be 1 to 32 bytes in hex: update Kith."))?;
    let now = app.clock.now_ms();
    let token = auth::new_token();
    // A re-join keeps the device's member and device ids (its shifts are its member's): the
    // storage grants them only if this server knows neither, under the same invite checks.
    let (member_id, device_id) = match req.rejoin {
        Some(r) => (MemberId(r.member_id), DeviceId(r.device_id)),
        None => (MemberId::new(), DeviceId::new()),
    };
    let new = NewDevice {
        member_id,
        member_name: name.clone(),
        device_id,
        label,
        actor,
        token_hash: auth::token_hash(&token),
        created_at: now,
        rejoin: req.rejoin.map(|r| TeamId(r.team_id)),
    };
    let redeemed = app.storage().redeem_invite(auth::invite_hash(&req.code), now, new).await?;
    let (team, role) = match redeemed {
        Redeem::Joined { team, role } => (team, role),
        Redeem::OtherTeam => {
            return Err(join_err(
                StatusCode::CONFLICT,
                "rejoin_other_team",
                "This invite is for another team than the one this device belonged to: ask a lead of your own team \
                 for an invite.",
            ));
        }
        Redeem::Unknown => {
            return Err(join_err(
                StatusCode::FORBIDDEN,
                "invite_unknown",
                "This invite code is not known to this server: check the code and the server address, or ask a lead for a new invite.",
            ));
        }
        Redeem::Expired => {
            return Err(join_err(
                StatusCode::FORBIDDEN,
                "invite_expired",
                "This invite has expired: ask a lead for a new one.",
            ));
        }
        Redeem::UsedUp => {
            return Err(join_err(
                StatusCode::FORBIDDEN,
                "invite_used_up",
                "This invite has already been used: ask a lead for a new one.",
            ));
        }
        Redeem::IdTaken => {
            return Err(join_err(
                StatusCode::CONFLICT,
                "rejoin_refused",
                "This server already knows this device or its member, so a re-join cannot take their place (a revoked \
                 device stays revoked): sign out on this device and join with the invite as a new member.",
            ));
        }
        Redeem::ActorTaken => {
            return Err(join_err(
                StatusCode::CONFLICT,
                "actor_taken",
                "This device's actor id is already registered to another device: give this device a new identity and join again.",
            ));
        }
    };
    // The member is registered with the device; now the roster (with anyone an earlier join
    // failed to add). If that fails the join still stands: the roster is repaired in the
    // background as soon as storage takes writes again (and at every start).
    if req.rejoin.is_some() {
        // What the operator sees of a device restored from a backup coming back (docs/operations.md).
        tracing::info!(team = %team.id, member = %member_id, device = %device_id, "a device this server had forgotten re-joined as its member");
        metrics::counter!("kith_devices_rejoined_total").increment(1);
    }
    if let Err(e) = app.docs.ensure_roster(team.id, now).await {
        tracing::warn!(team = %team.id, error = %e, "could not add the new member to the roster yet: retrying in the background");
        repair_roster_later(app.clone(), team.id);
    }
    Ok(Json(JoinResponse {
        team_id: team.id.uuid(),
        team_name: team.name,
        member_id: member_id.uuid(),
        device_id: device_id.uuid(),
        role: role_name(role).into(),
        token,
        server_time: now,
    }))
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Member => "member",
        Role::Lead => "lead",
        Role::Admin => "admin",
    }
}

#[derive(Deserialize)]
struct ProtocolProbe {
    protocol: u32,
}

#[utoipa::path(post, path = "/v1/sync",
    request_body(content = Vec<u8>, content_type = "application/cbor", description = "A CBOR `SyncRequest` (kith-proto, docs/protocol.md)"),
    responses((status = 200, content_type = "application/cbor", body = Vec<u8>, description = "A CBOR `SyncResponse`"),
        (status = 400, body = ApiErrorDoc, description = "The body is not a sync request (`malformed_body`), or the device's clock reads no usable time (`bad_client_time`: before 1970 or after 9999)"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 413, body = ApiErrorDoc, description = "Body or document count over the limits"),
        (status = 426, body = ApiErrorDoc, description = "Another protocol version"),
        (status = 503, body = ApiErrorDoc, description = "`server_busy`: the pool for heavy syncs and its queue are full; nothing was stored. Retryable",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))),
    security(("bearer" = [])))]
async fn sync(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiErr> {
    let started = Instant::now();
    let transfer = transfer_of(&headers);
    let req: SyncRequest = match kith_proto::decode(&body) {
        Ok(r) => r,
        Err(e) => {
            if let Ok(p) = kith_proto::decode::<ProtocolProbe>(&body)
                && !(OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&p.protocol)
            {
                return Err(wrong_version(p.protocol));
            }
            return Err(ApiErr::bad_request(
                "malformed_body",
                format!(
                    "The body is not a Kith sync request ({e}): update Kith, or report the bug if it is up to date."
                ),
            ));
        }
    };
    if !(OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&req.protocol) {
        return Err(wrong_version(req.protocol));
    }
    let max = app.config.limits.max_docs_per_request;
    if req.docs.len() > max {
        return Err(ApiErr::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_documents",
            format!(
                "{} documents in one request; the server takes at most {max}: sync them in several requests.",
                req.docs.len()
            ),
            false,
        ));
    }
    let limits = &app.config.limits;
    let changes: usize = req.docs.iter().map(|d| d.changes.len() + usize::from(d.save.is_some())).sum();
    let heavy = changes >= limits.heavy_sync_changes || body.len() >= limits.heavy_sync_bytes;
    let bytes = if heavy {
        // Automerge work for seconds: on the bounded pool, off the async workers (crate::heavy).
        let (pooled, dev) = (app.clone(), dev.clone());
        let exchange = async move {
            pooled.sync_exchange_with(&dev, req, transfer).await.map_err(ApiErr::from).and_then(encode_sync)
        };
        match app.heavy.run(exchange).await {
            Ok(bytes) => bytes?,
            Err(_) => return Ok(heavy_busy()),
        }
    } else {
        match app.sync_exchange_with(&dev, req, transfer).await {
            // A heavy answer (a new device's catch-up) while the pool is full.
            Err(SyncError::Busy) => return Ok(heavy_busy()),
            r => encode_sync(r?)?,
        }
    };
    metrics::histogram!("kith_sync_duration_seconds").record(started.elapsed().as_secs_f64());
    Ok(([(header::CONTENT_TYPE, kith_proto::CONTENT_TYPE)], bytes).into_response())
}

/// Whether the answer will be compressed: the client accepts zstd or gzip (the encodings the
/// compression layer offers), so whole documents go with their columns raw ([`Transfer`]). An
/// answer under 1 KiB is sent as is whatever the client accepts; a whole document in it is
/// small enough that Automerge left its columns raw anyway.
fn transfer_of(headers: &HeaderMap) -> Transfer {
    let accepted = headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            // `q=0` means "not this one".
            let refused = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
            !refused && (coding.eq_ignore_ascii_case("zstd") || coding.eq_ignore_ascii_case("gzip"))
        })
    });
    if accepted { Transfer::Compressed } else { Transfer::Plain }
}

/// Encoding our own answer cannot fail on bad input: if it does, it is our fault (500).
fn encode_sync(resp: kith_proto::SyncResponse) -> Result<Vec<u8>, ApiErr> {
    kith_proto::encode(&resp).map_err(|e| ServerError::Internal(format!("the sync answer: {e}")).into())
}

/// The heavy pool and its queue are full: retry later (the answer carries `Retry-After`).
fn heavy_busy() -> Response {
    let mut r = ApiErr::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_busy",
        "The server is busy with other large syncs: nothing of this one was stored. It is retried automatically; \
         sync again in a moment.",
        true,
    )
    .into_response();
    // A heavy exchange takes seconds: come back after a few.
    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(5u32));
    r
}

fn wrong_version(v: u32) -> ApiErr {
    ApiErr::new(
        StatusCode::UPGRADE_REQUIRED,
        "protocol_version",
        format!(
            "This server speaks sync protocol {PROTOCOL_VERSION} but the request uses {v}: update Kith (or the server)."
        ),
        false,
    )
}

#[utoipa::path(get, path = "/v1/live",
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-sent events: `changed` (ChangedEvent: documents to sync), `presence` (PresenceEvent), `alert` (AlertEvent: a step, claim or resolution of an alert that concerns this member), keep-alive comments"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device")),
    security(("bearer" = [])))]
async fn live(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    headers: HeaderMap,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let hub = app.live.clone();
    let d = dev.device.clone();
    let is_lead = dev.role.is_lead();
    // Subscribed before anything is read, so no revocation or role change after the device was
    // looked up goes unseen: the first check runs at once.
    let auth_changes = tokio_stream::wrappers::WatchStream::new(hub.auth_changes());
    let rx = hub.subscribe(d.team);
    let initial: Vec<Event> = hub.team_presence(d.team).iter().filter_map(presence_event).collect();
    let guard = hub.connect(d.team, d.member, app.clock.now_ms());
    let mut shutdown = hub.shutdown_signal();
    let me = d.id;
    // A device revoked, or whose member's role changed, by any process (the auth generation
    // moved): its stream ends now, not at its next request (what it may see was decided at
    // connection; the client reconnects and is authorised afresh, or hears 401).
    let storage = app.storage().clone();
    let token = bearer(&headers).map(auth::token_hash).unwrap_or_default();
    let role = dev.role;
    let checks = auth_changes.then(move |_| {
        let (storage, token) = (storage.clone(), token.clone());
        async move {
            match storage.device_by_token(token).await {
                Ok(Some(now)) => now.device.revoked_at.is_none() && now.role == role,
                Ok(None) => false,
                Err(e) => {
                    // Not known to be revoked: keep the stream; the next check decides.
                    tracing::warn!(error = %e, "could not check a live stream's device again");
                    true
                }
            }
        }
    });
    // A device revoked by this process ends at once too (LiveEvent::Revoked, published by the revoke).
    let rx = BroadcastStream::new(rx).map(Some);
    let items = futures_util::stream::select(rx, checks.filter(|still| std::future::ready(!still)).map(|_| None))
        .take_while(move |item| {
            let end = match item {
                None => true,
                Some(Ok(ev)) => matches!(&**ev, LiveEvent::Revoked { device } if *device == me),
                Some(Err(_)) => false,
            };
            std::future::ready(!end)
        })
        .filter_map(std::future::ready);
    let events = items.filter_map(move |item| {
        let _held = &guard;
        let out = match item {
            Ok(ev) => match &*ev {
                LiveEvent::Changed { team, docs, from_device } => {
                    if *team != d.team || *from_device == Some(d.id) {
                        None
                    } else {
                        let ids: Vec<Uuid> =
                            docs.iter().filter(|m| visible(m, d.team, d.member, is_lead)).map(|m| m.id).collect();
                        (!ids.is_empty())
                            .then(|| {
                                Event::default().event("changed").json_data(ChangedEvent { docs: ids, all: false }).ok()
                            })
                            .flatten()
                    }
                }
                LiveEvent::Presence { team, presence } if *team == d.team => presence_event(presence),
                LiveEvent::Presence { .. } => None,
                LiveEvent::Alert { team, members, event } if *team == d.team && members.contains(&d.member) => {
                    Event::default().event("alert").json_data(event).ok()
                }
                LiveEvent::Alert { .. } => None,
                LiveEvent::Kudos { team, kudos } if *team == d.team && kudos.to == d.member => {
                    Event::default().event("kudos").json_data(kudos).ok()
                }
                LiveEvent::Kudos { .. } => None,
                // Handled below: the stream ends.
                LiveEvent::Revoked { .. } => None,
                LiveEvent::Missed { team } if team.is_none_or(|t| t == d.team) => {
                    Event::default().event("changed").json_data(ChangedEvent { docs: vec![], all: true }).ok()
                }
                LiveEvent::Missed { .. } => None,
            },
            Err(_) => Event::default().event("changed").json_data(ChangedEvent { docs: vec![], all: true }).ok(),
        };
        std::future::ready(out.map(Ok))
    });
    let stream = futures_util::stream::iter(initial.into_iter().map(Ok)).chain(events).take_until(async move {
        let _ = shutdown.wait_for(|v| *v).await;
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(app.config.limits.live_keepalive_s.max(1))))
}

fn presence_event(p: &PresenceEvent) -> Option<Event> {
    Event::default().event("presence").json_data(p).ok()
}

pub use kith_api::{BoardEntry, BoardResponse, BoardSource};

#[utoipa::path(get, path = "/v1/board",
    responses((status = 200, body = BoardResponse, description = "The team board, most urgent first"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device")),
    security(("bearer" = [])))]
async fn board(State(app): State<Arc<App>>, AuthDevice(dev): AuthDevice) -> Result<Json<BoardResponse>, ApiErr> {
    let now = app.clock.now_ms();
    let team_id = dev.device.team;
    let team = views::load_team(&app, team_id).await?;
    // Every active shift of the team (and each member's last ended one), on the server's clock.
    let ids = app.storage().board_shifts(team_id).await?;
    let shifts: Vec<_> = views::server_shifts(&app, ids, Timestamp(now)).await?.into_iter().map(|(_, s)| s).collect();
    let presence = app.live.team_presence(team_id);
    let mut alerts = app.alerts.list(&dev, false).await?;
    crate::console::complete_alerts(&app, &dev, &team, &mut alerts, false).await?;
    // Statuses and owners follow every alert of the team, whoever is looking.
    let facts = crate::console::team_facts(&app, team_id).await?;
    let rows = rules::board_with(&team, &shifts, Some(&facts), Timestamp(now))
        .into_iter()
        .map(|r| {
            let p = presence.iter().find(|p| p.member_id == r.member);
            BoardEntry::from_row(r, &team, p.is_some_and(|p| p.online), p.and_then(|p| p.last_seen))
        })
        .collect();
    Ok(Json(BoardResponse {
        alerts,
        server_time: Timestamp(now),
        team_id: team.id.uuid(),
        team_name: team.name,
        team_purpose: team.purpose,
        phone: team.phone,
        rows,
        source: BoardSource::Server,
        synced_at: None,
    }))
}

pub use kith_api::{InviteRequest, InviteResponse};

#[utoipa::path(post, path = "/v1/invites", request_body = InviteRequest,
    responses((status = 200, body = InviteResponse, description = "A new invite"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, `bad_role`, or `invalid` (expiry or uses out of range)"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads invite")),
    security(("bearer" = [])))]
async fn invites(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<InviteResponse>, ApiErr> {
    if !dev.role.is_lead() {
        return Err(ApiErr::forbidden("Only a lead can invite people: ask a lead of your team."));
    }
    let req: InviteRequest = json_object(&body).map_err(|e| {
        ApiErr::bad_request(
            "malformed_json",
            format!("Expected {{\"role\": \"member\"|\"lead\", \"expires_in_s\", \"uses\"}} ({e})."),
        )
    })?;
    let role = match req.role.as_str() {
        "member" => Role::Member,
        "lead" => Role::Lead,
        _ => return Err(ApiErr::bad_request("bad_role", "The role must be \"member\" or \"lead\".")),
    };
    let inv = crate::admin::create_invite(
        app.storage().as_ref(),
        dev.device.team,
        role,
        Duration::from_secs(req.expires_in_s),
        req.uses,
        app.clock.now_ms(),
    )
    .await?;
    let server = views::server_url(&app, &headers);
    let link = join_link(&server, &inv.code);
    Ok(Json(InviteResponse {
        qr_svg: crate::console::qr_svg(&link)?,
        link,
        code: inv.code,
        expires_at: inv.expires_at,
        role: req.role,
        uses: req.uses,
    }))
}

/// `kith://join?server=...&code=...`
pub fn join_link(server: &str, code: &str) -> String {
    format!("kith://join?server={}&code={}", pct(server), pct(code))
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of the HTTP API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Kith team server", description = "Sync, live channel, board, invites, alerts and the browser dashboard's JSON API. The sync body is CBOR: see docs/protocol.md. The JSON types are kith-api's (docs/app.md)."),
    paths(healthz, metrics_text, openapi_json, join, sync, live, board, invites, list_alerts, claim_alert,
        resolve_alert, put_webhook, views::me, views::get_shift, views::member_history, views::ack, views::health,
        views::kudos, crate::console::takeover_alert, crate::console::assign_alert, crate::console::get_team,
        crate::console::put_policy, crate::console::put_member, crate::console::list_devices,
        crate::console::revoke_device),
    components(schemas(ApiErrorDoc, JoinRequestDoc, RejoinDoc, JoinResponseDoc, Health, BoardEntry, BoardResponse, BoardSource,
        InviteRequest, InviteResponse, ChangedEvent, PresenceEvent, AlertView, AlertEvent, CheckinTimes, AlertList,
        ResolveRequest, WebhookRequest, kith_api::AlertState, kith_api::MeResponse, kith_api::Me, kith_api::MemberRef,
        kith_api::PolicyView, kith_api::ShiftView, kith_api::CheckInView, kith_api::AckView, kith_api::LocationView,
        kith_api::ExtensionView, kith_api::EndView, kith_api::AckRequest, kith_api::HealthResponse,
        kith_domain::health::WorkerHealth, kith_domain::health::TeamHealth, kith_api::Kudos, kith_api::KudosRequest,
        kith_api::AlertHistoryItem, kith_api::AlertAction, kith_api::TeamView, kith_api::MemberView,
        kith_api::PolicyEdit, kith_api::EscalationStepView, kith_api::MemberEdit, kith_api::DeviceView,
        kith_api::DeviceList, kith_api::AssignRequest, kith_domain::rules::Attention, kith_domain::Notify)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

pub use kith_api::AlertList;

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    #[serde(default)]
    all: bool,
}

pub(crate) fn alert_err(e: AlertError) -> ApiErr {
    e.into()
}

#[utoipa::path(get, path = "/v1/alerts",
    params(("all" = Option<bool>, Query, description = "Include resolved alerts (default: open and claimed only)")),
    responses((status = 200, body = AlertList, description = "Alerts this member may see: a lead sees the team's, a member those about themselves and the workers they are a buddy of"),
        (status = 400, body = ApiErrorDoc, description = "`bad_request`: `all` is not `true` or `false`"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device")),
    security(("bearer" = [])))]
async fn list_alerts(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    axum::extract::Query(q): axum::extract::Query<AlertsQuery>,
) -> Result<Json<AlertList>, ApiErr> {
    let mut alerts = app.alerts.list(&dev, q.all).await?;
    let team = views::load_team(&app, dev.device.team).await?;
    crate::console::complete_alerts(&app, &dev, &team, &mut alerts, true).await?;
    Ok(Json(AlertList { server_time: app.clock.now_ms(), alerts }))
}

pub(crate) fn alert_id(raw: &str) -> Result<Uuid, ApiErr> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        ApiErr::bad_request("bad_id", format!("'{raw}' is not an alert id: list them with `kith alerts`."))
    })
}

#[utoipa::path(post, path = "/v1/alerts/{id}/claim", params(("id" = Uuid, Path, description = "The alert")),
    responses((status = 200, body = AlertView, description = "Claimed by this member (or already was): no further escalation"),
        (status = 400, body = ApiErrorDoc, description = "`bad_id`: not an alert id"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only a lead or a buddy of the worker may claim"),
        (status = 404, body = ApiErrorDoc, description = "No such alert for this member"),
        (status = 409, body = ApiErrorDoc, description = "Claimed by someone else, or resolved")),
    security(("bearer" = [])))]
async fn claim_alert(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<AlertView>, ApiErr> {
    let id = alert_id(&id)?;
    let v = app.alerts.claim(&dev, id, app.clock.now_ms()).await.map_err(alert_err)?;
    Ok(Json(crate::console::complete_one(&app, &dev, v).await?))
}

pub use kith_api::ResolveRequest;

#[utoipa::path(post, path = "/v1/alerts/{id}/resolve", params(("id" = Uuid, Path, description = "The alert")),
    request_body = ResolveRequest,
    responses((status = 200, body = AlertView, description = "Resolved, with the note"),
        (status = 400, body = ApiErrorDoc, description = "`malformed_json`, `bad_id`, `note_required` (no note), `note_too_long`, `bad_note` (control characters)"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only the member who claimed it may resolve it"),
        (status = 404, body = ApiErrorDoc, description = "No such alert for this member"),
        (status = 409, body = ApiErrorDoc, description = "Not claimed yet, or already resolved")),
    security(("bearer" = [])))]
async fn resolve_alert(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> Result<Json<AlertView>, ApiErr> {
    let id = alert_id(&id)?;
    let req: ResolveRequest = json_object(&body)
        .map_err(|e| ApiErr::bad_request("malformed_json", format!("Expected {{\"note\": \"...\"}} ({e}).")))?;
    let note = req.note.trim();
    if note.is_empty() {
        return Err(ApiErr::bad_request("note_required", "Say what happened in a note when resolving an alert."));
    }
    if let Err(e) = limits::ALERT_NOTE.check(note) {
        let code = if limits::char_count(note) > limits::ALERT_NOTE.max_chars { "note_too_long" } else { "bad_note" };
        return Err(ApiErr::bad_request(code, format!("{e}.")));
    }
    let v = app.alerts.resolve(&dev, id, note, app.clock.now_ms()).await.map_err(alert_err)?;
    Ok(Json(crate::console::complete_one(&app, &dev, v).await?))
}

/// `PUT /v1/webhook` body: where the team's alerts are delivered.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookRequest {
    /// An http(s) URL on a public address, at most 2,000 characters (code points); empty removes
    /// the webhook. (`webhooks::MAX_URL_CHARS`)
    #[schema(max_length = 2000)]
    pub url: String,
    /// The HMAC-SHA256 key for `X-Kith-Signature`: 16 to 256 characters (code points); its UTF-8
    /// bytes are the key. (`webhooks::MIN_SECRET_CHARS`, `MAX_SECRET_CHARS`)
    #[schema(min_length = 16, max_length = 256)]
    pub secret: String,
}

#[utoipa::path(put, path = "/v1/webhook", request_body = WebhookRequest,
    responses((status = 204, description = "Set (or removed)"),
        (status = 400, body = ApiErrorDoc, description = "Bad URL or secret, or a host on a loopback, private or other special-use network (unless the operator allows it)"),
        (status = 401, body = ApiErrorDoc, description = "No token, or an unknown or revoked device"),
        (status = 403, body = ApiErrorDoc, description = "Only leads configure the webhook")),
    security(("bearer" = [])))]
async fn put_webhook(
    State(app): State<Arc<App>>,
    AuthDevice(dev): AuthDevice,
    body: Bytes,
) -> Result<StatusCode, ApiErr> {
    if !dev.role.is_lead() {
        return Err(ApiErr::forbidden("Only a lead can configure the team's webhook."));
    }
    let req: WebhookRequest = json_object(&body).map_err(|e| {
        ApiErr::bad_request(
            "malformed_json",
            format!("Expected {{\"url\": \"https://...\", \"secret\": \"...\"}} ({e})."),
        )
    })?;
    let allow_private = app.config.alerts.webhook_allow_private;
    crate::webhooks::configure(app.storage().as_ref(), dev.device.team, &req.url, &req.secret, allow_private).await?;
    Ok(StatusCode::NO_CONTENT)
}
