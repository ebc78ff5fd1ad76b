//! An in-process server for tests (cargo feature `testing`): a fresh database on the storage
//! backend the suite runs on ([`Backend`]: SQLite in a temporary data directory unless
//! `KITH_TEST_BACKEND` says otherwise), listening on 127.0.0.1:0, ready when `start` returns (the
//! socket is bound before), shut down on drop.
//!
//! ```no_run
//! # async fn t() {
//! use kith_server::testing::TestServer;
//! let server = TestServer::start().await;
//! let (team, lead_code) = server.create_team("North estate").await;
//! let member_code = server.invite(team, kith_domain::Role::Member).await;
//! let url = server.url("/v1/join");
//! # }
//! ```
//! From a test without a runtime, use [`BlockingTestServer`].
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod faults;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kith_domain::{DeviceId, Role, TeamId};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::Config;
use crate::http::App;
use crate::storage::Storage;
use crate::storage::sqlite::SqliteStorage;

/// The storage backend a [`TestServer`] runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The SQLite file in the server's temporary data directory.
    Sqlite,
    /// A PostgreSQL cluster (`postgres://user@host:port/db`, a user that may create databases):
    /// each server gets a new database of its own in it, kept across restarts.
    Postgres { url: String },
}

impl Backend {
    /// The backend the story suite runs on: `KITH_TEST_BACKEND` (`sqlite`, the default, or
    /// `postgres`, in the cluster `KITH_TEST_DATABASE_URL` names; scripts/lib/postgres.sh starts
    /// a throwaway one).
    pub fn from_env() -> Backend {
        match std::env::var("KITH_TEST_BACKEND").unwrap_or_default().trim() {
            "" | "sqlite" => Backend::Sqlite,
            "postgres" => Backend::postgres_from_env()
                .expect("KITH_TEST_BACKEND=postgres needs KITH_TEST_DATABASE_URL (scripts/lib/postgres.sh)"),
            other => panic!("KITH_TEST_BACKEND is '{other}': use sqlite or postgres"),
        }
    }

    /// PostgreSQL in the cluster `KITH_TEST_DATABASE_URL` names, if it is set.
    pub fn postgres_from_env() -> Option<Backend> {
        let url = std::env::var("KITH_TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty())?;
        Some(Backend::Postgres { url })
    }

    /// A backend for one new server: PostgreSQL gets a new, empty database in the cluster.
    pub async fn fresh(&self) -> Backend {
        match self {
            Backend::Sqlite => Backend::Sqlite,
            Backend::Postgres { url } => {
                let name = format!("kith_test_{}", uuid::Uuid::new_v4().simple());
                pg_admin(url, &format!("CREATE DATABASE {name}")).await;
                let mut u = url::Url::parse(url).expect("KITH_TEST_DATABASE_URL is a URL");
                u.set_path(&name);
                Backend::Postgres { url: u.to_string() }
            }
        }
    }

    /// Opens (creating if needed) the storage of a server with `config`.
    async fn open(&self, config: &Config) -> Arc<dyn Storage> {
        match self {
            Backend::Sqlite => Arc::new(SqliteStorage::open(&config.database_path()).expect("open the test database")),
            Backend::Postgres { url } => Arc::new(
                crate::storage::postgres::PgStorage::open(url, config.database_pool_size)
                    .await
                    .expect("open the test database"),
            ),
        }
    }
}

/// A copy of a server's database ([`TestServer::back_up`]).
#[derive(Clone, Debug)]
pub struct Backup(String);

/// Copies a SQLite database with its WAL files (of a closed database).
fn copy_sqlite(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let src = PathBuf::from(format!("{}{suffix}", from.display()));
        let dst = PathBuf::from(format!("{}{suffix}", to.display()));
        let _ = std::fs::remove_file(&dst);
        if src.exists() {
            std::fs::copy(&src, &dst).expect("copy the database file");
        }
    }
}

/// A PostgreSQL URL's database name, and the URL of the cluster's `postgres` database.
fn split_db(url: &str) -> (String, String) {
    let mut u = url::Url::parse(url).expect("a PostgreSQL URL");
    let db = u.path().trim_start_matches('/').to_string();
    u.set_path("postgres");
    (db, u.to_string())
}

/// Runs one statement on the cluster (outside any database a server uses).
async fn pg_admin(cluster: &str, sql: &str) {
    let (client, conn) =
        tokio_postgres::connect(cluster, tokio_postgres::NoTls).await.expect("connect to the test cluster");
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
}

/// A fixed start for manual clocks: 2027-01-15T08:00:00Z.
pub const MANUAL_START_MS: i64 = 1_800_000_000_000;

