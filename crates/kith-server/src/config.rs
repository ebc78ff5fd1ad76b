//! Layered configuration: built-in defaults, then a TOML file, then `KITH_` environment variables
//! (nested keys with `__`, e.g. `KITH_LIMITS__MAX_BODY_BYTES=1048576`).
//!
//! A key the server does not know stops it (`ConfigError`, naming the key, where it was found
//! and the setting probably meant): an old or misspelled key, silently ignored, would leave an
//! operator believing a limit is set that is not. In the environment, `KITH_<SECTION>__<KEY>` is
//! always a setting (and checked); `KITH_<KEY>` is one when `<key>` is a top-level setting (e.g.
//! `KITH_DATA_DIR`); any other `KITH_` variable belongs to someone else (the tests' KITH_TEST_BACKEND,
//! the benches' KITH_BENCH_*) and is left alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything the server can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the database lives (default: the platform's data directory for kith-server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL database instead of the SQLite file in the data directory, e.g.
    /// `postgres://kith:secret@db.internal:5432/kith` (also `--database-url`, `KITH_DATABASE_URL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// PostgreSQL: connections in the pool at most.
    pub database_pool_size: usize,
    /// The address devices reach this server at, used in invite links (default: the request's Host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Log filter, e.g. `info` or `kith_server=debug,tower_http=info`.
    pub log: String,
    /// The built dashboard (`ui/dist`, from `npm --prefix ui run build`), served at `/`. Unset:
    /// `ui/dist` under the current directory if it holds an `index.html`, else no dashboard;
    /// an empty path: no dashboard. See [`Config::ui_dir`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_dir: Option<PathBuf>,
    /// Reverse proxies in front of this server (e.g. `["127.0.0.1", "::1"]` for Caddy or nginx
    /// on the same host, docs/security.md): a request from one of them is from the client it names
    /// last in `X-Forwarded-For`, for the join rate limit. Empty (the default): the peer address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The bearer token a metrics scraper sends to read `/metrics` (`Authorization: Bearer
    /// <token>`; a long random string, e.g. `openssl rand -hex 32`; environment:
    /// `KITH_METRICS_TOKEN`). Unset (the default): `/metrics` answers nobody (403 `metrics_off`).
    /// The metrics tell how busy the server is and how many devices are connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
    pub limits: Limits,
    pub join_rate: JoinRate,
    pub cache: CacheConfig,
    pub alerts: AlertsConfig,
    pub kudos_rate: KudosRate,
}

/// How many kudos (waves) one member may send: a burst, then one more every `replenish_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KudosRate {
    pub burst: u32,
    pub replenish_ms: u64,
}

impl Default for KudosRate {
    fn default() -> Self {
        KudosRate { burst: 10, replenish_ms: 6000 }
    }
}

