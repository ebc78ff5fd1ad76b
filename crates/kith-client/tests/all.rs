//! The integration tests of kith-client that can share a process, in one binary: one link instead of
//! one per file saves CI minutes and gigabytes of disk. Each module is a file of tests/, named for
//! the behaviour it proves. A file that needs a process of its own is a `[[test]]` of its own in
//! Cargo.toml (autotests is off); `every_test_file_is_built` (tests/tests) checks none is left out.

mod common;

mod a_device_a_restored_server_forgot_rejoins_as_itself;
mod a_device_the_server_no_longer_knows_is_not_shown_online;
mod a_lead_runs_the_team_from_the_app;
mod a_lead_sees_checkins_and_replies_reach_the_worker;
mod a_store_copied_without_its_credential_asks_to_join_again;
mod alerts_are_claimed_and_resolved_from_the_app;
mod an_emergency_made_while_the_servers_disk_is_full_reaches_a_lead_once_it_recovers;
mod joining_brings_the_team_and_keeps_syncing;
mod offline_checkin_is_queued_then_shared;
mod refusals_carry_a_code_and_say_what_to_do;
mod settings_health_and_export_stay_on_the_device;
mod the_board_falls_back_to_this_devices_documents;
mod waves_reach_a_teammate_live;
