//! Who "I" am on this device: small records kept as JSON next to the documents (the profile, the
//! app's settings, a hint to the running shift), read and written the same way by every driver.
//! Where the device's credential lives is the driver's business (the OS keychain natively, this
//! site's storage in the browser), never a document's.

use kith_api::Settings;
use kith_domain::{DeviceId, MemberId, TeamId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::OpError;
use crate::repo::Repo;

/// The meta key holding the profile as JSON.
pub const PROFILE_KEY: &str = "profile";
/// The meta key holding the id of the last shift started on this device: a hint that makes
/// finding the running shift O(1); everything still works (by reading all shifts) without it.
pub const CURRENT_SHIFT_KEY: &str = "current_shift";
/// The meta key holding this device's link to its team server (JSON: address and role; natively
/// also where the credential is kept).
pub const SERVER_KEY: &str = "server";
/// The meta key holding the app's settings (JSON, [`kith_api::Settings`]).
pub const SETTINGS_KEY: &str = "settings";
/// Document kinds.
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

/// Where this device's team server is and the role it gave (the credential is not here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub url: String,
    /// "member", "lead" or "admin", as given when joining.
    pub role: String,
}

impl Link {
    pub fn is_lead(&self) -> bool {
        matches!(self.role.as_str(), "lead" | "admin")
    }
}

fn damaged<E>(what: &'static str, e: &serde_json::Error) -> OpError<E> {
    OpError::Damaged { what, reason: e.to_string() }
}

/// The profile, if this device has one.
pub fn read_profile<R: Repo>(repo: &R) -> Result<Option<Profile>, OpError<R::Error>> {
    let Some(json) = repo.meta_get(PROFILE_KEY)? else { return Ok(None) };
    serde_json::from_str(&json).map(Some).map_err(|e| damaged("profile", &e))
}

/// Saves the profile.
pub fn write_profile<R: Repo>(repo: &mut R, profile: &Profile) -> Result<(), OpError<R::Error>> {
    repo.meta_set(PROFILE_KEY, &to_json("profile", profile)?)?;
    Ok(())
}

/// The app's settings (defaults until saved once).
pub fn read_settings<R: Repo>(repo: &R) -> Result<Settings, OpError<R::Error>> {
    let Some(json) = repo.meta_get(SETTINGS_KEY)? else { return Ok(Settings::default()) };
    serde_json::from_str(&json).map_err(|e| damaged("settings", &e))
}

/// Saves the settings.
pub fn write_settings<R: Repo>(repo: &mut R, s: &Settings) -> Result<(), OpError<R::Error>> {
    repo.meta_set(SETTINGS_KEY, &to_json("settings", s)?)?;
    Ok(())
}

/// Whether this device has joined a team server (rather than keeping its shifts for itself).
pub fn joined_a_server<R: Repo>(repo: &R) -> Result<bool, R::Error> {
    Ok(repo.meta_get(SERVER_KEY)?.is_some())
}

pub(crate) fn to_json<T: Serialize, E>(what: &'static str, v: &T) -> Result<String, OpError<E>> {
    serde_json::to_string(v).map_err(|e| OpError::Invalid(format!("could not save the {what}: {e}")))
}
