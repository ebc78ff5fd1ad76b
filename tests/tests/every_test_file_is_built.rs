//! A package whose integration tests share one binary (`autotests = false`, tests/all.rs) builds
//! only the files it names: a new file in tests/ that is neither a module of an `all.rs` nor a
//! `[[test]]` of its own would never run, and nothing else would notice. A module of `all.rs` that
//! reads what its process shares with the other tests (the metrics recorder) fails now and then.

use std::collections::BTreeSet;
use std::path::Path;

/// What a test shares with every other test of its process: the metrics recorder (counts another
/// test's server adds to), the global allocator, the test binary run again by name.
const PROCESS_WIDE: [&str; 5] =
    ["metrics_handle()", "process_counter(", "server_metric(", "#[global_allocator]", "current_exe()"];

/// The `path = "..."` of every `[[test]]` in a Cargo.toml.
fn test_targets(cargo_toml: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut in_test = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_test = line == "[[test]]";
        } else if in_test && let Some(p) = line.strip_prefix("path = \"").and_then(|r| r.strip_suffix('"')) {
            paths.push(p.to_owned());
        }
    }
    paths
}

#[test]
fn every_test_file_is_a_module_of_all_rs_or_a_test_of_its_own() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut packages = 0;
    for dir in ["crates", "."].iter().flat_map(|d| std::fs::read_dir(workspace.join(d)).expect("a directory")) {
        let pkg = dir.expect("an entry").path();
        let Ok(cargo_toml) = std::fs::read_to_string(pkg.join("Cargo.toml")) else { continue };
        if !cargo_toml.lines().any(|l| l.trim() == "autotests = false") {
            continue;
        }
        packages += 1;
        let mut built = BTreeSet::new();
        for target in test_targets(&cargo_toml) {
            built.insert(target.clone());
            if target.ends_with("/all.rs") {
                let text = std::fs::read_to_string(pkg.join(&target)).expect("all.rs");
                let dir = Path::new(&target).parent().expect("its directory").to_str().expect("utf-8");
                for m in text.lines().filter_map(|l| l.strip_prefix("mod ").and_then(|r| r.strip_suffix(';'))) {
                    let file = format!("{dir}/{m}.rs");
                    let this_file = module_path!().rsplit("::").next() == Some(m);
                    if let Ok(source) = std::fs::read_to_string(pkg.join(&file))
                        && !this_file
                    {
                        let shared = PROCESS_WIDE.iter().find(|p| source.contains(**p));
                        assert!(
                            shared.is_none(),
                            "{}/{file} uses {shared:?}, which the other tests of {target} share: make it a \
                             [[test]] of its own in Cargo.toml, with the reason",
                            pkg.display()
                        );
                    }
                    built.insert(file);
                }
            }
        }
        let tests_dir = "tests";
        for file in std::fs::read_dir(pkg.join(tests_dir)).expect("tests/") {
            let name = file.expect("an entry").file_name().into_string().expect("utf-8");
            if name.ends_with(".rs") {
                let path = format!("{tests_dir}/{name}");
                assert!(
                    built.contains(&path),
                    "{}/{path} is not built: add `mod {};` to {tests_dir}/all.rs, or a [[test]] of its own to Cargo.toml \
                     if it needs a process of its own",
                    pkg.display(),
                    name.trim_end_matches(".rs")
                );
            }
        }
    }
    assert!(packages >= 8, "found {packages} packages with autotests = false: is the workspace where it was?");
}
