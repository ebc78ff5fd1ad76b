//! Who "I" am on this device, and where my team server is: small records kept as JSON in the
//! store's meta table, next to the documents, so one file holds everything and a backup of it is
//! complete. Shared by the app and the `kith` command line.

use std::path::{Path, PathBuf};

use kith_api::Settings;
use kith_domain::{DeviceId, MemberId, TeamId, Timestamp};
use kith_store::Store;
use kith_sync::ServerClient;
use serde::{Deserialize, Serialize};

use crate::error::ClientError;

/// The store file inside the data directory.
pub const DB_FILE: &str = "kith.db";
/// The store's meta key holding the profile as JSON.
pub const PROFILE_KEY: &str = "profile";
/// The store's meta key holding the id of the last shift started on this device: a hint that
/// makes finding the running shift O(1); everything still works (by reading all shifts) without it.
pub const CURRENT_SHIFT_KEY: &str = "current_shift";
/// The store's meta key holding this device's link to its team server (JSON). The token in it is
/// this device's own credential; it never leaves the device except to that server.
pub const SERVER_KEY: &str = "server";
/// The store's meta key holding the app's settings (JSON, [`kith_api::Settings`]).
pub const SETTINGS_KEY: &str = "settings";
/// Document kinds in the store.
pub const SHIFT_KIND: &str = "shift";
pub const TEAM_KIND: &str = "team";

/// This device's profile: one person, one device, one team (for now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Format version of this record.
    pub version: u32,
    pub member_id: MemberId,
    pub device_id: DeviceId,
    pub team_id: TeamId,
    pub name: String,
    pub created_at: Timestamp,
}

/// This device's team server and credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLink {
    pub url: String,
    pub token: String,
    /// The role the server gave this member when joining ("member" or "lead").
    pub role: String,
}

// The token is a credential: never in logs or debug output.
impl std::fmt::Debug for ServerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLink").field("url", &self.url).field("role", &self.role).finish_non_exhaustive()
    }
}

impl ServerLink {
    /// An HTTP client for this server with this device's credential.
    pub fn client(&self) -> Result<ServerClient, ClientError> {
        Ok(ServerClient::new(&self.url, Some(self.token.clone()))?)
    }

    pub fn is_lead(&self) -> bool {
        matches!(self.role.as_str(), "lead" | "admin")
    }
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

fn damaged(store: &Store, what: &'static str, e: &serde_json::Error) -> ClientError {
    ClientError::Damaged { what, path: store.path().to_path_buf(), reason: e.to_string() }
}

/// The profile in an open store, if there is one.
pub fn read_profile(store: &Store) -> Result<Option<Profile>, ClientError> {
    let Some(json) = store.meta_get(PROFILE_KEY)? else { return Ok(None) };
    serde_json::from_str(&json).map(Some).map_err(|e| damaged(store, "profile", &e))
}

/// The server link, if this device has joined a team server.
pub fn read_link(store: &Store) -> Result<Option<ServerLink>, ClientError> {
    let Some(json) = store.meta_get(SERVER_KEY)? else { return Ok(None) };
    serde_json::from_str(&json).map(Some).map_err(|e| damaged(store, "server link", &e))
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
/// would look like a profile for offline use).
pub fn write_profile(store: &mut Store, profile: &Profile, link: Option<&ServerLink>) -> Result<(), ClientError> {
    if let Some(link) = link {
        store.meta_set(SERVER_KEY, &to_json("server link", link)?)?;
    }
    store.meta_set(PROFILE_KEY, &to_json("profile", profile)?)?;
    Ok(())
}
