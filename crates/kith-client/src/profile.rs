//! Who "I" am on this device, and where my team server is: small records kept as JSON in the
//! store's meta table, next to the documents, so one file holds everything and a backup of it is
//! complete. Shared by the app and the `kith` command line.

use std::path::{Path, PathBuf};

use kith_api::Settings;
use kith_store::Store;
use kith_sync::ServerClient;
use serde::{Deserialize, Serialize};

use crate::credential::{self, Keep, Kept};
use crate::error::ClientError;

/// The store file inside the data directory.
pub const DB_FILE: &str = "kith.db";

// The records and their keys are the core's, shared with the browser. `SERVER_KEY` holds this
// device's link (JSON: address, role and where the credential is kept); the credential itself is
// never in the store ([`crate::credential`]); stores written before that held it here and are
// migrated on open ([`secure_credential`]).
pub use kith_core::profile::{
    CURRENT_SHIFT_KEY, PROFILE_KEY, Profile, SERVER_KEY, SETTINGS_KEY, SHIFT_KIND, TEAM_KIND,
};

/// This device's team server and credential.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerLink {
    pub url: String,
    /// The role the server gave this member when joining ("member" or "lead").
    pub role: String,
    /// This device's credential, or why it cannot be had.
    token: Result<String, NoToken>,
}

/// Why a link has no credential.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NoToken {
    /// Not on this computer (a copied store, a removed keychain entry or file).
    Missing(String),
    /// There, but unreadable now (a locked keychain, a file's permissions): says what to do.
    Unreadable(String),
}

// The token is a credential: never in logs or debug output.
impl std::fmt::Debug for ServerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLink")
            .field("url", &self.url)
            .field("role", &self.role)
            .field("credential", &self.token.is_ok())
            .finish()
    }
}

impl ServerLink {
    pub fn new(url: impl Into<String>, role: impl Into<String>, token: impl Into<String>) -> ServerLink {
        ServerLink { url: url.into(), role: role.into(), token: Ok(token.into()) }
    }

    /// An HTTP client for this server with this device's credential; refused, saying that the
    /// device must join again, when the credential is not on this computer.
    pub fn client(&self) -> Result<ServerClient, ClientError> {
        match &self.token {
            Ok(t) => Ok(ServerClient::new(&self.url, Some(t.clone()))?),
            Err(NoToken::Missing(why)) => {
                Err(ClientError::CredentialMissing { server: self.url.clone(), why: why.clone() })
            }
            Err(NoToken::Unreadable(what)) => Err(ClientError::CredentialUnreadable(what.clone())),
        }
    }

    /// This device's credential, when it is on this computer.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().ok()
    }

    /// Whether this device's credential is on this computer.
    pub fn has_credential(&self) -> bool {
        self.token.is_ok()
    }

    pub fn is_lead(&self) -> bool {
        self.info().is_lead()
    }

    /// Address and role, as the core's decisions need them.
    pub fn info(&self) -> kith_core::Link {
        kith_core::Link { url: self.url.clone(), role: self.role.clone() }
    }
}

