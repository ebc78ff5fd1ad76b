//! Why a command failed, in plain words with the fix, and which exit code that means.

use std::path::PathBuf;

use kith_domain::DomainError;
use kith_store::StoreError;

/// The command line, or a value in it, is wrong. (clap uses 2 for its own usage errors too.)
pub const EXIT_USAGE: u8 = 2;
/// The command makes no sense right now: no profile yet, already on shift, not on shift...
pub const EXIT_STATE: u8 = 3;
/// This device's data cannot be used: a damaged or foreign database file, permissions, disk.
pub const EXIT_DATA: u8 = 4;
/// The team server could not be reached now (try again later; nothing is lost).
pub const EXIT_OFFLINE: u8 = 5;
/// The team server refused (revoked device, bad invite, ...): waiting will not help.
pub const EXIT_REFUSED: u8 = 6;

/// A failed command. Every message says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: a time, a rating, a duration outside the policy...
    #[error("{0}")]
    Usage(String),
    /// There is no profile in the data directory.
    #[error("No Kith profile in {}. Create one with: kith init --name <your name>", dir.display())]
    NoProfile { dir: PathBuf },
    /// Not possible in the current state (already on shift, not on shift, profile exists).
    #[error("{0}")]
    State(String),
    /// The store refused or failed; its message already says what to do.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Kith's own data on this device is damaged or unreadable.
    #[error("{0}")]
    Data(String),
    /// The team server could not be reached; retrying later can help.
    #[error("{0}")]
    Offline(String),
    /// The team server refused the request; retrying will not help until something changes.
    #[error("{0}")]
    Remote(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NoProfile { .. } | CliError::State(_) => EXIT_STATE,
            CliError::Store(_) | CliError::Data(_) => EXIT_DATA,
            CliError::Offline(_) => EXIT_OFFLINE,
            CliError::Remote(_) => EXIT_REFUSED,
        }
    }

    /// A short, stable name of the kind of error (for `--json` callers and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::NoProfile { .. } => "no_profile",
            CliError::State(_) => "state",
            CliError::Store(_) => "store",
            CliError::Data(_) => "data",
            CliError::Offline(_) => "offline",
            CliError::Remote(_) => "refused",
        }
    }
}

impl From<DomainError> for CliError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::BadId { .. }
            | DomainError::BadRating { .. }
            | DomainError::BadLocation { .. }
            | DomainError::IntervalOutOfPolicy { .. }
            | DomainError::TooLong { .. }
            | DomainError::EndNotAfter { .. }
            | DomainError::Invalid(_) => CliError::Usage(e.to_string()),
            DomainError::ShiftEnded | DomainError::UnknownCheckIn(_) => CliError::State(e.to_string()),
            DomainError::Malformed(_) | DomainError::Automerge(_) => CliError::Data(format!(
                "Kith's data on this device could not be used: {e}. Nothing was changed. \
                 If this keeps happening, keep a copy of the data directory and report a bug."
            )),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Data(format!("could not write the output: {e}"))
    }
}