struct Running {
    app: Arc<App>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// A running in-process server.
pub struct TestServer {
    /// `http://127.0.0.1:<port>` (changes after [`TestServer::restart`]).
    pub base_url: String,
    pub addr: SocketAddr,
    config: Config,
    backend: Backend,
    dir: TempDir,
    running: Option<Running>,
    clock: Arc<dyn Clock>,
    manual: Option<Arc<ManualClock>>,
    /// The storage is wrapped in a [`faults::FaultyStorage`] with this switch.
    faults: Option<faults::StorageFaults>,
    /// The next launch holds its deadline engine's load until this is released.
    hold: Option<oneshot::Receiver<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer").field("base_url", &self.base_url).field("dir", &self.dir.path()).finish()
    }
}

impl TestServer {
    /// Starts a server with the default configuration (but a generous join rate limit).
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts a server after `tweak` adjusted its configuration (limits, rate limits, ...).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_on(Backend::from_env(), tweak).await
    }

    /// [`TestServer::start_with`] on the given storage backend.
    pub async fn start_on(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::launch_new(backend, tweak, Arc::new(SystemClock), None).await
    }

    /// A temporary data directory, 127.0.0.1:0 and a generous join rate limit, then `tweak`.
    async fn launch_new(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn Clock>,
        manual: Option<Arc<ManualClock>>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: Some(dir.path().to_path_buf()),
            // No dashboard unless a test asks for one (`ui_dir`), whatever the current directory holds.
            ui_dir: Some(PathBuf::new()),
            ..Config::default()
        };
        config.join_rate.burst = 1000;
        config.join_rate.replenish_ms = 1;
        // A manual clock means the test drives deadlines and deliveries itself.
        config.alerts.background = manual.is_none();
        tweak(&mut config);
        let backend = backend.fresh().await;
        if let Backend::Postgres { url } = &backend {
            // What the server's configuration says too (`kith-server admin` against it, views).
            config.database_url = Some(url.clone());
        }
        let mut s = TestServer {
            base_url: String::new(),
            addr: config.listen,
            config,
            backend,
            dir,
            running: None,
            clock,
            manual,
            faults: None,
            hold: None,
        };
        s.launch().await;
        s
    }

    /// Starts another server instance on this one's database (PostgreSQL: several instances,
    /// docs/operations.md), with the same configuration, its own port and the system clock.
    pub async fn start_another_instance(&self) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let mut config = self.config.clone();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.data_dir = Some(dir.path().to_path_buf());
        let mut s = TestServer {
            base_url: String::new(),
            addr: config.listen,
            config,
            backend: self.backend.clone(),
            dir,
            running: None,
            clock: Arc::new(SystemClock),
            manual: None,
            faults: None,
            hold: None,
        };
        s.launch().await;
        s
    }

    /// Starts a server (real clock, background alerts) whose document appends can be made to fail
    /// like a full disk and recover ([`TestServer::storage_faults`]); the real SQLite storage is
    /// underneath, and the switch survives restarts.
    pub async fn start_with_storage_faults(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut s = TestServer::launch_new(Backend::from_env(), tweak, Arc::new(SystemClock), None).await;
        s.faults = Some(faults::StorageFaults::new());
        s.restart().await;
        s
    }

    /// [`TestServer::start_manual`] whose storage faults can be switched on
    /// ([`TestServer::storage_faults`]).
    pub async fn start_manual_with_storage_faults() -> TestServer {
        let mut s = TestServer::start_manual().await;
        s.faults = Some(faults::StorageFaults::new());
        s.restart().await;
        s
    }

    /// The switch of a server started with [`TestServer::start_with_storage_faults`].
    pub fn storage_faults(&self) -> faults::StorageFaults {
        self.faults.clone().expect("a server started with start_with_storage_faults")
    }

    /// Starts a server on a manual clock at [`MANUAL_START_MS`], with no background ticker or
    /// webhook deliverer: the test moves the clock and calls [`TestServer::run_due`] and
    /// [`TestServer::deliver_due`] itself. The clock survives restarts.
    pub async fn start_manual() -> TestServer {
        TestServer::start_manual_with(|_| {}).await
    }

    pub async fn start_manual_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let manual = Arc::new(ManualClock::new(MANUAL_START_MS));
        TestServer::launch_new(Backend::from_env(), tweak, manual.clone(), Some(manual)).await
    }

    /// [`TestServer::start_manual`] on the given storage backend.
    pub async fn start_manual_on(backend: Backend) -> TestServer {
        let manual = Arc::new(ManualClock::new(MANUAL_START_MS));
        TestServer::launch_new(backend, |_| {}, manual.clone(), Some(manual)).await
    }

    /// The manual clock (servers started with [`TestServer::start_manual`]).
    pub fn clock(&self) -> Arc<ManualClock> {
        self.manual.clone().expect("a server started with start_manual")
    }

    /// The manual clock, if the server runs on one.
    pub fn manual_clock(&self) -> Option<Arc<ManualClock>> {
        self.manual.clone()
    }

    /// The server clock now.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Evaluates deadlines and escalation steps due now (server clock).
    pub async fn run_due(&self) -> usize {
        self.app().run_due(self.now()).await.expect("run the deadline engine")
    }

    /// Attempts webhook deliveries due now (server clock); returns how many were delivered.
    pub async fn deliver_due(&self) -> usize {
        self.app().deliver_due(self.now()).await.expect("deliver webhooks")
    }

    async fn launch(&mut self) {
        let mut storage = self.backend.open(&self.config).await;
        if let Some(f) = &self.faults {
            storage = Arc::new(faults::FaultyStorage::new(storage, f.clone()));
        }
        let listener = tokio::net::TcpListener::bind(self.config.listen).await.expect("bind 127.0.0.1:0");
        self.addr = listener.local_addr().expect("local address");
        self.base_url = format!("http://{}", self.addr);
        let app = match self.hold.take() {
            Some(hold) => App::with_clock_held(self.config.clone(), storage, self.clock.clone(), async move {
                let _ = hold.await;
            })
            .await
            .expect("server state"),
            None => {
                let app =
                    App::with_clock(self.config.clone(), storage, self.clock.clone()).await.expect("server state");
                // Tests start from a server whose deadline engine has loaded, unless they hold it
                // (`restart_holding_engine`).
                app.started().await;
                app
            }
        };
        let (stop, rx) = oneshot::channel::<()>();
        let a = app.clone();
        let task = tokio::spawn(async move {
            let _ = crate::http::run(a, listener, async move {
                let _ = rx.await;
            })
            .await;
        });
        self.running = Some(Running { app, stop, task });
    }

    /// The full URL of `path` (e.g. `/v1/sync`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The running server's state.
    pub fn app(&self) -> &Arc<App> {
        &self.running.as_ref().expect("the server is running").app
    }

    /// The running server's storage.
    pub fn storage(&self) -> Arc<dyn Storage> {
        self.app().storage().clone()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The backend the server runs on.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// A second handle on the server's database, as another process (`kith-server admin`, another
    /// server instance) would open it.
    pub async fn open_another(&self) -> Arc<dyn Storage> {
        self.backend.open(&self.config).await
    }

    /// Copies the database of a stopped server (see [`TestServer::stop`]), as a nightly backup
    /// would: the SQLite files, or a PostgreSQL database made from this one as a template.
    pub async fn back_up(&self) -> Backup {
        assert!(self.running.is_none(), "back up a stopped server");
        match &self.backend {
            Backend::Sqlite => {
                let to = self.dir.path().join(format!("backup-{}.sqlite3", uuid::Uuid::new_v4().simple()));
                copy_sqlite(&self.db_path(), &to);
                Backup(to.display().to_string())
            }
            Backend::Postgres { url } => {
                let (db, cluster) = split_db(url);
                let name = format!("{db}_backup_{}", uuid::Uuid::new_v4().simple());
                pg_admin(&cluster, &format!("CREATE DATABASE {name} TEMPLATE {db}")).await;
                Backup(name)
            }
        }
    }

    /// Replaces the database of a stopped server with `backup` (a restore after a lost disk).
    pub async fn restore(&self, backup: &Backup) {
        assert!(self.running.is_none(), "restore a stopped server");
        match &self.backend {
            Backend::Sqlite => copy_sqlite(Path::new(&backup.0), &self.db_path()),
            Backend::Postgres { url } => {
                let (db, cluster) = split_db(url);
                pg_admin(&cluster, &format!("DROP DATABASE {db}")).await;
                pg_admin(&cluster, &format!("CREATE DATABASE {db} TEMPLATE {}", backup.0)).await;
            }
        }
    }

    /// The arguments that point `kith-server admin ...` at this server's database.
    pub fn admin_args(&self) -> Vec<String> {
        match &self.backend {
            Backend::Sqlite => vec!["--data-dir".into(), self.dir.path().display().to_string()],
            Backend::Postgres { url } => vec!["--database-url".into(), url.clone()],
        }
    }

    /// The SQLite database file (of a server on [`Backend::Sqlite`]).
    pub fn db_path(&self) -> PathBuf {
        self.config.database_path()
    }

    /// Creates a team; returns its id and a first lead invite code.
    pub async fn create_team(&self, name: &str) -> (TeamId, String) {
        let (team, invite) =
            crate::admin::create_team(self.storage().as_ref(), name, None, self.now()).await.expect("create team");
        (team, invite.code)
    }

    /// A single-use invite valid for a day.
    pub async fn invite(&self, team: TeamId, role: Role) -> String {
        self.invite_with(team, role, Duration::from_secs(24 * 3600), 1).await
    }

    /// An invite with the given lifetime and number of uses.
    pub async fn invite_with(&self, team: TeamId, role: Role, expires_in: Duration, uses: u32) -> String {
        crate::admin::create_invite(self.storage().as_ref(), team, role, expires_in, uses, self.now())
            .await
            .expect("create invite")
            .code
    }

    /// Revokes a device.
    pub async fn revoke(&self, device: DeviceId) -> bool {
        crate::admin::revoke(self.storage().as_ref(), device, self.now()).await.expect("revoke")
    }

    /// Writes into a stored document as the server's own actor with no check at all (no write
    /// schema, no validation, no size cap), stored as an older or buggy server could have stored
    /// it: a plain append with nothing derived from it. What a server today would refuse is how
    /// such stored text looks to devices and views. The deadline engine and the live channel
    /// follow the stored change as they follow any. Returns false if the edit changed nothing.
    pub async fn write_unchecked(
        &self,
        doc: uuid::Uuid,
        edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), kith_domain::DomainError>,
    ) -> bool {
        let docs = &self.app().docs;
        let slot = docs.cache.slot(doc);
        let mut guard = slot.lock().await;
        assert!(crate::docs::ensure_loaded(docs.storage.as_ref(), doc, &mut guard).await.unwrap(), "no document {doc}");
        let st = guard.as_ref().unwrap();
        let mut fork = st.doc.clone();
        fork.set_actor(docs.server_actor.clone());
        fork.transact(edit).map_err(|f| f.error).expect("the unchecked edit");
        let Some(change) = fork.get_last_local_change() else { return false };
        let batch = crate::storage::AppendChanges {
            meta: st.meta.clone(),
            create: false,
            changes: vec![crate::storage::NewChange {
                hash: change.hash().0.to_vec(),
                bytes: change.raw_bytes().to_vec(),
                actor: docs.server_actor.to_bytes().to_vec(),
                device: None,
            }],
            received_at: self.now(),
        };
        docs.storage.append_changes(batch).await.expect("store the unchecked change");
        // The cached copy is read again from storage, which now holds the change.
        *guard = None;
        true
    }

    /// Shuts the server down gracefully (in-flight requests finish) and closes the database.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            let _ = r.task.await;
            r.app.storage().close().await;
        }
    }

    /// Starts the server again on the same data directory (a new port).
    pub async fn start_again(&mut self) {
        if self.running.is_none() {
            self.launch().await;
        }
    }

    /// Stops and starts again on the same data directory, serving, with its deadline engine's
    /// load held until the returned sender is sent to (or dropped): what a server at scale looks
    /// like in the seconds its engine takes to load. Wait for the end with [`App::started`].
    pub async fn restart_holding_engine(&mut self) -> oneshot::Sender<()> {
        self.stop().await;
        let (release, hold) = oneshot::channel();
        self.hold = Some(hold);
        self.launch().await;
        release
    }

    /// Stops and starts again on the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
        }
    }
}

/// A [`TestServer`] on its own runtime, for tests that are not async.
#[derive(Debug)]
pub struct BlockingTestServer {
    server: Option<TestServer>,
    runtime: tokio::runtime::Runtime,
}

impl BlockingTestServer {
    pub fn start() -> BlockingTestServer {
        BlockingTestServer::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> BlockingTestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the test server");
        let server = runtime.block_on(TestServer::start_with(tweak));
        BlockingTestServer { server: Some(server), runtime }
    }

    pub fn server(&self) -> &TestServer {
        self.server.as_ref().expect("running")
    }

    pub fn base_url(&self) -> String {
        self.server().base_url.clone()
    }

    pub fn url(&self, path: &str) -> String {
        self.server().url(path)
    }

    pub fn create_team(&self, name: &str) -> (TeamId, String) {
        self.runtime.block_on(self.server().create_team(name))
    }

    pub fn invite(&self, team: TeamId, role: Role) -> String {
        self.runtime.block_on(self.server().invite(team, role))
    }

    pub fn restart(&mut self) {
        let s = self.server.as_mut().expect("running");
        self.runtime.block_on(s.restart());
    }

    /// Runs a future on the server's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for BlockingTestServer {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            self.runtime.block_on(s.stop());
        }
    }
}
