//! A package whose integration tests share one binary (`autotests = false`, tests/all.rs) builds
//! only the files it names: a new file in tests/ that is neither a module of an `all.rs` nor a
//! `[[test]]` of its own would never run, and nothing else would notice. A module of `all.rs` that
//! reads what its process shares with the other tests (a `static` counter, the metrics recorder)
//! fails now and then, when another test adds to it at the same moment.
//!
//! Which functions read process-wide state is derived from the sources, not listed by hand: a
//! library's `pub fn` that uses a `static` of its file, and a test helper that calls one. A list
//! once missed `kith_domain::change::decodes()`, and CI failed on it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What cannot be found as a `static`: the recorder read over HTTP (`server_metric`), the global
/// allocator, the test binary run again by name, the environment, the working directory, the
/// panic hook, and what /proc says of the process (its memory, files, threads).
const ALWAYS_PROCESS_WIDE: [&str; 8] = [
    "server_metric(",
    "#[global_allocator]",
    "current_exe()",
    "set_var(",
    "remove_var(",
    "set_current_dir(",
    "set_hook(",
    "/proc/self",
];

/// Statics that hold no state a test could read another test's share of, and why. Names are
/// matched textually, so a `run` or `new` that used a static would flag every caller of a `run` or
/// `new`: better a loud false alarm, and a line here, than a test that fails once in a while.
const NOT_SHARED_STATE: [(&str, &str); 4] = [
    ("CLOCK", "tests/src: story times are made unique with it; no test reads its value"),
    ("EMPTY_SLOT", "kith-server docs.rs: an always-empty placeholder nobody writes"),
    ("W", "fuzz/src: the targets' world, built once and never changed"),
    ("HOOK", "fuzz/src: `run` sets the panic hook of libFuzzer's binaries; tests call the targets' functions"),
];

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `text` has `word` as a whole identifier.
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Whether `text` calls `name` (`name(`, `::name(` or `.name(`).
fn calls(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        !before.is_some_and(is_ident) && text[i + name.len()..].starts_with('(')
    })
}

/// The text from `open` (a `{`) to its matching `}`.
fn block(text: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..=open + i];
                }
            }
            _ => {}
        }
    }
    &text[open..]
}

/// Every `fn` of a source file: its name, whether it is `pub` (a test can call it), its body.
fn functions(text: &str) -> Vec<(String, bool, &str)> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("fn ") {
        if text[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let name: String = text[i + 3..].chars().take_while(|c| is_ident(*c)).collect();
        let line = text[..i].rsplit('\n').next().unwrap_or("").trim_start();
        let public = line.starts_with("pub ");
        let Some(open) = text[i..].find(['{', ';']).map(|o| i + o) else { continue };
        if !name.is_empty() && text[open..].starts_with('{') {
            found.push((name, public, block(text, open)));
        }
    }
    found
}

/// The names of a file's `static`s, leaving out those of `thread_local!` and `task_local!` (each
/// thread or task has its own).
fn statics(text: &str) -> Vec<String> {
    let locals: Vec<(usize, usize)> = ["thread_local!", "task_local!"]
        .iter()
        .flat_map(|m| text.match_indices(m))
        .filter_map(|(i, _)| text[i..].find('{').map(|o| (i + o, i + o + block(text, i + o).len())))
        .collect();
    text.match_indices("static ")
        .map(|(i, _)| i)
        .filter(|i| !text[..*i].chars().next_back().is_some_and(is_ident))
        .filter(|i| !locals.iter().any(|(start, end)| (*start..*end).contains(i)))
        .map(|i| text[i + 7..].trim_start_matches("mut ").chars().take_while(|c| is_ident(*c)).collect::<String>())
        .filter(|n| !n.is_empty() && !n.chars().any(|c| c.is_lowercase()))
        .collect()
}

/// Every package of the workspace: crates/* and the top-level directories (tests/, fuzz/, src-tauri/).
fn workspace_packages(workspace: &Path) -> Vec<PathBuf> {
    ["crates", "."]
        .iter()
        .flat_map(|d| std::fs::read_dir(workspace.join(d)).expect("a directory"))
        .map(|e| e.expect("an entry").path())
        .collect()
}

/// The `.rs` files under `dir`, recursively (also the client guard's walk).
pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The functions a test calls that read process-wide state: the libraries' `pub fn`s that use a
/// `static` of their file, and the tests' common helpers that call one of those (to a fixed point).
/// The libraries' own callers are not followed: a server that counts into the recorder shares
/// nothing with a test until the test reads it.
fn process_wide(workspace: &Path) -> BTreeSet<String> {
    let (mut libraries, mut helpers) = (Vec::new(), Vec::new());
    for pkg in workspace_packages(workspace) {
        rust_files(&pkg.join("src"), &mut libraries);
        rust_files(&pkg.join("tests").join("common"), &mut helpers);
    }
    let read = |files: Vec<PathBuf>| -> Vec<String> {
        files.iter().map(|f| std::fs::read_to_string(f).expect("a source file")).collect()
    };
    let (libraries, helpers) = (read(libraries), read(helpers));
    let mut readers = BTreeSet::new();
    for text in &libraries {
        let shared: Vec<String> =
            statics(text).into_iter().filter(|s| !NOT_SHARED_STATE.iter().any(|(n, _)| n == s)).collect();
        for (name, public, body) in functions(text) {
            if public && shared.iter().any(|s| mentions(body, s)) {
                readers.insert(name);
            }
        }
    }
    let helper_fns: Vec<(String, bool, &str)> = helpers.iter().flat_map(|t| functions(t)).collect();
    loop {
        let more: BTreeSet<String> = helper_fns
            .iter()
            .filter(|(name, _, body)| !readers.contains(name) && readers.iter().any(|r| calls(body, r)))
            .map(|(name, _, _)| name.clone())
            .collect();
        if more.is_empty() {
            return readers;
        }
        readers.extend(more);
    }
}

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
    let readers = process_wide(workspace);
    for known in ["metrics_handle", "process_counter", "decodes"] {
        assert!(readers.contains(known), "{known} reads process-wide state but was not found: {readers:?}");
    }
    let mut packages = 0;
    for pkg in workspace_packages(workspace) {
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
                        let shared =
                            readers.iter().find(|r| calls(&source, r)).map(|r| format!("{r}()")).or_else(|| {
                                ALWAYS_PROCESS_WIDE.iter().find(|p| source.contains(**p)).map(|p| p.to_string())
                            });
                        if let Some(shared) = shared {
                            panic!(
                                "{}/{file} uses {shared}, which the other tests of {target} share: make it a \
                                 [[test]] of its own in Cargo.toml, with the reason",
                                pkg.display()
                            );
                        }
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
