//! The command line: commands, flags and their help texts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kith_domain::{CheckInStatus, LocationPrecision, MemberId, Rating, Role, Visibility};

const AFTER_HELP: &str = "\
Getting started:
  kith join https://kith.example.org ABCD-EFGH-JKLM-NPQR --name \"Alice Field\"
  kith join \"kith://join?server=...&code=...\" --name \"Alice Field\"   (the link a lead sent you)
  kith shift start --purpose \"Meter readings\" --until 17:30 --every 1h
  kith checkin ok --mood 4     kith checkin support     kith checkin emergency
  kith team                    (the board; leads answer with kith ack <check-in id> --reply \"...\")
  kith team member me --phone \"+44 7700 900123\"   (so your team can call you from an alert)
Leads: kith invite, kith devices, kith team show|policy|member, kith alerts takeover|assign.
Without a team server, kith init --name \"Alice\" makes a profile for this device alone.

Everything is saved on this device first, then shared with your team server when there is a
connection (kith join once, then every change syncs; kith sync to retry). Without a connection
nobody has been reached yet: for an emergency, phone your team or the emergency services.

Exit codes: 0 done (a check-in saved while offline is done: it is queued); 2 wrong command line or
value; 3 not possible now (no profile yet, already or not on shift, a member acknowledging, joining
into a data directory that has a profile); 4 this device's data cannot be used (damaged or foreign
database, permissions, disk); 5 the team server cannot be reached now (retry later, nothing is
lost); 6 the server refused (unknown or used invite, revoked device): waiting will not help.
With --json, an error is one JSON object on stderr: {\"error\": {\"kind\", \"exit_code\", \"message\"}}.

Environment:
  KITH_DATA_DIR  where Kith keeps this device's data (same as --data-dir)
  KITH_NOW       for testing only: pretend the current time is this (RFC 3339, or milliseconds
                 since 1970). Never set it in real use: due times would be wrong. The team
                 server always uses its own clock.";

/// Kith: check in with your team while you work alone. Works offline.
#[derive(Debug, Parser)]
#[command(name = "kith", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Where Kith keeps this device's data [default: your platform's data directory, e.g.
    /// ~/.local/share/kith]
    #[arg(long, env = "KITH_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Print machine-readable JSON (stable field names) instead of sentences
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an offline profile on this device (once): you, this device and a local team. To
    /// work with a team server, use kith join instead
    Init(InitArgs),
    /// Start a shift or trip
    #[command(subcommand)]
    Shift(ShiftCommand),
    /// Check in: ok (default), support ("I'd like support") or emergency
    #[command(alias = "check-in")]
    Checkin(CheckinArgs),
    /// Move the planned end of your shift, with a reason
    Extend(ExtendArgs),
    /// End your shift: "I'm done, all fine"
    End(EndArgs),
    /// Your shift now: next check-in due, planned end, last check-in
    Status,
    /// History of your check-ins, extensions and shift ends
    Log(LogArgs),
    /// Join a team on a server with an invite (from a lead or admin): a server address and code,
    /// or a kith://join?... link
    Join(JoinArgs),
    /// Send this device's changes to the team server and fetch the team's
    Sync,
    /// The team board: who is out, how they are, who needs a reply (who needs a human first);
    /// with a subcommand, the roster and policy, and (leads) editing them
    Team(TeamArgs),
    /// Acknowledge a check-in, optionally with a reply (leads)
    Ack(AckArgs),
    /// Alerts from the team server: list them, claim one (everyone sees you own it and it stops
    /// escalating), resolve one you claimed with a note; leads take one over or give it to someone
    Alerts(AlertsArgs),
    /// Invite someone to the team (leads): prints the code and the kith://join link
    Invite(InviteArgs),
    /// The team's devices (leads): who, which device, joined, last seen; revoke one
    Devices(DevicesArgs),
}