/// The deadline engine and webhook delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Run the deadline ticker and the webhook deliverer in the background (tests on a manual
    /// clock turn this off and drive them explicitly).
    pub background: bool,
    /// The ticker sleeps until the next deadline or step, but at most this long (ms).
    pub tick_ms: u64,
    /// First retry delay of a failed webhook delivery (s); doubles per attempt.
    pub webhook_min_backoff_s: u64,
    /// Longest retry delay of a webhook delivery (s).
    pub webhook_max_backoff_s: u64,
    /// How long one webhook request may take (s).
    pub webhook_timeout_s: u64,
    /// How long a sync answer waits at most for the deadline engine to take in what it stored (ms),
    /// so an emergency's alert is raised before the device hears "accepted". The engine takes it
    /// in anyway; this only bounds the wait.
    pub sync_wait_ms: u64,
    /// Let webhooks reach loopback, private, link-local and other special-use addresses (e.g. a
    /// receiver on the same host or the office network). Off: a lead cannot point the server at
    /// what only the server can reach.
    pub webhook_allow_private: bool,
    /// Several instances on one database: the deadline ticker and the webhook deliverer run on
    /// the one instance holding the duty lease, which it renews every third of this (ms). When it
    /// dies, another instance takes the duty over within this long (docs/operations.md). Longer
    /// than `webhook_timeout_s`, so a delivery in flight ends before its lease could lapse.
    pub lease_ms: u64,
    /// Most memory the engine's copies of the active shifts take, in bytes (estimated). Past it,
    /// the shifts whose next deadline is furthest away are kept as their wake time only (about 100
    /// bytes each) and read from the database again when they come due or change: a deadline is
    /// decided from what is stored either way, so none is missed.
    pub shifts_max_bytes: usize,
    /// Most memory the engine's copies of the team documents of the active shifts take, in bytes
    /// (estimated: about 200 bytes a member). Past it, the teams whose next deadline is furthest
    /// away are dropped and read again when a shift of theirs is evaluated: no deadline or step is
    /// decided without its team, so none is missed.
    pub teams_max_bytes: usize,
    /// Several instances: most bytes of alert events waiting to be told to the other instances
    /// (each under 8,000 bytes). Past it (the database has stalled for a while) further events
    /// are not queued; once there is room the other instances are told which teams missed some,
    /// and those teams' live streams refresh everything (`kith_alert_relay_dropped_total`).
    pub relay_max_bytes: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            background: true,
            tick_ms: 1000,
            webhook_min_backoff_s: 5,
            webhook_max_backoff_s: 3600,
            webhook_timeout_s: 10,
            sync_wait_ms: 2000,
            webhook_allow_private: false,
            lease_ms: 15_000,
            shifts_max_bytes: 4 * 1024 * 1024,
            teams_max_bytes: 4 * 1024 * 1024,
            relay_max_bytes: 1024 * 1024,
        }
    }
}

