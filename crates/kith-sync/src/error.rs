//! Sync errors, each knowing whether a retry can help.

use kith_proto::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "cannot reach the team server at {server}: {reason}. Your check-ins are saved on this device and will sync when the connection is back"
    )]
    Offline { server: String, reason: String },
    #[error(
        "the team server at {server} did not answer in time. Your check-ins are saved on this device and will sync later"
    )]
    Timeout { server: String },
    #[error("this device is not allowed to sync: {message}")]
    Unauthorized { message: String },
    #[error("the team server refused the request ({status}): {message}")]
    Server { status: u16, code: String, message: String, retryable: bool },
    #[error("the team server answered something this version of Kith cannot read: {0}. Update Kith")]
    Protocol(String),
    #[error("'{0}' is not a valid server address: use something like https://kith.example.org")]
    BadServerAddress(String),
    #[error(transparent)]
    Store(#[from] kith_store::StoreError),
    #[error("this device has not joined a team yet: run `kith join <server> <invite code>`")]
    NotJoined,
}

impl SyncError {
    /// Whether trying the same thing again later can succeed.
    pub fn retryable(&self) -> bool {
        match self {
            SyncError::Offline { .. } | SyncError::Timeout { .. } => true,
            SyncError::Server { retryable, .. } => *retryable,
            SyncError::Unauthorized { .. }
            | SyncError::Protocol(_)
            | SyncError::BadServerAddress(_)
            | SyncError::Store(_)
            | SyncError::NotJoined => false,
        }
    }

    pub(crate) fn from_api(status: u16, api: ApiError) -> Self {
        // 401 is about this device's credential; a 403 (e.g. a refused invite) is a refusal of
        // this request only, and keeps its code.
        if status == 401 {
            SyncError::Unauthorized { message: api.message }
        } else {
            SyncError::Server { status, code: api.code, message: api.message, retryable: api.retryable }
        }
    }
}
