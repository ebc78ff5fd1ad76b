//! The integration tests of kith-stories that can share a process, in one binary: one link instead of
//! one per file saves CI minutes and gigabytes of disk. Each module is a file of tests/, named for
//! the behaviour it proves. A file that needs a process of its own is a `[[test]]` of its own in
//! Cargo.toml (autotests is off); `every_test_file_is_built` (tests/tests) checks none is left out.

mod a_new_device_ends_with_the_servers_documents_heads_and_receipts;
mod a_week_offline_catches_up_in_one_round_trip;
mod an_emergency_survives_a_cut_connection;
mod background_sync_follows_changes_and_pokes;
mod every_client_of_the_server_lets_idle_connections_go_first;
mod every_fuzz_seed_replays_without_a_panic;
mod every_test_file_is_built;
mod faults_lose_nothing_and_duplicate_nothing;
mod offline_checkins_and_acks_meet_in_any_sync_order;
mod server_restored_from_backup_is_healed_by_clients;