/// Request limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, after decompression (bytes).
    pub max_body_bytes: usize,
    /// Most documents in one sync request.
    pub max_docs_per_request: usize,
    /// Most changes for one document in one sync request.
    pub max_changes_per_doc: usize,
    /// Most bytes of changes for one document in one sync request.
    pub max_doc_bytes: usize,
    /// Largest stored shift document (its snapshot plus later changes, bytes): every teammate
    /// downloads it and keeps it, so a push that would make it larger is refused (`too_large`).
    pub max_shift_doc_bytes: usize,
    /// Largest stored team document (bytes), likewise.
    pub max_team_doc_bytes: usize,
    /// A feed page ends after this many bytes of document data (and says `more`): what bounds an
    /// answer, so a new device whose team fits gets everything in one round trip.
    pub feed_budget_bytes: usize,
    /// A second bound on the work of one feed page (each document in it is read, loaded and
    /// saved), for documents so small that the byte budget alone would let more through. The
    /// smallest shift document saves to 392 bytes: with the defaults, pages end on bytes unless
    /// the shifts are nearly empty.
    pub feed_max_docs: usize,
    /// A request that takes longer gets 408.
    pub request_timeout_s: u64,
    /// A sync request with at least this many changes (those in saved documents counted as one
    /// each) or this many body bytes is heavy: it runs on the heavy pool (`heavy_sync_workers`
    /// at once, `heavy_sync_queue` more waiting, beyond that `503 server_busy` with Retry-After),
    /// off the async workers that answer everything else.
    pub heavy_sync_changes: usize,
    /// A sync request whose body (decompressed) has at least this many bytes is heavy too.
    pub heavy_sync_bytes: usize,
    /// An answer whose feed page sends at least this many documents whole (a new device's
    /// catch-up: each decoded and saved, up to `feed_max_docs` of them) is heavy too: its page is
    /// built on the heavy pool, and refused with 503 and Retry-After when the pool is full.
    pub heavy_feed_docs: usize,
    /// Heavy sync exchanges running at once (threads doing Automerge work).
    pub heavy_sync_workers: usize,
    /// Heavy sync exchanges waiting for a worker; one more is refused with 503 and Retry-After.
    pub heavy_sync_queue: usize,
    /// Seconds between SSE keep-alive comments.
    pub live_keepalive_s: u64,
    /// Several instances on one database: each renews its presence row every third of this
    /// (ms); an instance that stops (a crash) is taken as gone after this long, and the members
    /// whose live streams it held go offline for everyone.
    pub presence_ttl_ms: u64,
    /// Most memory presence's records take (bytes: a map whose table has 57 bytes a slot, a power
    /// of two of slots at most 7/8 used; 4 MiB holds up to 57,344 members): past it, the
    /// offline members seen longest ago are forgotten (their "last seen" is unknown until they
    /// connect again, as after a restart). Connected members are always kept.
    pub presence_max_bytes: usize,
    /// Most memory the devices' "last reached the server" times take (bytes: a map whose table has
    /// 25 bytes a slot, a power of two of slots at most 7/8 used; 2 MiB holds up to 57,344
    /// devices; the console's device list shows them): past it, the devices seen longest ago are forgotten
    /// (unknown until they reach the server again, as after a restart).
    pub seen_max_bytes: usize,
    /// How often (milliseconds) the server reads whether a device was revoked or a role changed
    /// in the database by any process (`kith-server admin revoke`, another server on the same
    /// file): the live streams of such a device end then. One read of one row.
    pub auth_check_ms: u64,
    /// Once the first byte of a request has arrived, its headers must be complete within this
    /// many seconds, or the connection is closed (slow clients hold a file descriptor each).
    pub header_read_timeout_s: u64,
    /// A connection with no request in flight that receives nothing for this many seconds is
    /// closed. Shorter than the minute between a device's syncs when nothing happens: an idle HTTP
    /// connection costs about 18 KiB, twice the rest of a connected device, and browsers keep
    /// theirs for minutes. Kith's own clients let theirs go first (`SYNC_CONNECTION_IDLE`, 20 s).
    /// The live channel's stream is a request in flight: never cut.
    pub idle_timeout_s: u64,
    /// A connection whose peer accepts none of what the server writes for this many seconds (it
    /// stopped reading: its socket is full) is closed. Otherwise it would keep its slot under
    /// `max_connections`, and hold up a graceful shutdown, for as long as it liked. An idle live
    /// stream is not affected: its keep-alives fit in the socket.
    pub write_stall_timeout_s: u64,
    /// Most connections open at once; one more is answered 503 `server_busy` with Retry-After.
    /// Lowered at start to what the open-file limit allows (which is raised to its hard limit).
    pub max_connections: usize,
    /// `/healthz` fails (503) when the data directory has less free space than this (bytes).
    pub min_free_disk_bytes: u64,
    /// `/healthz` commits a small write to storage at most this often (ms); answers in between
    /// reuse the last outcome.
    pub health_probe_interval_ms: u64,
}

/// Rate limit on invite redemption (`POST /v1/join`), per client IP address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinRate {
    /// Attempts allowed in a burst.
    pub burst: u32,
    /// One more attempt is allowed every this many milliseconds.
    pub replenish_ms: u64,
}

