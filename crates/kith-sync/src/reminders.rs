//! Reminder times for the app's local notifications: the core's ([`kith_core::reminders`]) over
//! the native store.

use kith_domain::{MemberId, Timestamp};
use kith_store::Store;

pub use kith_core::reminders::LocalReminder;

use crate::error::SyncError;

/// The reminders of `member`'s active shifts held on this device, earliest first. Reminders
/// whose deadline is already past are kept (the app shows them as due now).
pub fn reminders(store: &mut Store, member: MemberId) -> Result<Vec<LocalReminder>, SyncError> {
    Ok(kith_core::reminders::reminders(store, member)?)
}

/// The next reminder still to come after `now` (device clock), if any.
pub fn next_reminder(store: &mut Store, member: MemberId, now: Timestamp) -> Result<Option<LocalReminder>, SyncError> {
    Ok(kith_core::reminders::next_reminder(store, member, now)?)
}
