//! Where this device's credential (the bearer token the server gave it when joining) is kept:
//! never in the store file, which backups and copies carry around, but in the operating system's
//! keychain where there is one (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows; the `keyring` crate), else in a file only the user can read (`credential`, mode 0600,
//! next to the store, written atomically). The store's link records which of the two holds it.
//!
//! A keychain that cannot be reached (no Secret Service, as on a server or in CI; a phone) is not
//! an error: the file is used. `KITH_CREDENTIAL_STORE=file` skips the keychain altogether.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ClientError;

/// The file that holds the credential when no keychain is used, in the data directory.
pub const FILE: &str = "credential";
/// The keychain service name of Kith's entries (the account is the device id).
pub const SERVICE: &str = "kith";
/// Environment variable: `file` keeps the credential in the file only, never in a keychain.
pub const STORE_ENV: &str = "KITH_CREDENTIAL_STORE";

/// Where a credential may be kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    /// The keychain when it can be reached, else the file.
    #[default]
    KeychainElseFile,
    /// The file only (`KITH_CREDENTIAL_STORE=file`).
    FileOnly,
}

impl Keep {
    /// From [`STORE_ENV`]; anything but `file` means the keychain when reachable.
    pub fn from_env() -> Keep {
        match std::env::var(STORE_ENV) {
            Ok(v) if v.trim().eq_ignore_ascii_case("file") => Keep::FileOnly,
            _ => Keep::KeychainElseFile,
        }
    }
}

/// Where a credential is, as recorded in the store's link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kept {
    Keychain,
    File,
}

/// The credential file of data directory `dir`.
pub fn file_path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn keychain(account: &str) -> Result<keyring::Entry, keyring::Error> {
    keyring::Entry::new(SERVICE, account)
}

/// Saves `token` for `account` (the device id): in the keychain if `keep` allows and it works
/// (read back to be sure), else in the file. Returns where it went.
pub fn save(dir: &Path, account: &str, token: &str, keep: Keep) -> Result<Kept, ClientError> {
    if keep == Keep::KeychainElseFile {
        let stored = keychain(account).and_then(|e| {
            e.set_password(token)?;
            e.get_password()
        });
        match stored {
            Ok(back) if back == token => {
                // A file left from an earlier join of this directory must not linger.
                let _ = std::fs::remove_file(file_path(dir));
                return Ok(Kept::Keychain);
            }
            Ok(_) => tracing::warn!("the keychain did not keep this device's credential; keeping it in a file"),
            Err(e) => tracing::info!("no keychain available ({e}); keeping this device's credential in a file"),
        }
    }
    write_file(dir, token)?;
    Ok(Kept::File)
}

/// Reads the credential of `account` from where the link says it is. `Ok(None)` when it is not
/// there (a store copied from another device, a keychain entry removed, a file deleted).
pub fn load(dir: &Path, account: &str, kept: Kept) -> Result<Option<String>, ClientError> {
    match kept {
        Kept::Keychain => match keychain(account).and_then(|e| e.get_password()) {
            Ok(t) => Ok(Some(t)),
            Err(keyring::Error::NoEntry) => Ok(None),
            // No keychain on this computer at all (e.g. the directory was copied here).
            Err(keyring::Error::NoDefaultStore | keyring::Error::NoStorageAccess(_)) => Ok(None),
            Err(e) => Err(ClientError::CredentialUnreadable(format!(
                "this device's credential could not be read from the system keychain ({e}). Unlock the keychain \
                 (or log in to the desktop session) and try again"
            ))),
        },
        Kept::File => match std::fs::read_to_string(file_path(dir)) {
            Ok(t) if !t.trim().is_empty() => Ok(Some(t.trim().to_string())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::CredentialUnreadable(format!(
                "this device's credential file {} could not be read ({e}). Check its permissions: it must belong to \
                 you",
                file_path(dir).display()
            ))),
        },
    }
}

/// Writes the credential file atomically (a temporary file in the same directory, created
/// readable by its owner only, synced, then renamed over the old one), so a crash leaves the old
/// credential or the new one, never a part, and no other user can ever read it.
fn write_file(dir: &Path, token: &str) -> Result<(), ClientError> {
    let failed = |e: std::io::Error| {
        ClientError::Internal(format!(
            "could not save this device's credential in {}: {e}. Check the data directory's permissions and free space",
            dir.display()
        ))
    };
    // tempfile creates the file with mode 0600 on Unix.
    let mut tmp = tempfile::Builder::new().prefix(".credential").tempfile_in(dir).map_err(failed)?;
    tmp.write_all(token.as_bytes()).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(file_path(dir)).map_err(|e| failed(e.error))?;
    // The rename is durable once the directory is synced (best effort where that is not possible).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_readable_by_its_owner_only_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(save(dir.path(), "dev", "first", Keep::FileOnly).unwrap(), Kept::File);
        assert_eq!(save(dir.path(), "dev", "second", Keep::FileOnly).unwrap(), Kept::File);
        assert_eq!(load(dir.path(), "dev", Kept::File).unwrap().as_deref(), Some("second"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from(FILE)], "no temporary file left behind");
    }

    #[test]
    fn a_missing_file_is_no_credential() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "dev", Kept::File).unwrap(), None);
    }
}