/// Documents kept in memory (`docs::DocCache`), bounded by bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Most memory the document cache takes, in bytes (estimated): live documents and idle ones in
    /// their compact saved form. Past it the least recently used are dropped, and loaded from the
    /// database when next needed.
    pub max_bytes: usize,
    /// Of `max_bytes`, most taken by live documents (those in use or used lately); the others are
    /// kept in their compact saved form, tens of times smaller.
    pub live_max_bytes: usize,
    /// Most memory the window of recent changes takes (bytes, about 144 per change): the feed
    /// of a device that syncs regularly is answered from it; one further behind is answered from
    /// the database.
    pub feed_window_bytes: usize,
    /// Most memory the cache of device lookups takes (bytes: a map whose table has 185 bytes a
    /// slot, a power of two of slots at most 7/8 used, and each device's token hash, label and
    /// name; 16 MiB holds 46,000 to 57,000 devices that made a request since the last revocation
    /// or role change); past it the cache starts over, and each
    /// device's next request reads its one row from the database again.
    pub auth_max_bytes: usize,
    /// Most memory the devices' clock offsets take (bytes: a map whose table has 65 bytes a slot,
    /// a power of two of slots at most 7/8 used, and about 60 a device for their order; 1 MiB
    /// holds up to 7,168 devices, 15 MiB 100,000): the devices that synced most recently are held; another's is read from the database on its next sync (its
    /// latest offset is stored before it is let go, so this changes no time).
    pub clocks_max_bytes: usize,
    /// Write a snapshot of a document after this many new changes.
    pub snapshot_every: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8457)),
            data_dir: None,
            database_url: None,
            database_pool_size: 16,
            public_url: None,
            log: "info".into(),
            ui_dir: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
            limits: Limits::default(),
            join_rate: JoinRate::default(),
            cache: CacheConfig::default(),
            alerts: AlertsConfig::default(),
            kudos_rate: KudosRate::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_docs_per_request: 500,
            max_changes_per_doc: 2000,
            max_doc_bytes: 4 * 1024 * 1024,
            max_shift_doc_bytes: 4 * 1024 * 1024,
            max_team_doc_bytes: 4 * 1024 * 1024,
            feed_budget_bytes: 4 * 1024 * 1024,
            feed_max_docs: 10_000,
            request_timeout_s: 30,
            live_keepalive_s: 15,
            heavy_sync_changes: 200,
            heavy_sync_bytes: 256 * 1024,
            heavy_feed_docs: 64,
            heavy_sync_workers: 2,
            heavy_sync_queue: 16,
            presence_ttl_ms: 30_000,
            presence_max_bytes: crate::presence::DEFAULT_MAX_BYTES,
            seen_max_bytes: 2 * 1024 * 1024,
            auth_check_ms: 1000,
            header_read_timeout_s: 10,
            idle_timeout_s: 30,
            write_stall_timeout_s: 60,
            max_connections: 20_000,
            min_free_disk_bytes: 64 * 1024 * 1024,
            health_probe_interval_ms: 5000,
        }
    }
}

impl Limits {
    /// Whether a document of `kind` stored at `size` bytes may take `adding` more: the message
    /// says what to do when it may not.
    pub fn check_doc_size(&self, kind: kith_proto::Kind, size: usize, adding: usize) -> Result<(), String> {
        let (max, what, next) = match kind {
            kith_proto::Kind::Shift => {
                (self.max_shift_doc_bytes, "shift", "end this shift and start a new one to carry on checking in")
            }
            kith_proto::Kind::Team => {
                (self.max_team_doc_bytes, "team", "ask the server's operator to raise limits.max_team_doc_bytes")
            }
        };
        let total = size.saturating_add(adding);
        if total > max {
            return Err(format!(
                "this {what} document would grow to {total} bytes, over the server's limit of {max} bytes for a \
                 {what} document (every teammate downloads it whole): {next}"
            ));
        }
        Ok(())
    }
}

impl Default for JoinRate {
    fn default() -> Self {
        JoinRate { burst: 10, replenish_ms: 6000 }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 128 * 1024 * 1024,
            live_max_bytes: 8 * 1024 * 1024,
            feed_window_bytes: crate::storage::recent::DEFAULT_MAX_BYTES,
            auth_max_bytes: crate::storage::DEFAULT_AUTH_CACHE_BYTES,
            clocks_max_bytes: crate::receipts::DEFAULT_MAX_BYTES,
            snapshot_every: 64,
        }
    }
}

/// Where the dashboard is looked for when `ui_dir` is not set (relative to the current directory).
pub const DEFAULT_UI_DIR: &str = "ui/dist";

const UI_DIR_HELP: &str = "\
# ui_dir: the built browser dashboard, served at / (build it: npm --prefix ui ci && npm --prefix ui run build).
# Not set (the default): ui/dist under the current directory if it holds an index.html, else no dashboard
# (/ then says how to install it). \"\" serves no dashboard. Environment: KITH_UI_DIR.
# ui_dir = \"ui/dist\"
";

