//! The integration tests of kith-sync that can share a process, in one binary: one link instead of
//! one per file saves CI minutes and gigabytes of disk. Each module is a file of tests/, named for
//! the behaviour it proves. A file that needs a process of its own is a `[[test]]` of its own in
//! Cargo.toml (autotests is off); `every_test_file_is_built` (tests/tests) checks none is left out.

mod a_refusal_for_now_is_retried_and_only_a_refusal_for_good_is_parked;
mod a_server_time_out_of_range_never_panics;
mod an_answer_is_absorbed_whole_or_not_at_all;
mod reminders_come_from_local_documents;
mod requests_are_as_small_as_they_can_be;
