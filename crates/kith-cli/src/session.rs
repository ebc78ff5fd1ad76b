//! The local profile and an open store: who "I" am on this device, and the documents I use. The
//! records and the store-only operations are kith-client's (shared with the app); this adds the
//! command line's way of opening a data directory and of printing warnings.

use std::io::Write;
use std::path::{Path, PathBuf};

use kith_client::local;
use kith_domain::{MemberId, Shift, ShiftId, Team};
use kith_store::Store;

use crate::error::CliError;

pub use kith_client::profile::{CURRENT_SHIFT_KEY, DB_FILE, PROFILE_KEY, Profile, SHIFT_KIND, TEAM_KIND, db_path};

/// The platform's data directory for Kith (e.g. `~/.local/share/kith`).
pub fn default_data_dir() -> Result<PathBuf, CliError> {
    directories::ProjectDirs::from("", "", "kith").map(|d| d.data_dir().to_path_buf()).ok_or_else(|| {
        CliError::Usage(
            "could not find your home directory to keep Kith's data in: pass --data-dir <DIR> or set KITH_DATA_DIR"
                .to_string(),
        )
    })
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
    Ok(kith_client::profile::read_profile(store)?)
}

/// A warning sink for kith-client's operations: `warning: ...` lines on `err`.
pub fn warn_to(err: &mut dyn Write) -> impl FnMut(String) + '_ {
    move |m| {
        let _ = writeln!(err, "warning: {}", crate::view::terminal_safe(&m));
    }
}

impl Session {
    /// Opens the store in `dir` and its profile. Never creates anything: without a store file or
    /// a profile in it, says how to make one.
    pub fn open(dir: &Path) -> Result<Self, CliError> {
        let path = db_path(dir);
        if !path.exists() {
            return Err(CliError::NoProfile { dir: dir.to_path_buf() });
        }
        let mut store = Store::open(&path)?;
        let profile = read_profile(&store)?.ok_or_else(|| CliError::NoProfile { dir: dir.to_path_buf() })?;
        // A store written by an older Kith holds this device's credential: move it out (to the
        // keychain or the credential file) and erase it from the store file.
        if let Err(e) = kith_client::profile::secure_credential(&mut store, kith_client::credential::Keep::from_env()) {
            return Err(CliError::from(e));
        }
        Ok(Session { store, profile, dir: dir.to_path_buf() })
    }

    pub fn me(&self) -> MemberId {
        self.profile.member_id
    }

    /// The profile's team document.
    pub fn team(&mut self) -> Result<Team, CliError> {
        Ok(local::team(&mut self.store, &self.profile)?)
    }

    /// One shift document.
    pub fn shift(&mut self, id: ShiftId) -> Result<Shift, CliError> {
        Ok(local::shift(&mut self.store, id)?)
    }

    /// Every shift of mine on this device, oldest first. A shift document that cannot be read is
    /// skipped with a warning, so one damaged document never stops a check-in.
    pub fn my_shifts(&mut self, warn: &mut dyn Write) -> Result<Vec<Shift>, CliError> {
        Ok(local::my_shifts(&mut self.store, self.profile.member_id, &mut warn_to(warn))?)
    }

    /// My running shift (see [`local::find_active`]).
    pub fn find_active(&mut self, warn: &mut dyn Write) -> Result<Option<Shift>, CliError> {
        Ok(local::find_active(&mut self.store, self.profile.member_id, &mut warn_to(warn))?)
    }

    /// Records `id` as the shift just started here (best effort: it is only a hint).
    pub fn remember_shift(&mut self, id: ShiftId, warn: &mut dyn Write) {
        local::remember_shift(&mut self.store, id, &mut warn_to(warn));
    }

    /// My shift that is still running (the latest started, if several).
    pub fn active_shift(shifts: &[Shift]) -> Option<&Shift> {
        local::active_shift(shifts)
    }

    /// Changes on this device that the team server does not have yet (all of them without a server).
    pub fn unsynced_changes(&mut self) -> Result<usize, CliError> {
        Ok(local::pending_changes(&mut self.store)?)
    }

    /// Lets background compaction finish before the process exits (everything is already durable).
    pub fn finish(self) {
        self.store.wait_for_background_compaction();
    }
}
