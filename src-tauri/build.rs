//! Tauri's build step, with a permission generated for each of the app's commands
//! (`allow-<command>`), so the capability in capabilities/default.json allows each by name and
//! nothing else.

include!("src/command_names.rs");

fn main() {
    let attrs = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(NAMES));
    if let Err(e) = tauri_build::try_build(attrs) {
        // A build script reports by failing; the message says which file to fix.
        eprintln!("tauri build step failed: {e:#}");
        std::process::exit(1);
    }
}