#[derive(Debug, Args)]
pub struct TeamArgs {
    #[command(subcommand)]
    pub action: Option<TeamCommand>,
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// The team board (the default)
    Board,
    /// The roster (roles, buddies, phones) and the policy (intervals, grace, reminder, escalation)
    Show,
    /// Change the team's policy (leads); what you leave out stays as it is
    Policy(PolicyArgs),
    /// Change a member's role (leads), buddies or phone number (leads, or yourself with "me")
    Member(MemberArgs),
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Shortest check-in interval a worker may choose, e.g. 15m
    #[arg(long, value_name = "DURATION")]
    pub min: Option<String>,
    /// Longest check-in interval, e.g. 4h
    #[arg(long, value_name = "DURATION")]
    pub max: Option<String>,
    /// Interval offered to a worker with no earlier shift, e.g. 1h
    #[arg(long, value_name = "DURATION")]
    pub default: Option<String>,
    /// How long past due before a check-in is overdue, e.g. 10m
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
    /// How long before a due time the worker is reminded, e.g. 5m
    #[arg(long, value_name = "DURATION")]
    pub reminder: Option<String>,
    /// The escalation chain after the overdue moment, in order, e.g. "0:worker,5m:buddies,15m:leads"
    /// (each step: time after the overdue moment, then worker, buddies or leads; must reach leads)
    #[arg(long, value_name = "STEPS")]
    pub escalation: Option<String>,
}