const METRICS_TOKEN_HELP: &str = "\
# metrics_token: what a Prometheus scraper sends as `Authorization: Bearer <token>` to read /metrics
# (docs/operations.md, \"Metrics\"). Not set (the default): /metrics answers nobody. Environment: KITH_METRICS_TOKEN.
# metrics_token = \"<openssl rand -hex 32>\"
";

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

const ENV_PREFIX: &str = "KITH_";
const ENV_SECTION_SEPARATOR: &str = "__";
const LISTED: &str = "`kith-server print-config` lists every setting and its default (docs/operations.md)";

/// The names of the settings, for the environment's filter and for suggestions.
#[derive(Debug)]
struct KnownSettings {
    /// Top-level settings that are not sections (`listen`, `data_dir`, ...).
    top_level: Vec<String>,
    /// Sections and their keys (`limits` → `max_body_bytes`, ...).
    sections: Vec<(String, Vec<String>)>,
}

/// Every setting's name, read from the settings themselves: every field is named below (no
/// `..`) and every optional one filled, so a new setting cannot be left out.
fn known_settings() -> KnownSettings {
    let d = Config::default();
    let all = Config {
        listen: d.listen,
        data_dir: Some(PathBuf::new()),
        database_url: Some(String::new()),
        database_pool_size: d.database_pool_size,
        public_url: Some(String::new()),
        log: d.log,
        ui_dir: Some(PathBuf::new()),
        trusted_proxies: d.trusted_proxies,
        metrics_token: Some(String::new()),
        limits: d.limits,
        join_rate: d.join_rate,
        cache: d.cache,
        alerts: d.alerts,
        kudos_rate: d.kudos_rate,
    };
    let table = toml::Table::try_from(&all).unwrap_or_default();
    let mut known = KnownSettings { top_level: Vec::new(), sections: Vec::new() };
    for (k, v) in table {
        match v {
            toml::Value::Table(t) => known.sections.push((k, t.keys().cloned().collect())),
            _ => known.top_level.push(k),
        }
    }
    known
}

/// The known name closest to `name`, if one is close enough to be what was meant.
fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn did_you_mean(meant: Option<String>) -> String {
    meant.map(|m| format!(" (did you mean `{m}`?)")).unwrap_or_default()
}

/// `KITH_<SECTION>__<KEY>` names a section that exists: `KITH_LIMIT__MAX_BODY_BYTES` would
/// otherwise be an unknown top-level key filtered out as someone else's variable.
fn check_env_sections(known: &KnownSettings, names: impl Iterator<Item = String>) -> Result<(), ConfigError> {
    for name in names {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        let Some((section, _)) = rest.split_once(ENV_SECTION_SEPARATOR) else { continue };
        let section = section.to_ascii_lowercase();
        if !known.sections.iter().any(|(s, _)| *s == section) {
            let meant = closest(&section, known.sections.iter().map(|(s, _)| s.as_str()));
            return Err(ConfigError(format!(
                "the environment variable {name} is no setting: the configuration has no section `{section}`{}; \
                 {LISTED}",
                did_you_mean(meant.map(str::to_owned))
            )));
        }
    }
    Ok(())
}

/// Says which key is unknown, where it was found (the file, or the environment variable) and what
/// was probably meant; other errors as figment words them.
fn explain(e: figment::Error, known: &KnownSettings) -> ConfigError {
    let figment::error::Kind::UnknownField(field, _) = &e.kind else {
        return ConfigError(e.to_string());
    };
    let mut path = e.path.clone();
    if path.last() != Some(field) {
        path.push(field.clone());
    }
    let key = path.join(".");
    let meant = match path.as_slice() {
        [one] => closest(one, known.top_level.iter().chain(known.sections.iter().map(|(s, _)| s)).map(String::as_str))
            .map(str::to_owned),
        [section, name] => known
            .sections
            .iter()
            .find(|(s, _)| s == section)
            .and_then(|(_, keys)| closest(name, keys.iter().map(String::as_str)))
            .map(|k| format!("{section}.{k}")),
        _ => None,
    };
    let source = e.metadata.as_ref().and_then(|m| m.source.as_ref());
    let place = match source {
        Some(figment::Source::File(f)) => format!("in the configuration file {}", f.display()),
        _ if e.metadata.as_ref().is_some_and(|m| m.name.contains("environment")) => {
            format!("in the environment variable {ENV_PREFIX}{}", path.join(ENV_SECTION_SEPARATOR).to_ascii_uppercase())
        }
        _ => String::from("in the configuration"),
    };
    ConfigError(format!("unknown setting `{key}` {place}{}: {LISTED}", did_you_mean(meant)))
}

