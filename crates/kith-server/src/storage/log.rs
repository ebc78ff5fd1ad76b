//! The change log in process, shared by both backends: what this process knows is stored, and
//! who follows it.
//!
//! A cache of the database, never its truth: the window of recent changes ([`Recent`]) answers
//! the feed and the followers while it can, and the database answers the rest. It is told about
//! stored changes from two places, each giving a *complete range* (every change with a seq in
//! `(after, upto]`):
//! - the backend's writer, after each of its commits (its own changes, preceded by whatever other
//!   processes stored since the window's greatest seq, read in the same transaction);
//! - on PostgreSQL, the listener of other processes' commits (LISTEN/NOTIFY), reading the new
//!   range from the database (storage/postgres). On SQLite, other processes' commits join at the
//!   writer's next transaction.
//!
//! Each time the window grows, [`ChangeLog::committed`] moves, which wakes the followers (the
//! deadline engine, the live channel): they read [`ChangeLog::since`] (the window, else the
//! database) from their own cursor.

use std::sync::{Mutex, RwLock};

use tokio::sync::{mpsc, watch};

use super::recent::{Recent, RecentChange};
use super::{Committed, StoredRef};

/// Notes waiting for the deadline engine at most; past that they are dropped (it then reads the
/// documents): a stalled engine never makes the writer wait or memory grow.
const NOTES_QUEUE: usize = 16_384;

/// See the module documentation.
#[derive(Debug)]
pub struct ChangeLog {
    recent: RwLock<Recent>,
    /// The greatest seq the window holds (dropped on close, which ends the followers).
    committed: Mutex<Option<watch::Sender<u64>>>,
    notes: Mutex<Option<mpsc::Sender<Committed>>>,
    notes_rx: Mutex<Option<mpsc::Receiver<Committed>>>,
    /// The server's own actor: its changes are told apart from pushed ones.
    pub server_actor: Vec<u8>,
}

impl ChangeLog {
    /// A log whose window starts after `last`, the greatest stored change (none: no changes).
    pub fn new(last: Option<(u64, Vec<u8>)>, server_actor: Vec<u8>) -> ChangeLog {
        let (committed, _) = watch::channel(last.as_ref().map_or(0, |l| l.0));
        let (notes_tx, notes_rx) = mpsc::channel(NOTES_QUEUE);
        ChangeLog {
            recent: RwLock::new(Recent::after(last)),
            committed: Mutex::new(Some(committed)),
            notes: Mutex::new(Some(notes_tx)),
            notes_rx: Mutex::new(Some(notes_rx)),
            server_actor,
        }
    }

    /// The window, to read.
    pub fn recent(&self) -> std::sync::RwLockReadGuard<'_, Recent> {
        self.recent.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bounds the window to `bytes` ([`Recent::set_max_bytes`]).
    pub fn set_window_bytes(&self, bytes: usize) {
        self.recent_mut().set_max_bytes(bytes);
    }

    fn recent_mut(&self) -> std::sync::RwLockWriteGuard<'_, Recent> {
        self.recent.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The greatest seq the window holds every change up to.
    pub fn upto(&self) -> u64 {
        self.recent().upto()
    }

    /// Notes that a reader saw `db_max` in the database (see [`Recent::saw`]).
    pub fn saw(&self, db_max: u64) {
        self.recent_mut().saw(db_max);
    }

    /// Takes in a complete range of stored changes (every change with a seq in `(after, ...]`),
    /// then hands over the notes of this process's commit, then moves [`ChangeLog::committed`]:
    /// in that order, so a follower woken finds everything in the window. `base` is the change
    /// with seq `after` (its seq and hash), should the window have to start over there: a range
    /// that starts above the window's greatest seq (one too long to read whole was skipped).
    pub fn publish(&self, after: u64, changes: Vec<RecentChange>, notes: Vec<Committed>, base: Option<(u64, Vec<u8>)>) {
        let upto = {
            let mut recent = self.recent_mut();
            if after > recent.upto() {
                match base {
                    Some((seq, hash)) if seq == after => {
                        tracing::info!(
                            from = recent.upto(),
                            to = seq,
                            "many changes stored elsewhere: the window starts over"
                        );
                        let max = recent.max_bytes();
                        *recent = Recent::after(Some((seq, hash)));
                        recent.set_max_bytes(max);
                    }
                    _ => tracing::warn!(after, "a range of stored changes that does not join the window: left out"),
                }
            }
            recent.extend_range(after, changes);
            recent.upto()
        };
        if let Some(tx) = lock(&self.notes).as_ref() {
            for n in notes {
                if tx.try_send(n).is_err() {
                    tracing::debug!("the deadline engine's note queue is full: it reads the document instead");
                }
            }
        }
        if let Some(tx) = lock(&self.committed).as_ref() {
            tx.send_if_modified(|v| {
                let moved = upto > *v;
                *v = (*v).max(upto);
                moved
            });
        }
    }

    /// [`super::Storage::committed`].
    pub fn committed(&self) -> watch::Receiver<u64> {
        match lock(&self.committed).as_ref() {
            Some(tx) => tx.subscribe(),
            // Closed: a receiver whose sender is gone, so a follower ends at once.
            None => watch::channel(0).1,
        }
    }

    /// The stored changes after `after` from the window, if it holds them all.
    pub fn since(&self, after: u64, limit: usize) -> Option<Vec<StoredRef>> {
        self.recent().since(after, limit)
    }

    /// [`super::Storage::take_notes`].
    pub fn take_notes(&self) -> Option<mpsc::Receiver<Committed>> {
        lock(&self.notes_rx).take()
    }

    /// Ends the followers (the storage is closing).
    pub fn close(&self) {
        lock(&self.committed).take();
        lock(&self.notes).take();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use kith_domain::TeamId;
    use kith_proto::Kind;

    use super::*;

    fn change(seq: u64, team: TeamId) -> RecentChange {
        RecentChange {
            seq,
            doc: team.uuid(),
            team,
            kind: Kind::Team,
            owner: None,
            hash: seq.to_be_bytes().to_vec(),
            created: false,
            device: None,
            by_server: false,
        }
    }

    #[test]
    fn followers_are_woken_once_the_window_holds_the_range() {
        let team = TeamId::new();
        let log = ChangeLog::new(Some((3, vec![3])), vec![]);
        let mut rx = log.committed();
        assert_eq!(*rx.borrow_and_update(), 3);
        // Another process's range, then this process's commit after it.
        log.publish(3, vec![change(4, team), change(5, team)], vec![], None);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 5);
        assert_eq!(log.since(3, 10).unwrap().len(), 2);
        // A range read before the commit above arrives late: only what is new is taken.
        log.publish(3, vec![change(4, team), change(5, team), change(6, team)], vec![], None);
        assert_eq!(log.since(3, 10).unwrap().iter().map(|c| c.seq).collect::<Vec<_>>(), vec![4, 5, 6]);
        // A range with a hole before it: the window starts over after the greatest stored change.
        log.publish(9, vec![change(10, team)], vec![], Some((9, vec![9])));
        assert_eq!(*rx.borrow_and_update(), 10);
        assert!(log.since(6, 10).is_none(), "the database answers for what the window no longer holds");
        assert_eq!(log.since(9, 10).unwrap().len(), 1);
        log.close();
        assert!(rx.has_changed().is_err(), "closing ends the followers");
    }
}
