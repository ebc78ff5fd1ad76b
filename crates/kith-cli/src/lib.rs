//! The `kith` command-line client: a worker's shifts and check-ins on this device, saved offline
//! first and synced with the team server; the team board and acknowledgements for leads.
//!
//! `main.rs` only calls [`main`]; everything else lives here so it can be tested. The current
//! time comes from the real clock, or from `KITH_NOW` (for tests and scripts).

#![cfg_attr(not(test), warn(clippy::expect_used))]

pub mod cli;
pub mod clock;
pub mod commands;
pub mod console;
pub mod error;
pub mod net;
pub mod remote;
pub mod session;
pub mod view;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use kith_domain::Timestamp;

pub use cli::Cli;
pub use commands::Ctx;
pub use error::{CliError, EXIT_DATA, EXIT_STATE, EXIT_USAGE};

/// Environment variable that overrides the clock (RFC 3339 or ms since the epoch). For testing.
pub const NOW_ENV: &str = "KITH_NOW";

/// Runs one parsed command at `now`, writing results to `out` and warnings to `err`.
pub fn run(cli: &Cli, now: Timestamp, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CliError> {
    let dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => session::default_data_dir()?,
    };
    let mut cx = Ctx { dir, now, json: cli.json, out, err };
    match &cli.command {
        cli::Command::Init(a) => commands::init(&mut cx, a),
        cli::Command::Shift(cli::ShiftCommand::Start(a)) => commands::shift_start(&mut cx, a),
        cli::Command::Checkin(a) => commands::checkin(&mut cx, a),
        cli::Command::Extend(a) => commands::extend(&mut cx, a),
        cli::Command::End(a) => commands::end(&mut cx, a),
        cli::Command::Status => commands::status(&mut cx),
        cli::Command::Log(a) => commands::log(&mut cx, a),
        cli::Command::Join(a) => remote::join(&mut cx, a),
        cli::Command::Sync => remote::sync(&mut cx),
        cli::Command::Team(cli::TeamArgs { action: None | Some(cli::TeamCommand::Board) }) => remote::team(&mut cx),
        cli::Command::Team(cli::TeamArgs { action: Some(cli::TeamCommand::Show) }) => console::show(&mut cx),
        cli::Command::Team(cli::TeamArgs { action: Some(cli::TeamCommand::Policy(a)) }) => console::policy(&mut cx, a),
        cli::Command::Team(cli::TeamArgs { action: Some(cli::TeamCommand::Member(a)) }) => console::member(&mut cx, a),
        cli::Command::Invite(a) => console::invite(&mut cx, a),
        cli::Command::Devices(a) => console::devices(&mut cx, a),
        cli::Command::Ack(a) => remote::ack(&mut cx, a),
        cli::Command::Alerts(a) => remote::alerts(&mut cx, a),
    }
}

/// The current time: `KITH_NOW` if set, else the system clock.
pub fn now_from_env(value: Option<OsString>) -> Result<Timestamp, CliError> {
    match value {
        None => Ok(clock::system_now()),
        Some(v) => clock::parse_now(&v.to_string_lossy()),
    }
}

/// How an error is printed on stderr: `error: <message>`, or with `--json` one JSON object
/// `{"error": {"kind", "exit_code", "message"}}`.
pub fn error_text(e: &CliError, json: bool) -> String {
    if json {
        let v = serde_json::json!({
            "error": { "kind": e.kind(), "exit_code": e.exit_code(), "message": e.to_string() }
        });
        view::json_safe(&v.to_string()).into_owned()
    } else {
        // A message may quote what a server or a teammate wrote.
        format!("error: {}", view::terminal_safe(&e.to_string()))
    }
}

/// The whole program: parse arguments, run, print any error in plain words, pick the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let result =
        now_from_env(std::env::var_os(NOW_ENV)).and_then(|now| run(&cli, now, &mut stdout.lock(), &mut stderr.lock()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr.lock(), "{}", error_text(&e, cli.json));
            ExitCode::from(e.exit_code())
        }
    }
}
