//! What the core needs of a device's documents, whoever keeps them: [`Repo`]. The browser's
//! in-memory [`crate::MemRepo`] keeps them for the IndexedDB driver (each mutation journaled as a
//! [`crate::Write`] for the driver to persist); natively `kith_store::Store` keeps them in SQLite
//! (each mutation one committed transaction). The decisions (`sync`, `ops`, `views`,
//! `reminders`) are written once, against this trait.

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, Change, ChangeHash};
use uuid::Uuid;

/// One document as listed by [`Repo::list_docs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    pub id: Uuid,
    pub kind: String,
    /// When this device first saw the document (milliseconds since the Unix epoch).
    pub created_at_ms: i64,
}

/// What [`Repo::apply_remote`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteApplied {
    /// True if the document did not exist on this device before.
    pub created: bool,
    /// Number of changes that were new to this device (and were stored).
    pub new_changes: usize,
    /// Changes the document depends on but that this device does not have. Non-empty means the
    /// received changes are stored but not yet visible: fetch these from the server.
    pub missing_deps: Vec<ChangeHash>,
    /// The document's heads after applying.
    pub heads: Vec<ChangeHash>,
    /// The heads of the received changes alone (of a whole saved document: its heads).
    pub received_heads: Vec<ChangeHash>,
}

/// The server's last receipt for a document: proof the server once held these heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub heads: Vec<ChangeHash>,
    pub receipt: Vec<u8>,
}

/// What kind of failure a repository error is, where the decisions must tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No document with that id on this device.
    UnknownDocument,
    /// A stored document could not be decoded.
    CorruptDocument,
    Other,
}

/// A repository error the decisions can classify.
pub trait RepoErrorKind {
    fn kind(&self) -> ErrorKind;
}

/// A device's documents and their sync bookkeeping. Every mutation is durable, or journaled for
/// the driver to make durable, before the operation that made it is reported done; a mutation
/// that fails changes nothing.
pub trait Repo {
    type Error: std::error::Error + RepoErrorKind + Send + Sync + 'static;

    /// This device's Automerge actor id, used for every change it makes.
    fn actor_id(&self) -> &ActorId;
    /// All documents, or those of one kind, oldest first.
    fn list_docs(&self, kind: Option<&str>) -> Result<Vec<DocInfo>, Self::Error>;
    fn has_doc(&self, id: Uuid) -> Result<bool, Self::Error>;
    /// The current state of document `id`.
    fn doc(&mut self, id: Uuid) -> Result<&Automerge, Self::Error>;
    fn doc_kind(&mut self, id: Uuid) -> Result<String, Self::Error>;
    /// Creates document `id` of `kind` with `f` as its first change. If `f` fails, nothing is kept.
    fn create_doc<O, E, F>(&mut self, id: Uuid, kind: &str, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<Self::Error>;
    /// Changes document `id` with `f`. If `f` fails, nothing is kept and the document is unchanged.
    fn change_doc<O, E, F>(&mut self, id: Uuid, f: F) -> Result<O, E>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<O, E>,
        E: From<Self::Error>;
    /// Loads changes received from the server, creating the document if it is unknown. Bytes
    /// that are not valid Automerge data are refused and nothing is kept.
    fn apply_remote(&mut self, id: Uuid, kind: &str, bytes: &[u8]) -> Result<RemoteApplied, Self::Error>;
    /// The heads the server was last known to have for document `id`.
    fn server_heads(&self, id: Uuid) -> Result<Vec<ChangeHash>, Self::Error>;
    fn set_server_heads(&mut self, id: Uuid, heads: &[ChangeHash]) -> Result<(), Self::Error>;
    /// The server's last receipt for document `id`, with the heads it vouches for.
    fn receipt(&self, id: Uuid) -> Result<Option<Receipt>, Self::Error>;
    fn set_receipt(&mut self, id: Uuid, heads: &[ChangeHash], receipt: &[u8]) -> Result<(), Self::Error>;
    /// A small value kept next to the documents (the profile, settings, sync cursor...).
    fn meta_get(&self, key: &str) -> Result<Option<String>, Self::Error>;
    fn meta_set(&mut self, key: &str, value: &str) -> Result<(), Self::Error>;
    /// The changes of document `id` that the server does not have, in causal order.
    fn pending_changes(&mut self, id: Uuid) -> Result<Vec<Change>, Self::Error>;
    /// Documents that have changes the server does not have.
    fn docs_with_pending_changes(&mut self) -> Result<Vec<Uuid>, Self::Error>;
    /// How many changes of document `id` the server does not have (a repository may know it
    /// without listing them).
    fn pending_count(&mut self, id: Uuid) -> Result<usize, Self::Error> {
        Ok(self.pending_changes(id)?.len())
    }
    /// Runs `f` so that its mutations become durable together, once, when it returns `Ok`
    /// (natively one SQLite transaction: one fsync instead of one per mutation), and none of
    /// them if it fails. A repository without transactions makes each durable as it is made
    /// (the browser's journal is persisted in one storage transaction anyway).
    fn atomically<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Self::Error>,
    {
        f(self)
    }
    /// [`Repo::atomically`] for mutations that only record what the server holds (a sync answer),
    /// which the device can fetch again: a repository may make them durable lazily (natively a
    /// commit that does not wait for the disk: lost only on a power loss, whole, and fetched again
    /// by the next sync), never half of them.
    fn atomically_refetchable<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Self::Error>,
    {
        self.atomically(f)
    }
}