/// The platform's data directory for kith-server (e.g. `~/.local/share/kith-server`).
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "kith-server")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("kith-server-data"))
}

impl Config {
    /// Defaults, then `file` (if given), then `KITH_*` environment variables (module docs: which
    /// are settings). An unknown key in either is an error naming it.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError(format!("the configuration file {} does not exist", f.display())));
            }
            fig = fig.merge(Toml::file(f));
        }
        let known = known_settings();
        check_env_sections(&known, std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))?;
        let top_level = known.top_level.clone();
        let env = Env::prefixed(ENV_PREFIX)
            .split(ENV_SECTION_SEPARATOR)
            .filter(move |key| key.as_str().contains('.') || top_level.iter().any(|k| key == k.as_str()));
        fig = fig.merge(env);
        fig.extract().map_err(|e| explain(e, &known))
    }

    /// The data directory in force.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The PostgreSQL URL, if the configuration names one (else: SQLite).
    pub fn postgres_url(&self) -> Option<&str> {
        self.database_url.as_deref().map(str::trim).filter(|u| !u.is_empty())
    }

    /// Where the data lives, for messages: the SQLite file, or the PostgreSQL host and database
    /// (never the password).
    pub fn database_label(&self) -> String {
        match self.postgres_url() {
            Some(u) => u.rsplit_once('@').map_or_else(|| u.to_string(), |(_, host)| format!("postgres://…@{host}")),
            None => self.database_path().display().to_string(),
        }
    }

    /// The SQLite database file (when no `database_url` is set).
    pub fn database_path(&self) -> PathBuf {
        self.data_dir().join("kith-server.sqlite3")
    }

    /// The dashboard directory in force: `ui_dir` if set (an empty path: none), else `ui/dist`
    /// under the current directory if it holds an `index.html`. Relative paths are taken from
    /// the current directory.
    pub fn ui_dir(&self) -> Option<PathBuf> {
        match &self.ui_dir {
            Some(d) if d.as_os_str().is_empty() => None,
            Some(d) => Some(std::path::absolute(d).unwrap_or_else(|_| d.clone())),
            None => {
                let d = std::path::absolute(DEFAULT_UI_DIR).ok()?;
                d.join("index.html").is_file().then_some(d)
            }
        }
    }

    /// The defaults as TOML, with the default data directory spelled out.
    pub fn defaults_toml() -> String {
        let c = Config { data_dir: Some(default_data_dir()), ..Config::default() };
        let body = toml::to_string(&c).unwrap_or_else(|e| format!("# could not render the defaults: {e}\n"));
        format!("{UI_DIR_HELP}{METRICS_TOKEN_HELP}{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_directory_is_explicit_empty_or_found_in_the_current_directory() {
        let off = Config { ui_dir: Some(PathBuf::new()), ..Config::default() };
        assert_eq!(off.ui_dir(), None);
        let dir = tempfile::tempdir().unwrap();
        let set = Config { ui_dir: Some(dir.path().to_path_buf()), ..Config::default() };
        assert_eq!(set.ui_dir().as_deref(), Some(dir.path()));
        let relative = Config { ui_dir: Some(PathBuf::from("somewhere/dist")), ..Config::default() };
        assert!(relative.ui_dir().unwrap().is_absolute());
        // Tests run in crates/kith-server, which has no built UI.
        assert_eq!(Config::default().ui_dir(), None);
    }
}
