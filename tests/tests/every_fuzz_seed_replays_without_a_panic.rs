//! Replays every fuzz target's inputs on the normal build: each file of `fuzz/seeds/<target>/`
//! (and of `fuzz/corpus/<target>/`, a long run's corpus, when there is one) goes through the very
//! function the cargo-fuzz target calls (`fuzz/src/lib.rs`, included here as it is). This is CI's
//! fuzzing step: building libFuzzer's instrumented binaries from cold took about 7 minutes on the
//! 2-core machine, while replaying the seeds (every input that ever crashed a target among them)
//! takes about a second. Coverage-guided runs are by hand (docs/reliability.md, "Fuzzing").
#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

/// A fuzz target's function: it must not panic, whatever the bytes.
type Target = fn(&[u8]);

/// Every target of `fuzz/Cargo.toml`, by name, with its function.
const TARGETS: &[(&str, Target)] = &[
    ("sync_message", targets::sync_message),
    ("push_request", targets::push_request),
    ("push_change", targets::push_change),
    ("live_events", targets::live_events),
    ("join_link", targets::join_link),
    ("store_open", targets::store_open),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The input files of one target, sorted: its seeds, then a kept corpus if any.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["seeds", "corpus"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) else { continue };
        let mut these: Vec<PathBuf> =
            entries.map(|e| e.expect("a directory entry").path()).filter(|p| p.is_file()).collect();
        these.sort();
        files.extend(these);
    }
    files
}

/// Runs `f` on each file; returns the files it panicked on, with the panic's message.
fn replay(f: Target, files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).expect("read an input");
        if let Err(panic) = std::panic::catch_unwind(|| f(&data)) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", file.display()));
        }
    }
    failures
}

#[test]
fn every_seed_of_every_target_is_decoded_or_refused_without_a_panic() {
    let mut failures = Vec::new();
    for (name, f) in TARGETS {
        let files = inputs(name);
        assert!(!files.is_empty(), "fuzz/seeds/{name}/ has no seed");
        failures.extend(replay(*f, &files));
        eprintln!("{name}: {} inputs replayed", files.len());
    }
    assert!(
        failures.is_empty(),
        "these inputs made a fuzz target panic (replay one with `cargo run --manifest-path fuzz/Cargo.toml --example replay -- <target> <file>`):\n{}",
        failures.join("\n")
    );
}

/// A target added to `fuzz/` without a line above would never be replayed.
#[test]
fn every_cargo_fuzz_target_is_replayed() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "kith-fuzz")
        .collect();
    let mut replayed: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    let mut declared_sorted = declared.clone();
    declared_sorted.sort_unstable();
    replayed.sort_unstable();
    assert_eq!(declared_sorted, replayed, "fuzz/Cargo.toml's targets and this test's TARGETS differ");
    for entry in std::fs::read_dir(fuzz_dir().join("seeds")).expect("fuzz/seeds") {
        let name = entry.expect("an entry").file_name().into_string().expect("a UTF-8 name");
        assert!(replayed.contains(&name.as_str()), "fuzz/seeds/{name}/ belongs to no replayed target");
    }
}

/// The replay fails on a target that panics, and names the input.
#[test]
fn a_panicking_target_fails_the_replay_and_names_the_input() {
    fn planted(data: &[u8]) {
        assert!(!data.starts_with(b"kith://"), "a planted bug");
        targets::join_link(data);
    }
    let files = inputs("join_link");
    let failures = replay(planted, &files);
    assert!(!failures.is_empty(), "the planted bug went unnoticed");
    assert!(
        failures.iter().all(|f| f.contains("fuzz/seeds/join_link/") && f.contains("a planted bug")),
        "{failures:?}"
    );
}
