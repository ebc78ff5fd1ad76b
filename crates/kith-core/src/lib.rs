//! The sans-IO engine core of a Kith device, in the shape of samod-core: it holds the device's
//! documents and decides; drivers do the IO.
//!
//! - [`repo::Repo`]: what the decisions need of the documents, whoever keeps them. Natively
//!   `kith_store::Store` (SQLite, each mutation one committed transaction); in the browser
//!   [`MemRepo`] (documents in memory, each mutation journaled as a [`Write`] that the driver
//!   commits to IndexedDB).
//! - The decisions, written once against it: [`ops`] (a worker's edits through the domain's write
//!   functions), [`sync`] (prepare a request, absorb an answer, what is pending, what was refused
//!   for good or for now), [`schedule`] (when to sync next, backoff), [`reminders`], [`views`]
//!   (the app's screens).
//! - [`Core`]: the event loop of a device whose storage is asynchronous (the browser): events in
//!   (a command, "the storage committed", "the server answered", "time passed"), effects out
//!   ("persist these writes", "send this request", "reply", "notify"). A local edit is answered
//!   only once the driver reports its storage transaction committed.
//!
//! No IO and no clock: every time is passed in. Builds for `wasm32-unknown-unknown`
//! (crates/kith-web) without tokio, reqwest or SQLite.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod chunks;
pub mod error;
pub mod mem;
pub mod ops;
pub mod profile;
pub mod reminders;
pub mod repo;
pub mod schedule;
pub mod sync;

pub use error::OpError;
pub use mem::{MemRepo, Records, RepoError, Write};
pub use profile::{Link, Profile};
pub use repo::{DocInfo, ErrorKind, Receipt, RemoteApplied, Repo, RepoErrorKind};
pub mod commands;
pub mod machine;
pub mod views;

pub use machine::{Command, Core, CoreOptions, Effect, Event, Failure, Reply, TaskId};