#[derive(Debug, Args)]
pub struct MemberArgs {
    /// Who: their name as on the team board, their member id, or me
    pub who: String,
    /// Their role (leads only; the team keeps at least one lead)
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// A standing buddy (name or member id); repeat for several. Replaces their buddies
    #[arg(long = "buddy", value_name = "WHO", conflicts_with = "no_buddies")]
    pub buddies: Vec<String>,
    /// No standing buddies
    #[arg(long)]
    pub no_buddies: bool,
    /// Their phone number, shown with their alerts so a lead can call them
    #[arg(long, value_name = "NUMBER", conflicts_with = "no_phone")]
    pub phone: Option<String>,
    /// Remove their phone number
    #[arg(long)]
    pub no_phone: bool,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The role the person gets
    #[arg(long, value_enum, default_value_t = RoleArg::Member)]
    pub role: RoleArg,
    /// How many devices may join with it
    #[arg(long, default_value_t = 1)]
    pub uses: u32,
    /// How long it stays valid, e.g. 7d or 12h (at most 90 days)
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    pub expires: String,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(subcommand)]
    pub action: Option<DevicesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List the team's devices (the default)
    List,
    /// Revoke a device: it is cut off at once and nothing it sends is stored
    Revoke {
        /// The device's id (kith devices shows them)
        id: kith_domain::DeviceId,
    },
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub action: Option<AlertsCommand>,
    /// List resolved alerts too (the history)
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts (the default): open and claimed ones, who needs a human first
    List,
    /// Take an alert: you own it, everyone sees that, and it escalates no further
    Claim {
        /// The alert's id (kith alerts shows them)
        id: uuid::Uuid,
    },
    /// Resolve an alert you claimed, saying what happened
    Resolve {
        id: uuid::Uuid,
        /// What happened, e.g. "Phoned her: fine, battery was flat"
        #[arg(long)]
        note: String,
    },
    /// Take over an alert someone else claimed (leads): you own it from now on
    Takeover { id: uuid::Uuid },
    /// Give an alert to a lead or one of the worker's buddies (leads)
    Assign {
        id: uuid::Uuid,
        /// Who owns it from now on: their name as on the team board, or their member id
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The server address (https://kith.example.org; plain http:// only to this computer) or a
    /// kith://join?server=...&code=... link
    pub target: String,
    /// The invite code (not needed with a link)
    pub code: Option<String>,
    /// Your name, as your team will see it
    #[arg(long)]
    pub name: String,
    /// A label for this device, e.g. "Alice's phone" [default: "<name>'s kith"]
    #[arg(long)]
    pub device_label: Option<String>,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// The check-in's id (kith team lists the check-ins waiting for a reply, with their ids)
    pub checkin: kith_domain::CheckInId,
    /// A reply the worker will see, e.g. "Seen, thanks!"
    #[arg(long)]
    pub reply: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ShiftCommand {
    /// Start a shift: what it is for, when you will be back, how often you check in
    Start(StartArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Member,
    Lead,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Member => Role::Member,
            RoleArg::Lead => Role::Lead,
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Your name, as your team will see it
    #[arg(long)]
    pub name: String,
    /// Your team's name
    #[arg(long, default_value = "My team")]
    pub team: String,
    /// Your role in the team
    #[arg(long, value_enum, default_value_t = RoleArg::Member)]
    pub role: RoleArg,
    /// The number to phone when Kith cannot reach anyone (shown with emergencies)
    #[arg(long, value_name = "NUMBER")]
    pub team_phone: Option<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// What this shift is for [default: your last shift's purpose]
    #[arg(long)]
    pub purpose: Option<String>,
    /// When you plan to be back: 17:30 (today, or tomorrow if already past), +2h, 2h30m, or an
    /// RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub until: String,
    /// How often you check in, e.g. 30m or 1h, within your team's policy [default: your last
    /// shift's, else the team's default]
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// A teammate (member id) to look out for you; repeat for several [default: your last
    /// shift's buddies]
    #[arg(long = "buddy", value_name = "MEMBER_ID", conflicts_with = "no_buddies")]
    pub buddies: Vec<MemberId>,
    /// Start without buddies even if your last shift had some
    #[arg(long)]
    pub no_buddies: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// I'm OK
    Ok,
    /// I'd like support: someone should reach out soon (not an alarm)
    Support,
    /// Emergency: I need help now
    Emergency,
}

impl From<StatusArg> for CheckInStatus {
    fn from(s: StatusArg) -> CheckInStatus {
        match s {
            StatusArg::Ok => CheckInStatus::Ok,
            StatusArg::Support => CheckInStatus::Support,
            StatusArg::Emergency => CheckInStatus::Emergency,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VisibilityArg {
    /// Everyone in the team
    Team,
    /// Leads only
    Leads,
}

impl From<VisibilityArg> for Visibility {
    fn from(v: VisibilityArg) -> Visibility {
        match v {
            VisibilityArg::Team => Visibility::Team,
            VisibilityArg::Leads => Visibility::Leads,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// Share no location
    None,
    /// Rounded to about a kilometre
    Coarse,
    /// As given
    Precise,
}

impl From<PrecisionArg> for LocationPrecision {
    fn from(p: PrecisionArg) -> LocationPrecision {
        match p {
            PrecisionArg::None => LocationPrecision::None,
            PrecisionArg::Coarse => LocationPrecision::Coarse,
            PrecisionArg::Precise => LocationPrecision::Precise,
        }
    }
}

fn mood(s: &str) -> Result<Rating, String> {
    rating(s, "mood")
}

fn confidence(s: &str) -> Result<Rating, String> {
    rating(s, "confidence")
}

fn rating(s: &str, what: &'static str) -> Result<Rating, String> {
    let v: i64 = s.trim().parse().map_err(|_| format!("{what} must be a whole number from 1 to 5"))?;
    let v = u8::try_from(v).map_err(|_| format!("{what} must be a whole number from 1 to 5, got {v}"))?;
    Rating::new(v, what).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct CheckinArgs {
    /// How you are
    #[arg(value_enum, default_value_t = StatusArg::Ok)]
    pub status: StatusArg,
    /// How you feel, 1 (bad) to 5 (great)
    #[arg(long, value_name = "1-5", value_parser = mood, allow_negative_numbers = true)]
    pub mood: Option<Rating>,
    /// How on top of things you are, 1 to 5
    #[arg(long, value_name = "1-5", value_parser = confidence, allow_negative_numbers = true)]
    pub confidence: Option<Rating>,
    /// A short note
    #[arg(long)]
    pub note: Option<String>,
    /// Who may read the note
    #[arg(long, value_enum, requires = "note", default_value_t = VisibilityArg::Team)]
    pub visibility: VisibilityArg,
    /// How precisely to share where you are
    #[arg(long, value_enum, default_value_t = PrecisionArg::None)]
    pub location: PrecisionArg,
    /// Latitude, -90 to 90 (with --location coarse|precise)
    #[arg(long, allow_negative_numbers = true, requires = "lon")]
    pub lat: Option<f64>,
    /// Longitude, -180 to 180 (with --location coarse|precise)
    #[arg(long, allow_negative_numbers = true, requires = "lat")]
    pub lon: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// The new planned end: 18:30, +1h, 1h30m, or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub until: String,
    /// Why (your team sees it)
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct EndArgs {
    /// A closing note
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Every shift on this device, not only the current or last one
    #[arg(long)]
    pub all: bool,
}
