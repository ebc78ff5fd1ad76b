//! One error for every operation: what went wrong and what to do next, a stable `code` for
//! programs, and whether trying again later can help. Variants that callers word differently
//! (the command line names its own flags) carry the facts rather than only a sentence.

use std::path::{Path, PathBuf};

use kith_api::ApiError;
pub use kith_core::OpError;
use kith_domain::DomainError;
use kith_store::StoreError;
use kith_sync::SyncError;

/// Why an operation failed. Nothing was changed unless the message says so.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The core refused or failed the operation: the same refusals, messages and codes as every
    /// other engine driver (the web app's). `path` is where this device keeps its data, said for
    /// the refusals about damaged or missing data so they can be restored.
    #[error("{error}{}", path.as_ref().map(|p| format!(" (Kith's data on this device: '{}')", p.display())).unwrap_or_default())]
    // The path boxed: it is rare, and keeps the error small enough to return everywhere.
    Op { error: OpError<StoreError>, path: Option<Box<PathBuf>> },
    /// Joining into a data directory that already holds a profile.
    #[error(
        "this device already has a Kith profile ({name}{}); Kith did not change it. To join as someone else, use another data directory",
        if *on_server { ", on a team server" } else { ", for offline use" }
    )]
    AlreadyJoined { name: String, on_server: bool },
    /// The team server could not be reached (now): trying later can help; nothing is lost.
    #[error("{0}")]
    Offline(String),
    /// The team server refused the request; `code` is the server's.
    #[error("{message}")]
    Refused { code: String, message: String, retryable: bool },
    /// The server no longer accepts this device's credential.
    #[error(
        "the team server no longer accepts this device ({0}). The check-ins on this device stay here; ask your lead for a new invite and join again from a fresh data directory"
    )]
    Unauthorized(String),
    /// The server has no record of this device (restored from a backup taken before it joined):
    /// everything stays on the device, and joining with a new invite re-joins as the same member.
    #[error(
        "the team server does not know this device any more: it was probably restored from a backup taken before \
         this device joined. Everything on this device is kept. Ask your lead for a new invite and join with it \
         here: this device re-joins as the same member and sends its shifts and check-ins"
    )]
    DeviceUnknown(String),
    /// The store says this device joined a server, but its credential is not on this computer
    /// (a data directory copied from another device, a removed keychain entry or file).
    #[error(
        "this device's credential for {server} is not on this computer ({why}). A Kith data directory copied from \
         another device cannot sync: the check-ins in it stay here. Ask your lead for a new invite and join again from \
         a fresh data directory (and ask them to revoke the old device if it was lost)"
    )]
    CredentialMissing { server: String, why: String },
    /// The keychain or the credential file holds the credential but cannot be read now.
    #[error("{0}")]
    CredentialUnreadable(String),
    /// The server's address is not usable.
    #[error("'{0}' is not a valid server address: use something like https://kith.example.org")]
    BadServerAddress(String),
    /// A plain `http://` address of a server that is not on this computer.
    #[error("{0}")]
    PlainHttp(String),
    /// The server answered something this version cannot read.
    #[error("the team server answered something this version of Kith cannot read ({0}): update Kith")]
    Protocol(String),
    /// An emergency check-in failed: said so loudly, with what to do instead.
    #[error(
        "YOUR EMERGENCY WAS NOT SAVED ({0}). Phone your team or the emergency services (112 / 999 / 911) now if you can"
    )]
    EmergencyNotSaved(Box<ClientError>),
    /// Something inside Kith failed (a task, a runtime); the message says what.
    #[error("{0}. If this keeps happening, restart Kith and report a bug")]
    Internal(String),
    /// Only leads may do this; the message says what and whom to ask.
    #[error("{0}")]
    LeadsOnly(String),
}

impl ClientError {
    /// A short, stable name for programs and the UI (snake_case).
    pub fn code(&self) -> &str {
        match self {
            ClientError::Op { error, .. } => error.code(),
            ClientError::AlreadyJoined { .. } => "already_joined",
            ClientError::LeadsOnly(_) => "forbidden",
            ClientError::Offline(_) => "offline",
            ClientError::Refused { code, .. } => code,
            ClientError::Unauthorized(_) => "unauthorized",
            ClientError::DeviceUnknown(_) => kith_proto::DEVICE_UNKNOWN,
            ClientError::CredentialMissing { .. } => "credential_missing",
            ClientError::CredentialUnreadable(_) => "credential_unreadable",
            ClientError::BadServerAddress(_) => "bad_server_address",
            ClientError::PlainHttp(_) => "plain_http",
            ClientError::Protocol(_) => "protocol",
            ClientError::Internal(_) => "internal",
            ClientError::EmergencyNotSaved(e) => e.code(),
        }
    }

