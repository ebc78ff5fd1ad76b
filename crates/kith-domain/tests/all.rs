//! The integration tests of kith-domain that can share a process, in one binary: one link instead of
//! one per file saves CI minutes and gigabytes of disk. Each module is a file of tests/, named for
//! the behaviour it proves. A file that needs a process of its own is a `[[test]]` of its own in
//! Cargo.toml (autotests is off); `every_test_file_is_built` (tests/tests) checks none is left out.

mod common;

mod a_shifts_summary_decides_as_the_whole_shift;
mod alerts_climb_the_chain_on_the_server_clock;
mod connection_health_figures;
mod due_overdue_and_board_order;
mod every_checkin_survives_any_merge_order;
mod forged_changes_are_refused;
mod fuzzer_findings_are_refused_cleanly;
mod malformed_documents_are_refused;
mod offline_checkins_merge;
mod who_needs_a_human_comes_first;
