//! The integration tests of kith-store that can share a process, in one binary: one link instead of
//! one per file saves CI minutes and gigabytes of disk. Each module is a file of tests/, named for
//! the behaviour it proves. A file that needs a process of its own is a `[[test]]` of its own in
//! Cargo.toml (autotests is off); `every_test_file_is_built` (tests/tests) checks none is left out.

mod common;

mod a_batch_of_writes_commits_once_or_keeps_nothing;
mod compaction_is_safe_during_concurrent_appends;
mod compaction_keeps_every_change;
mod concurrent_processes_share_a_store;
mod documents_round_trip_and_reopen;
mod foreign_or_corrupt_file_is_refused;
mod remote_changes_are_validated;
mod sync_bookkeeping_tracks_pending_changes;
mod unknown_document_is_a_clear_error;