    /// Whether the same operation can succeed later without anything else changing.
    pub fn retryable(&self) -> bool {
        match self {
            ClientError::Offline(_) => true,
            ClientError::Op { error, .. } => error.retryable(),
            ClientError::Refused { retryable, .. } => *retryable,
            ClientError::EmergencyNotSaved(e) => e.retryable(),
            _ => false,
        }
    }

    /// The one error shape of the app's commands and the server's JSON API.
    pub fn to_api(&self) -> ApiError {
        ApiError { code: self.code().to_string(), message: self.to_string(), retryable: self.retryable() }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> ApiError {
        e.to_api()
    }
}

impl ClientError {
    /// The core's refusal of an operation on the store at `path`: the path is kept for the
    /// refusals about damaged or missing data.
    pub fn from_op(error: OpError<StoreError>, path: &Path) -> ClientError {
        let path = matches!(error, OpError::TeamMissing { .. } | OpError::Damaged { .. })
            .then(|| Box::new(path.to_path_buf()));
        ClientError::Op { error, path }
    }

    /// The core's refusal of something that never touches a store (a value out of range).
    pub fn from_op_no_path(error: OpError<StoreError>) -> ClientError {
        ClientError::Op { error, path: None }
    }

    /// A value the caller gave is wrong; `message` names it and the range.
    pub fn invalid(message: impl Into<String>) -> ClientError {
        ClientError::Op { error: OpError::Invalid(message.into()), path: None }
    }

    /// The core's refusal `error` (also `?` on `OpError`).
    pub fn op(error: OpError<StoreError>) -> ClientError {
        ClientError::Op { error, path: None }
    }

    /// The core's refusal, if this is one (for callers that word some refusals their own way).
    pub fn as_op(&self) -> Option<&OpError<StoreError>> {
        match self {
            ClientError::Op { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<OpError<StoreError>> for ClientError {
    fn from(e: OpError<StoreError>) -> ClientError {
        ClientError::op(e)
    }
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> ClientError {
        ClientError::op(OpError::Repo(e))
    }
}

impl From<DomainError> for ClientError {
    fn from(e: DomainError) -> ClientError {
        ClientError::op(OpError::Domain(e))
    }
}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> ClientError {
        match e {
            SyncError::Store(s) => s.into(),
            SyncError::BadServerAddress(a) => ClientError::BadServerAddress(a),
            e @ SyncError::PlainHttp(_) => ClientError::PlainHttp(e.to_string()),
            SyncError::NotJoined => OpError::NotJoined.into(),
            e @ SyncError::Unauthorized { .. } if e.device_unknown() => ClientError::DeviceUnknown(e.to_string()),
            SyncError::Unauthorized { message, .. } => ClientError::Unauthorized(message),
            SyncError::Protocol(p) => ClientError::Protocol(p),
            SyncError::Server { code, message, retryable, .. } => ClientError::Refused { code, message, retryable },
            e @ (SyncError::Offline { .. } | SyncError::Timeout { .. }) => ClientError::Offline(e.to_string()),
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> ClientError {
        ClientError::Internal(format!("a file operation failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_is_retryable_and_says_nothing_is_lost() {
        let e: ClientError =
            SyncError::Offline { server: "http://x/".into(), reason: "connection refused".into() }.into();
        let api = e.to_api();
        assert_eq!(api.code, "offline");
        assert!(api.retryable);
        assert!(api.message.contains("saved on this device"), "{}", api.message);
    }

    #[test]
    fn a_server_refusal_keeps_the_servers_code() {
        let e: ClientError = SyncError::Server {
            status: 404,
            code: "alert_unknown".into(),
            message: "no such alert".into(),
            retryable: false,
            retry_after: None,
        }
        .into();
        assert_eq!(e.code(), "alert_unknown");
        assert!(!e.retryable());
    }

    #[test]
    fn the_cores_refusals_keep_their_code_and_message_and_damage_names_the_data_directory() {
        let e = ClientError::from_op(OpError::TeamNotReceived, Path::new("/data"));
        assert_eq!((e.code(), e.retryable()), ("team_not_received", true));
        assert_eq!(e.to_string(), OpError::<StoreError>::TeamNotReceived.to_string());

        let e =
            ClientError::from_op(OpError::Damaged { what: "profile", reason: "bad json".into() }, Path::new("/data"));
        assert_eq!(e.code(), "data_damaged");
        assert!(e.to_string().contains("'/data'") && e.to_string().contains("bad json"), "{e}");

        let e: ClientError = DomainError::ShiftEnded.into();
        assert_eq!(e.code(), "not_on_shift");
    }
}
