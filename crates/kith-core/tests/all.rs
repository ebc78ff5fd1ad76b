//! The integration tests of kith-core that can share a process, in one binary: one link instead of
//! one per file saves CI minutes and gigabytes of disk. Each module is a file of tests/, named for
//! the behaviour it proves. A file that needs a process of its own is a `[[test]]` of its own in
//! Cargo.toml (autotests is off); `every_test_file_is_built` (tests/tests) checks none is left out.

mod common;

mod a_checkin_is_written_without_reading_the_shift_back;
mod a_clock_before_1970_is_refused_clearly_and_changes_nothing;
mod a_device_clock_put_back_is_followed_and_the_server_places_each_checkin_when_it_was_made;
mod a_device_the_restored_server_forgot_rejoins_as_itself;
mod a_refusal_for_now_is_retried_with_backoff;
mod an_edit_is_answered_only_once_its_storage_committed;
mod offline_checkins_reach_the_lead_and_the_reply_comes_back;
mod reminders_fire_once_when_their_time_comes;
