use std::path::PathBuf;

use uuid::Uuid;

/// Everything that can go wrong in the local store. Each message says what happened and what
/// the person (or the calling code) should do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file exists but is not an SQLite database (or is damaged beyond opening).
    #[error(
        "'{path}' is not a Kith database (it is not an SQLite file, or it is damaged). Kith did not change it. Restore it from a backup, or move it away so Kith can start a new store."
    )]
    NotADatabase { path: PathBuf },

    /// The file is an SQLite database that belongs to another program.
    #[error(
        "'{path}' is not a Kith database (it may belong to another program). Kith did not change it. Move it away or point --data-dir elsewhere."
    )]
    ForeignDatabase { path: PathBuf },

    /// The file was written by a newer Kith.
    #[error(
        "'{path}' was written by a newer version of Kith (store schema {found}; this build understands up to {supported}). Kith did not change it. Update Kith to open it."
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },

    /// The file could not be opened at all (permissions, missing directory, ...).
    #[error(
        "could not open the store '{path}': {source}. Check that the directory exists and that you may read and write it."
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// Upgrading the schema failed; the upgrade runs in one transaction so nothing changed.
    #[error(
        "could not upgrade the store '{path}' to this version of Kith: {source}. Nothing was changed. Close other Kith programs using it and try again; if it persists, report a bug."
    )]
    Migration {
        path: PathBuf,
        #[source]
        source: rusqlite_migration::Error,
    },

    /// An SQLite operation failed (disk full, read-only file, I/O error, lock timeout...).
    #[error(
        "the store '{path}' could not complete an operation: {source}. Nothing from this operation was saved, and what was saved before is intact. Check free disk space and file permissions, close other programs holding the file, then retry."
    )]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// No document with this id exists in the store.
    #[error(
        "there is no document {id} in this store. Check the id (list the documents to see which exist), or sync with the server to fetch it."
    )]
    UnknownDocument { id: Uuid },

    /// `create_doc` was called for an id that is already used.
    #[error(
        "a document {id} (kind '{kind}') already exists. Use a new id to create a document, or change the existing one."
    )]
    DocumentExists { id: Uuid, kind: String },

    /// The document exists with another kind.
    #[error(
        "document {id} is a '{actual}' document, not a '{expected}'. Nothing was stored. Check that the id belongs to the kind of document you meant."
    )]
    KindMismatch { id: Uuid, expected: String, actual: String },

    /// Bytes received from elsewhere are not valid Automerge data.
    #[error(
        "the data received for document {id} is not valid Automerge data ({reason}). Nothing was stored. Sync again; if it keeps happening, the server or the network is corrupting data."
    )]
    InvalidRemoteData { id: Uuid, reason: String },

    /// Automerge refused the received changes (e.g. conflicting sequence numbers).
    #[error(
        "the changes received for document {id} were refused by Automerge ({source}). Nothing was stored. Sync again; if it keeps happening, report a bug."
    )]
    RemoteRejected {
        id: Uuid,
        #[source]
        source: Box<automerge::AutomergeError>,
    },

    /// Stored document data could not be decoded.
    #[error(
        "document {id} in the store could not be read ({reason}). The stored data is damaged; restore the store from a backup or sync the document again from the server."
    )]
    CorruptDocument { id: Uuid, reason: String },

    /// The caller tried to write a meta key reserved for the store.
    #[error(
        "the key '{key}' is reserved for the store itself and was not changed. Use a key that does not start with 'store.'."
    )]
    ReservedKey { key: String },

    /// The device identity stored in the file is damaged.
    #[error(
        "the device identity (Automerge actor id) stored in '{path}' is damaged ('{value}'). Restore the store from a backup; do not copy another device's store."
    )]
    BadActorId { path: PathBuf, value: String },

    /// The recorded server heads of a document are damaged.
    #[error(
        "the recorded server state of document {id} is damaged. The document itself is intact: record empty server heads for it and sync again."
    )]
    BadServerHeads { id: Uuid },
}

impl kith_core::RepoErrorKind for StoreError {
    fn kind(&self) -> kith_core::ErrorKind {
        match self {
            StoreError::UnknownDocument { .. } => kith_core::ErrorKind::UnknownDocument,
            StoreError::CorruptDocument { .. } => kith_core::ErrorKind::CorruptDocument,
            _ => kith_core::ErrorKind::Other,
        }
    }
}
