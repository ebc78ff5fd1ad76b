//! Opening the file safely: checks before any write, then migrations.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};

use crate::StoreError;

/// `PRAGMA application_id` of every Kith store: "KITH" in ASCII.
pub const KITH_APPLICATION_ID: i32 = 0x4B49_5448;

/// The newest schema version this build knows (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;

/// How long a connection waits for another one holding the write lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

const MIGRATION_1: &str = "
PRAGMA application_id = 1263096904;
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE docs (
    id                TEXT PRIMARY KEY NOT NULL,
    kind              TEXT NOT NULL,
    snapshot          BLOB NOT NULL,
    snapshot_len      INTEGER NOT NULL,
    -- the snapshot contains every chunk of this doc with seq <= compacted_through
    compacted_through INTEGER NOT NULL DEFAULT 0,
    created_at_ms     INTEGER NOT NULL
) STRICT;
CREATE INDEX docs_by_kind ON docs (kind, created_at_ms);
CREATE TABLE chunks (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    bytes  BLOB NOT NULL
) STRICT;
CREATE INDEX chunks_by_doc ON chunks (doc_id, seq);
CREATE TABLE sync_state (
    doc_id         TEXT PRIMARY KEY NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    server_heads   BLOB NOT NULL,
    last_synced_ms INTEGER
) STRICT;
";

/// Each document's current heads, kept with every write, so finding the documents with changes
/// the server lacks is one query instead of loading every document. NULL: not known yet.
const MIGRATION_2: &str = "
ALTER TABLE docs ADD COLUMN heads BLOB;
";

/// The server's last receipt for a document's heads, kept apart from `server_heads` because it
/// must survive a reset of those (it proves what the server once held; see docs/protocol.md).
const MIGRATION_3: &str = "
ALTER TABLE sync_state ADD COLUMN vouch_heads BLOB;
ALTER TABLE sync_state ADD COLUMN receipt BLOB;
";

/// Every migration, in order; the schema version is their count.
const MIGRATIONS: [&str; 3] = [MIGRATION_1, MIGRATION_2, MIGRATION_3];

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

enum Found {
    /// Empty or brand-new file: create the schema.
    New,
    /// A Kith store at this schema version.
    Kith(i64),
}

fn not_db(path: &Path) -> StoreError {
    StoreError::NotADatabase { path: path.to_path_buf() }
}

/// Looks at the file before SQLite touches it: a non-empty file must start with the SQLite
/// header, otherwise it is refused untouched.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                source: rusqlite::Error::InvalidPath(format!("{}: {e}", path.display()).into()),
            });
        }
    };
    let mut header = Vec::with_capacity(16);
    (&mut file).take(16).read_to_end(&mut header).map_err(|_| not_db(path))?;
    if header.is_empty() {
        return Ok(());
    }
    if header.as_slice() != SQLITE_HEADER {
        return Err(not_db(path));
    }
    Ok(())
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt))
}

/// Reads (never writes) what the file is.
fn inspect(conn: &Connection, path: &Path) -> Result<Found, StoreError> {
    let map = |e: rusqlite::Error| {
        if is_corruption(&e) { not_db(path) } else { StoreError::Sqlite { path: path.to_path_buf(), source: e } }
    };
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(map)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(map)?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(map)?;
    if app_id == KITH_APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == 0 && objects > 0 {
            return Err(StoreError::ForeignDatabase { path: path.to_path_buf() });
        }
        return Ok(Found::Kith(version));
    }
    if app_id == 0 && objects == 0 && version == 0 {
        return Ok(Found::New);
    }
    Err(StoreError::ForeignDatabase { path: path.to_path_buf() })
}

/// Opens `path`, refusing (without writing) anything that is not a Kith store this build can
/// use, then enables WAL and runs migrations.
pub(crate) fn open_checked(path: &Path) -> Result<Connection, StoreError> {
    check_header(path)?;
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let found = inspect(&conn, path)?;
    configure(&conn, path)?;
    let needs_migration = match found {
        Found::New => true,
        Found::Kith(v) => v < SCHEMA_VERSION,
    };
    if needs_migration && let Err(first) = migrations().to_latest(&mut conn) {
        // Another process may have created the schema at the same moment: look again.
        match inspect(&conn, path)? {
            Found::Kith(v) if v == SCHEMA_VERSION => {}
            _ => {
                return Err(StoreError::Migration { path: path.to_path_buf(), source: first });
            }
        }
    }
    Ok(conn)
}

/// Per-connection settings. Only called once the file is known to be ours (or new).
pub(crate) fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let e = crate::sql_err(path);
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(&e)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Sqlite { path: path.to_path_buf(), source: rusqlite::Error::InvalidQuery });
    }
    // temp_store: a batch runs each write in a savepoint, whose statement journal spills past
    // 64 KiB into a temporary file (/var/tmp, $TMPDIR, else the working directory), which a phone
    // or a sandbox may not have or let us write: in memory it holds only the pages one write
    // changes, and takes no system call.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")
        .map_err(&e)?;
    Ok(())
}

/// Opens a second connection to a file already checked by [`open_checked`].
pub(crate) fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    configure(&conn, path)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_sets_the_kith_application_id() {
        let expected = format!("PRAGMA application_id = {KITH_APPLICATION_ID};");
        assert!(MIGRATION_1.contains(&expected));
        assert_eq!(&KITH_APPLICATION_ID.to_be_bytes(), b"KITH");
    }

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
        assert_eq!(
            i64::try_from(migrations_len()).ok(),
            Some(SCHEMA_VERSION),
            "SCHEMA_VERSION must equal the number of migrations"
        );
    }

    fn migrations_len() -> usize {
        MIGRATIONS.len()
    }

    /// The temporary files this process holds open (SQLite names them `etilqs_…` and unlinks
    /// them at once, so only their descriptors show them).
    fn open_temp_files() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .filter(|t| t.to_string_lossy().contains("etilqs"))
                    .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn a_savepoint_keeps_its_statement_journal_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.kith");
        for conn in [open_checked(&path).unwrap(), open_existing(&path).unwrap()] {
            conn.execute_batch("CREATE TABLE IF NOT EXISTS scratch (k INTEGER PRIMARY KEY, v BLOB)").unwrap();
            conn.execute_batch(
                "DELETE FROM scratch;
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
                 INSERT INTO scratch SELECT i, zeroblob(3000) FROM n",
            )
            .unwrap();
            // A batch's write: a savepoint inside a transaction, changing far more than 64 KiB.
            conn.execute_batch("BEGIN; SAVEPOINT w; UPDATE scratch SET v = zeroblob(3001);").unwrap();
            let during = open_temp_files();
            conn.execute_batch("ROLLBACK TO w; RELEASE w; COMMIT;").unwrap();
            assert_eq!(during, 0, "the savepoint's statement journal went to a temporary file");
            let kept: i64 =
                conn.query_row("SELECT count(*) FROM scratch WHERE length(v) = 3000", [], |r| r.get(0)).unwrap();
            assert_eq!(kept, 200, "rolled back from the journal held in memory");
        }
    }
}
