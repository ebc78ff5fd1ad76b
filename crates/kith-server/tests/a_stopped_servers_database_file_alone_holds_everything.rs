//! Closing the SQLite storage closes every connection it opened, whoever still holds the storage:
//! SQLite moves the WAL into the database file when its last connection closes, and the backup
//! procedure (docs/operations.md: stop the server, copy the file) relies on that. Before, the
//! connection that reads the auth generation, and a read connection in use while the server
//! stopped, stayed open until the last holder of the storage let it go, so a copy of the file
//! made after `stop` could miss the latest writes (a restore then forgot a team or a device), and
//! removing the WAL of a database still open broke the next start ("disk I/O error").

use kith_server::storage::sqlite::SqliteStorage;
use kith_server::testing::{Backend, TestServer};

#[tokio::test]
async fn the_database_file_alone_holds_every_write_once_the_server_has_stopped() {
    let mut server = TestServer::start_on(Backend::Sqlite, |_| {}).await;
    let (team, _invite) = server.create_team("Backed up").await;
    // Someone (a background task ending late) still holds the storage when the server stops.
    let held = server.storage();
    server.stop().await;

    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("backup.sqlite3");
    std::fs::copy(server.db_path(), &copy).unwrap();
    let restored = SqliteStorage::open(&copy).unwrap();
    use kith_server::storage::Storage;
    assert!(
        restored.team(team).await.unwrap().is_some(),
        "the team created before the stop is in the database file alone"
    );
    drop(held);
}
