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
    Unauthorized {
        /// `unauthorized` (revoked, or no token), or [`kith_proto::DEVICE_UNKNOWN`] (the server
        /// forgot this device: it can re-join with a new invite and keep its data).
        code: String,
        message: String,
    },
    #[error("the team server refused the request ({status}): {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
        /// Trying again later can succeed: the server said so, or the answer was a 5xx, a 408 or
        /// a 429 (see [`retryable_status`]).
        retryable: bool,
        /// The server's `Retry-After`, when it gave one.
        retry_after: Option<std::time::Duration>,
    },
    #[error("the team server answered something this version of Kith cannot read: {0}. Update Kith")]
    Protocol(String),
    #[error("'{0}' is not a valid server address: use something like https://kith.example.org")]
    BadServerAddress(String),
    #[error(
        "'{0}' is plain HTTP: Kith sends this device's credential and your check-ins only over HTTPS, except to \
         this computer (localhost). Use the server's https:// address (ask your admin); for testing only, set \
         KITH_ALLOW_PLAIN_HTTP=1"
    )]
    PlainHttp(String),
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
            | SyncError::PlainHttp(_)
            | SyncError::Store(_)
            | SyncError::NotJoined => false,
        }
    }

    /// The server does not know this device (restored from a backup taken before it joined):
    /// a new invite lets it re-join as the same member.
    pub fn device_unknown(&self) -> bool {
        matches!(self, SyncError::Unauthorized { code, .. } if code == kith_proto::DEVICE_UNKNOWN)
    }

    /// How long the server asked us to wait before trying again, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SyncError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn from_api(status: u16, api: ApiError, retry_after: Option<std::time::Duration>) -> Self {
        // 401 is about this device's credential; a 403 (e.g. a refused invite) is a refusal of
        // this request only, and keeps its code.
        if status == 401 {
            SyncError::Unauthorized { code: api.code, message: api.message }
        } else {
            let retryable = api.retryable || retryable_status(status);
            SyncError::Server { status, code: api.code, message: api.message, retryable, retry_after }
        }
    }
}

/// HTTP answers that are retryable whatever their body says: a server fault (5xx: the server
/// failed, not the request), a timeout (408) or too many requests (429). docs/protocol.md.
pub fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(retryable: bool) -> ApiError {
        ApiError { code: "x".into(), message: "m".into(), retryable }
    }

    #[test]
    fn server_faults_timeouts_and_rate_limits_are_retryable_whatever_the_body_says() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(SyncError::from_api(status, api(false), None).retryable(), "{status}");
        }
        for status in [400, 403, 404, 409, 413, 426] {
            assert!(!SyncError::from_api(status, api(false), None).retryable(), "{status}");
            assert!(SyncError::from_api(status, api(true), None).retryable(), "{status}: the server said so");
        }
        assert!(!SyncError::from_api(401, api(true), None).retryable(), "a refused credential needs a person");
        let busy = SyncError::from_api(503, api(true), Some(std::time::Duration::from_secs(7)));
        assert_eq!(busy.retry_after(), Some(std::time::Duration::from_secs(7)));
    }

    #[test]
    fn network_failures_are_retryable() {
        assert!(SyncError::Offline { server: "s".into(), reason: "refused".into() }.retryable());
        assert!(SyncError::Timeout { server: "s".into() }.retryable());
        assert!(!SyncError::Protocol("garbage".into()).retryable());
    }
}