/// The link as stored in the meta row: where the credential is, never the credential (a `token`
/// is only read, from stores written before credentials moved out).
#[derive(Debug, Serialize, Deserialize)]
struct StoredLink {
    url: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential: Option<Kept>,
    /// The keychain account (the device id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(default, skip_serializing)]
    token: Option<String>,
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

fn damaged(store: &Store, what: &'static str, e: &serde_json::Error) -> ClientError {
    ClientError::from_op(kith_core::OpError::Damaged { what, reason: e.to_string() }, store.path())
}

/// The profile in an open store, if there is one.
pub fn read_profile(store: &Store) -> Result<Option<Profile>, ClientError> {
    let Some(json) = store.meta_get(PROFILE_KEY)? else { return Ok(None) };
    serde_json::from_str(&json).map(Some).map_err(|e| damaged(store, "profile", &e))
}

fn stored_link(store: &Store) -> Result<Option<StoredLink>, ClientError> {
    let Some(json) = store.meta_get(SERVER_KEY)? else { return Ok(None) };
    serde_json::from_str(&json).map(Some).map_err(|e| damaged(store, "server link", &e))
}

fn data_dir(store: &Store) -> PathBuf {
    store.path().parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The server link, if this device has joined a team server, with its credential from the
/// keychain or the credential file (a link whose credential is not on this computer is returned
/// without one: its [`ServerLink::client`] says the device must join again).
pub fn read_link(store: &Store) -> Result<Option<ServerLink>, ClientError> {
    let Some(l) = stored_link(store)? else { return Ok(None) };
    let token = match (l.token, l.credential, l.account) {
        // Not migrated yet (a read-only directory, or a failed move): still usable.
        (Some(t), _, _) => Ok(t),
        (None, Some(kept), Some(account)) => match credential::load(&data_dir(store), &account, kept) {
            Ok(Some(t)) => Ok(t),
            // The device's data still opens; syncing says what to do.
            Err(e) => Err(NoToken::Unreadable(e.to_string())),
            Ok(None) => Err(NoToken::Missing(match kept {
                Kept::Keychain => "it is not in this computer's keychain".to_string(),
                Kept::File => {
                    format!("there is no credential file {}", credential::file_path(&data_dir(store)).display())
                }
            })),
        },
        (None, _, _) => Err(NoToken::Missing("the server link names no credential".to_string())),
    };
    Ok(Some(ServerLink { url: l.url, role: l.role, token }))
}

/// Moves a credential kept in the store by an older Kith into the keychain or the credential
/// file, and erases it from the store file (its old bytes zeroed, the write-ahead log folded in).
/// Returns whether it moved one. Nothing changes if the credential cannot be saved elsewhere.
pub fn secure_credential(store: &mut Store, keep: Keep) -> Result<bool, ClientError> {
    let Some(l) = stored_link(store)? else { return Ok(false) };
    let Some(token) = l.token else { return Ok(false) };
    let account = match read_profile(store)? {
        Some(p) => p.device_id.to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let kept = credential::save(&data_dir(store), &account, &token, keep)?;
    let moved = StoredLink { url: l.url, role: l.role, credential: Some(kept), account: Some(account), token: None };
    store.meta_set_erasing(SERVER_KEY, &to_json("server link", &moved)?)?;
    tracing::info!(?kept, "moved this device's credential out of the store");
    Ok(true)
}

/// The app's settings (defaults until saved once).
pub fn read_settings(store: &Store) -> Result<Settings, ClientError> {
    let Some(json) = store.meta_get(SETTINGS_KEY)? else { return Ok(Settings::default()) };
    serde_json::from_str(&json).map_err(|e| damaged(store, "settings", &e))
}

fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String, ClientError> {
    serde_json::to_string(v).map_err(|e| ClientError::Internal(format!("could not save the {what}: {e}")))
}

/// Saves the settings; durable when this returns.
pub fn write_settings(store: &mut Store, s: &Settings) -> Result<(), ClientError> {
    store.meta_set(SETTINGS_KEY, &to_json("settings", s)?)?;
    Ok(())
}

/// Saves a new profile (and, when joining a server, its link first: a profile without its link
/// would look like a profile for offline use). The link's credential goes to the keychain or the
/// credential file ([`crate::credential`]), never into the store.
pub fn write_profile(
    store: &mut Store,
    profile: &Profile,
    link: Option<&ServerLink>,
    keep: Keep,
) -> Result<(), ClientError> {
    if let Some(link) = link {
        let Some(token) = link.token() else {
            return Err(link
                .client()
                .err()
                .unwrap_or_else(|| ClientError::Internal("a link without its credential".into())));
        };
        let account = profile.device_id.to_string();
        let kept = credential::save(&data_dir(store), &account, token, keep)?;
        let stored = StoredLink {
            url: link.url.clone(),
            role: link.role.clone(),
            credential: Some(kept),
            account: Some(account),
            token: None,
        };
        store.meta_set(SERVER_KEY, &to_json("server link", &stored)?)?;
    }
    store.meta_set(PROFILE_KEY, &to_json("profile", profile)?)?;
    Ok(())
}
