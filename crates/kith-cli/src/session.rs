//! The local profile and an open store: who "I" am on this device, and the documents I use.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use kith_domain::doc::{shift, team};
use kith_domain::{DeviceId, MemberId, Shift, ShiftId, Team, TeamId, Timestamp};
use kith_store::{Store, StoreError};

use crate::error::CliError;

/// The store file inside the data directory.
pub const DB_FILE: &str = "kith.db";
/// The store's meta key holding the profile as JSON.
pub const PROFILE_KEY: &str = "profile";
/// The store's meta key holding the id of the last shift started on this device: a hint that
/// makes finding the running shift O(1); everything still works (by reading all shifts) without it.
pub const CURRENT_SHIFT_KEY: &str = "current_shift";
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

/// The platform's data directory for Kith (e.g. `~/.local/share/kith`).
pub fn default_data_dir() -> Result<PathBuf, CliError> {
    directories::ProjectDirs::from("", "", "kith").map(|d| d.data_dir().to_path_buf()).ok_or_else(|| {
        CliError::Usage(
            "could not find your home directory to keep Kith's data in: pass --data-dir <DIR> or set KITH_DATA_DIR"
                .to_string(),
        )
    })
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

/// An open store with a profile in it.
#[derive(Debug)]
pub struct Session {
    pub store: Store,
    pub profile: Profile,
    pub dir: PathBuf,
}

/// Reads the profile from an open store, if there is one.
pub fn read_profile(store: &Store) -> Result<Option<Profile>, CliError> {
    let Some(json) = store.meta_get(PROFILE_KEY)? else { return Ok(None) };
    serde_json::from_str(&json).map(Some).map_err(|e| {
        CliError::Data(format!(
            "the Kith profile in '{}' is damaged ({e}). Kith did not change it. Restore the data directory from a \
             backup, or move it away and run kith init again",
            store.path().display()
        ))
    })
}

impl Session {
    /// Opens the store in `dir` and its profile. Never creates anything: without a store file or
    /// a profile in it, says how to make one.
    pub fn open(dir: &Path) -> Result<Self, CliError> {
        let path = db_path(dir);
        if !path.exists() {
            return Err(CliError::NoProfile { dir: dir.to_path_buf() });
        }
        let store = Store::open(&path)?;
        let profile = read_profile(&store)?.ok_or_else(|| CliError::NoProfile { dir: dir.to_path_buf() })?;
        Ok(Session { store, profile, dir: dir.to_path_buf() })
    }

    pub fn me(&self) -> MemberId {
        self.profile.member_id
    }

    /// The profile's team document.
    pub fn team(&mut self) -> Result<Team, CliError> {
        let id = self.profile.team_id.uuid();
        let path = self.store.path().to_path_buf();
        let joined = self.store.meta_get(crate::net::SERVER_KEY)?.is_some();
        let doc = self.store.doc(id).map_err(|e| match e {
            StoreError::UnknownDocument { .. } if joined => CliError::State(
                "this device has not received its team from the server yet: run `kith sync` once you are online"
                    .to_string(),
            ),
            StoreError::UnknownDocument { .. } => CliError::Data(format!(
                "your team's document ({id}) is missing from '{}'. Restore the data directory from a backup, \
                 or move it away and run kith init again",
                path.display()
            )),
            other => other.into(),
        })?;
        Ok(team::read(doc)?)
    }

    /// One shift document.
    pub fn shift(&mut self, id: ShiftId) -> Result<Shift, CliError> {
        Ok(shift::read(self.store.doc(id.uuid())?)?)
    }

    /// Every shift of mine on this device, oldest first. A shift document that cannot be read is
    /// skipped with a warning, so one damaged document never stops a check-in.
    pub fn my_shifts(&mut self, warn: &mut dyn Write) -> Result<Vec<Shift>, CliError> {
        let me = self.me();
        let mut out = Vec::new();
        for info in self.store.list_docs(Some(SHIFT_KIND))? {
            let read = match self.store.doc(info.id) {
                Ok(doc) => shift::read(doc).map_err(|e| e.to_string()),
                Err(e @ StoreError::CorruptDocument { .. }) => Err(e.to_string()),
                Err(e) => return Err(e.into()),
            };
            match read {
                Ok(s) if s.worker == me => out.push(s),
                Ok(_) => {}
                Err(why) => {
                    writeln!(warn, "warning: shift document {} could not be read and is left out: {why}", info.id)?;
                }
            }
        }
        out.sort_by_key(|s| (s.started_at, s.id));
        Ok(out)
    }

    /// My running shift: through the [`CURRENT_SHIFT_KEY`] hint when it points at one (one
    /// document read, however long the history), else by reading all my shifts.
    pub fn find_active(&mut self, warn: &mut dyn Write) -> Result<Option<Shift>, CliError> {
        let me = self.me();
        if let Some(id) = self.store.meta_get(CURRENT_SHIFT_KEY)?.and_then(|h| h.parse::<ShiftId>().ok())
            && let Ok(doc) = self.store.doc(id.uuid())
            && let Ok(s) = shift::read(doc)
            && s.worker == me
            && s.is_active()
        {
            return Ok(Some(s));
        }
        let shifts = self.my_shifts(warn)?;
        Ok(Self::active_shift(&shifts).cloned())
    }

    /// Records `id` as the shift just started here (best effort: it is only a hint).
    pub fn remember_shift(&mut self, id: ShiftId, warn: &mut dyn Write) {
        if let Err(e) = self.store.meta_set(CURRENT_SHIFT_KEY, &id.to_string()) {
            let _ = writeln!(warn, "warning: could not note the current shift (Kith will still find it): {e}");
        }
    }

    /// My shift that is still running (the latest started, if several).
    pub fn active_shift(shifts: &[Shift]) -> Option<&Shift> {
        shifts.iter().rev().find(|s| s.is_active())
    }

    /// Changes on this device that the team server does not have yet (all of them without a server).
    pub fn unsynced_changes(&mut self) -> Result<usize, CliError> {
        let mut n = 0;
        for id in self.store.docs_with_pending_changes()? {
            n += self.store.pending_changes(id)?.len();
        }
        Ok(n)
    }

    /// Lets background compaction finish before the process exits (everything is already durable).
    pub fn finish(self) {
        self.store.wait_for_background_compaction();
    }
}
