//! Errors: [`ServerError`] inside the library, [`ApiErr`] on the wire (every non-2xx answer is a
//! JSON [`kith_proto::ApiError`] with a stable code and a message saying what to do).
//!
//! The status says whose fault it is: 4xx for what the caller sent or may not do, 5xx for the
//! server's own faults (its storage, its stored documents, its own answers), never the other way
//! round, so a client knows whether retrying can help and an operator what to look at.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kith_proto::ApiError;

use crate::storage::StorageError;

/// What can go wrong inside the server library.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Domain(#[from] kith_domain::DomainError),
    /// The caller's request is not acceptable (4xx).
    #[error("{0}")]
    Invalid(String),
    #[error("the document could not be written: {0}")]
    Automerge(String),
    /// A fault of the server's own: a stored document it cannot read, an answer it cannot encode (5xx).
    #[error("{0}")]
    Internal(String),
}

/// An error answer: HTTP status plus the JSON body.
#[derive(Debug, Clone)]
pub struct ApiErr {
    pub status: StatusCode,
    pub body: ApiError,
}

/// The code of [`ApiErr::unknown_token`] (kith_proto::DEVICE_UNKNOWN).
pub use kith_proto::DEVICE_UNKNOWN;

pub const REVOKED_MESSAGE: &str = "This device's access was revoked. Ask a lead for a new invite and run `kith join`.";
/// A request with no bearer token at all.
pub const NO_TOKEN_MESSAGE: &str = "This request carries no device token: send `Authorization: Bearer <token>`. A device \
     gets its token by joining its team with an invite (`kith join`).";
/// A token this server has no record of (never issued here, or its data was replaced). Says
/// nothing about any other token: tokens are 256-bit random, so telling this apart from a revoked
/// one gives nobody a way to find a valid one.
pub const UNKNOWN_TOKEN_MESSAGE: &str = "This server does not know this device (restored from a backup taken before \
     the device joined, or the device joined another server). Nothing on the device is lost: ask a lead for a new \
     invite and join with it on this device, which re-joins as the same member and sends what it kept.";

impl ApiErr {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>, retryable: bool) -> ApiErr {
        ApiErr { status, body: ApiError { code: code.into(), message: message.into(), retryable } }
    }

    /// A revoked device.
    pub fn unauthorized() -> ApiErr {
        ApiErr::new(StatusCode::UNAUTHORIZED, "unauthorized", REVOKED_MESSAGE, false)
    }

    /// A request without a bearer token.
    pub fn no_token() -> ApiErr {
        ApiErr::new(StatusCode::UNAUTHORIZED, "unauthorized", NO_TOKEN_MESSAGE, false)
    }

    /// A bearer token this server does not know: `device_unknown`, told apart from a revoked
    /// device (`unauthorized`) so the device offers to re-join; the token itself claims nothing.
    pub fn unknown_token() -> ApiErr {
        ApiErr::new(StatusCode::UNAUTHORIZED, DEVICE_UNKNOWN, UNKNOWN_TOKEN_MESSAGE, false)
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiErr {
        ApiErr::new(StatusCode::BAD_REQUEST, code, message, false)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiErr {
        ApiErr::new(StatusCode::FORBIDDEN, "forbidden", message, false)
    }

    /// The body limit's answer.
    pub fn too_large(message: impl Into<String>) -> ApiErr {
        ApiErr::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message, false)
    }

    /// The default answer for a status that reached the client without a JSON body.
    pub fn for_status(status: StatusCode) -> ApiErr {
        let (code, msg, retry) = match status.as_u16() {
            400 => ("bad_request", "The request could not be read: check the body and try again.", false),
            401 => ("unauthorized", "This request is not authenticated: join with an invite (`kith join`).", false),
            404 => ("not_found", "There is no such endpoint: check the server address and update Kith.", false),
            405 => ("method_not_allowed", "This endpoint does not take that method: update Kith.", false),
            408 => ("timeout", "The request took too long: check the connection and try again.", true),
            413 => (
                "payload_too_large",
                "The request is larger than the server accepts: sync fewer documents at a time.",
                false,
            ),
            415 => ("unsupported_media_type", "The body's content type or encoding is not supported.", false),
            422 => ("unprocessable", "The request body does not have the expected fields.", false),
            429 => ("rate_limited", "Too many attempts: wait a minute and try again.", true),
            s if s >= 500 => ("server_error", "The server could not answer: try again later.", true),
            _ => ("error", "The request was refused.", false),
        };
        ApiErr::new(status, code, msg, retry)
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<StorageError> for ApiErr {
    fn from(e: StorageError) -> Self {
        if e == StorageError::Revoked {
            return ApiErr::unauthorized();
        }
        tracing::error!(error = %e, retryable = e.retryable(), "storage error");
        if e.retryable() {
            ApiErr::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "The server cannot reach its storage right now: try again shortly.",
                true,
            )
        } else {
            // Corrupt data, a broken constraint: the same request would fail the same way.
            ApiErr::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_fault",
                "The server's storage failed in a way retrying will not help: tell the server's operator \
                 (its log says what failed). Nothing on this device is lost.",
                false,
            )
        }
    }
}

impl From<ServerError> for ApiErr {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Storage(s) => s.into(),
            ServerError::Invalid(m) => ApiErr::bad_request("invalid", m),
            ServerError::Domain(d) => ApiErr::bad_request("invalid", d.to_string()),
            other @ (ServerError::Config(_)
            | ServerError::Io(_)
            | ServerError::Automerge(_)
            | ServerError::Internal(_)) => {
                tracing::error!(error = %other, "internal error");
                ApiErr::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl From<crate::sync::SyncError> for ApiErr {
    fn from(e: crate::sync::SyncError) -> Self {
        match e {
            crate::sync::SyncError::ClientTime(_) => ApiErr::bad_request("bad_client_time", e.to_string()),
            crate::sync::SyncError::Storage(s) => s.into(),
            crate::sync::SyncError::Busy => ApiErr::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_busy",
                "The server is busy with other large syncs: nothing of this one was stored. It is retried \
                 automatically; sync again in a moment.",
                true,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_own_faults_are_5xx_and_the_callers_mistakes_4xx() {
        let status = |e: ServerError| ApiErr::from(e).status.as_u16();
        assert_eq!(status(ServerError::Internal("the answer could not be encoded".into())), 500);
        assert_eq!(status(ServerError::Automerge("x".into())), 500);
        assert_eq!(status(ServerError::Io(std::io::Error::other("disk"))), 500);
        assert_eq!(status(ServerError::Storage(StorageError::Unavailable("database is locked".into()))), 503);
        assert_eq!(status(ServerError::Storage(StorageError::Db("database disk image is malformed".into()))), 500);
        assert_eq!(status(ServerError::Storage(StorageError::Corrupt("bad row".into()))), 500);
        assert!(!ApiErr::from(StorageError::Corrupt("bad row".into())).body.retryable);
        assert_eq!(status(ServerError::Storage(StorageError::Revoked)), 401);
        assert_eq!(status(ServerError::Invalid("give the team a name".into())), 400);
        let e = ApiErr::from(ServerError::Internal("x".into()));
        assert!(e.body.retryable, "a fault of ours may pass: retrying can help");
        assert_eq!(ApiErr::from(crate::sync::SyncError::ClientTime(-1)).status.as_u16(), 400);
    }
}
