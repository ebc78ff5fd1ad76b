//! The integration tests of kith-cli that can share a process, in one binary: one link instead of
//! one per file saves CI minutes and gigabytes of disk. Each module is a file of tests/, named for
//! the behaviour it proves. A file that needs a process of its own is a `[[test]]` of its own in
//! Cargo.toml (autotests is off); `every_test_file_is_built` (tests/tests) checks none is left out.

mod common;
mod with_server;

mod a_lead_runs_the_team_with_kith;
mod a_teammates_escape_sequences_are_shown_not_obeyed;
mod alerts_are_claimed_and_resolved_from_the_command_line;
mod an_emergency_refused_while_the_servers_disk_is_full_goes_out_at_the_next_sync;
mod bad_input_is_refused_plainly;
mod changes_from_others_show_up;
mod checkins_reach_the_lead_and_replies_come_back;
mod json_output_has_stable_fields;
mod missing_or_damaged_data_is_reported;
mod offline_checkins_are_queued_and_sync_later;
mod offline_shift_lifecycle;
mod plain_http_is_refused_except_to_this_computer;
mod refusals_say_what_to_do;
mod shift_defaults_and_help_never_refused;
mod team_board_offline_shows_last_synced;
mod the_device_credential_never_sits_in_the_store_file;
