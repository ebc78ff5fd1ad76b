//! The domain model: teams, members, shifts, check-ins, acknowledgements and the team policy.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::DomainError;
use crate::ids::{AckId, CheckInId, DeviceId, ExtensionId, MemberId, ShiftId, TeamId};
use crate::time::{Secs, Timestamp};

/// What a person may do in a team.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Checks in and sees the team board.
    Member,
    /// A member who also acknowledges check-ins, owns alerts and edits policy and roster.
    Lead,
    /// Runs the server: teams, invites, devices.
    Admin,
}

impl Role {
    /// Leads and admins may acknowledge check-ins and edit the team document.
    pub fn is_lead(self) -> bool {
        matches!(self, Role::Lead | Role::Admin)
    }
}

/// How the worker is, as they said in a check-in.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckInStatus {
    /// "I'm OK".
    Ok,
    /// "I'd like support": someone should reach out soon; not an alarm.
    Support,
    /// Immediate alert.
    Emergency,
}

/// Who may read a check-in's note.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone in the team.
    #[default]
    Team,
    /// Leads only.
    Leads,
}

/// How precisely the worker chose to share where they are.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LocationPrecision {
    /// No location at all.
    #[default]
    None,
    /// Rounded to about a kilometre.
    Coarse,
    /// As measured.
    Precise,
}

/// A location as shared: already reduced to the precision the worker chose.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub precision: LocationPrecision,
    pub lat: f64,
    pub lon: f64,
}

impl Location {
    /// Builds a location at the chosen precision; `None` precision shares nothing.
    /// Coarse rounds to two decimals (about 1 km), so the precise point never leaves the device.
    pub fn shared(precision: LocationPrecision, lat: f64, lon: f64) -> Result<Option<Self>, DomainError> {
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) || !lat.is_finite() || !lon.is_finite() {
            return Err(DomainError::BadLocation { lat, lon });
        }
        Ok(match precision {
            LocationPrecision::None => None,
            LocationPrecision::Coarse => {
                Some(Location { precision, lat: (lat * 100.0).round() / 100.0, lon: (lon * 100.0).round() / 100.0 })
            }
            LocationPrecision::Precise => Some(Location { precision, lat, lon }),
        })
    }
}

/// A rating from 1 to 5 (mood, or confidence "on top of things").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Rating(u8);

impl Rating {
    pub fn new(value: u8, what: &'static str) -> Result<Self, DomainError> {
        if (1..=5).contains(&value) {
            Ok(Self(value))
        } else {
            Err(DomainError::BadRating { what, value: i64::from(value) })
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Rating {
    type Error = DomainError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Rating::new(v, "rating")
    }
}

impl From<Rating> for u8 {
    fn from(r: Rating) -> u8 {
        r.0
    }
}

/// An optional note, with who may read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
    pub visibility: Visibility,
}

/// Longest note accepted, in characters ([`crate::limits::char_count`]): a check-in is a message, not a document.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Longest purpose, name or reason accepted, in characters ([`crate::limits::char_count`]).
pub const MAX_LINE_CHARS: usize = 300;

/// One check-in: appended by the worker to their shift document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckIn {
    pub id: CheckInId,
    pub status: CheckInStatus,
    pub mood: Option<Rating>,
    pub confidence: Option<Rating>,
    pub note: Option<Note>,
    pub location: Option<Location>,
    /// The device's own clock when the check-in was made.
    pub device_time: Timestamp,
    /// Who checked in (the shift's worker).
    pub by: MemberId,
    /// From which device.
    pub device: DeviceId,
}

impl CheckIn {
    /// A check-in with nothing but its status; mood, confidence, note and location are optional
    /// and set with struct update syntax (`CheckIn { mood: Some(m), ..CheckIn::new(...) }`).
    pub fn new(status: CheckInStatus, device_time: Timestamp, by: MemberId, device: DeviceId) -> CheckIn {
        CheckIn {
            id: CheckInId::new(),
            status,
            mood: None,
            confidence: None,
            note: None,
            location: None,
            device_time,
            by,
            device,
        }
    }
}

/// A lead's (or buddy's) acknowledgement of a check-in, with an optional reply ("seen — thanks").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub id: AckId,
    pub checkin: CheckInId,
    pub by: MemberId,
    pub at: Timestamp,
    pub reply: Option<String>,
}

/// An explicit extension of the planned end, with a reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub id: ExtensionId,
    pub new_end: Timestamp,
    pub reason: String,
    /// When the extension was made (device time).
    pub at: Timestamp,
}

/// How a shift ended: "I'm done, all fine".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftEnd {
    pub at: Timestamp,
    pub note: Option<String>,
}

/// One shift or trip of one worker, as materialised from its shift document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub id: ShiftId,
    pub team: TeamId,
    pub worker: MemberId,
    pub purpose: String,
    pub started_at: Timestamp,
    /// The planned end as first set; see [`Shift::planned_end`] for the one in force.
    pub initial_end: Timestamp,
    pub interval: Secs,
    pub buddies: Vec<MemberId>,
    /// Sorted by the time they were made.
    pub extensions: Vec<Extension>,
    pub ended: Option<ShiftEnd>,
    /// Sorted by device time, then id.
    pub checkins: Vec<CheckIn>,
    /// Sorted by time, then id.
    pub acks: Vec<Ack>,
}

impl Shift {
    /// A new shift starting at `started_at`, with no buddies, check-ins or extensions yet.
    pub fn begin(
        team: TeamId,
        worker: MemberId,
        purpose: impl Into<String>,
        started_at: Timestamp,
        initial_end: Timestamp,
        interval: Secs,
    ) -> Shift {
        Shift {
            id: ShiftId::new(),
            team,
            worker,
            purpose: purpose.into(),
            started_at,
            initial_end,
            interval,
            buddies: Vec::new(),
            extensions: Vec::new(),
            ended: None,
            checkins: Vec::new(),
            acks: Vec::new(),
        }
    }

    /// The planned end in force: the latest extension made, or the initial end.
    pub fn planned_end(&self) -> Timestamp {
        self.extensions.last().map_or(self.initial_end, |e| e.new_end)
    }

    pub fn is_active(&self) -> bool {
        self.ended.is_none()
    }

    pub fn last_checkin(&self) -> Option<&CheckIn> {
        self.checkins.last()
    }

    pub fn checkin(&self, id: CheckInId) -> Option<&CheckIn> {
        self.checkins.iter().find(|c| c.id == id)
    }

    /// Acknowledgements of one check-in, oldest first.
    pub fn acks_for(&self, id: CheckInId) -> impl Iterator<Item = &Ack> {
        self.acks.iter().filter(move |a| a.checkin == id)
    }
}

/// What to do at one step of an escalation chain.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    Worker,
    Buddies,
    Leads,
}

impl FromStr for Notify {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "worker" => Ok(Notify::Worker),
            "buddies" => Ok(Notify::Buddies),
            "leads" => Ok(Notify::Leads),
            other => Err(DomainError::Malformed(format!("unknown escalation target '{other}'"))),
        }
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Notify::Worker => "worker",
            Notify::Buddies => "buddies",
            Notify::Leads => "leads",
        })
    }
}

/// One step of the escalation chain: `after` the overdue moment (cumulative), notify `notify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationStep {
    pub after: Secs,
    pub notify: Notify,
}

/// The team's policy, edited by leads, stored in the team document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Shortest check-in interval a worker may choose.
    pub min_interval: Secs,
    /// Longest check-in interval a worker may choose.
    pub max_interval: Secs,
    /// Interval offered when a worker has no previous shift.
    pub default_interval: Secs,
    /// How long past due before a check-in counts as overdue.
    pub grace: Secs,
    /// How long before a due time (or planned end) the worker is reminded.
    pub reminder_lead: Secs,
    /// Ordered escalation steps once a check-in is overdue.
    pub escalation: Vec<EscalationStep>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_interval: Secs::minutes(15),
            max_interval: Secs::hours(4),
            default_interval: Secs::hours(1),
            grace: Secs::minutes(10),
            reminder_lead: Secs::minutes(5),
            escalation: vec![
                EscalationStep { after: Secs(0), notify: Notify::Worker },
                EscalationStep { after: Secs::minutes(5), notify: Notify::Buddies },
                EscalationStep { after: Secs::minutes(15), notify: Notify::Leads },
            ],
        }
    }
}

impl Policy {
    /// A worker chooses their own rhythm, inside the team's bounds.
    pub fn check_interval(&self, interval: Secs) -> Result<(), DomainError> {
        if interval < self.min_interval || interval > self.max_interval {
            return Err(DomainError::IntervalOutOfPolicy { interval, min: self.min_interval, max: self.max_interval });
        }
        Ok(())
    }

    /// The interval a shift's deadlines run on: its own, but never longer than the policy allows
    /// now. A device checks the interval against its copy of the policy when the shift starts, but
    /// the server cannot refuse a shift for it (a device offline with an older policy started it
    /// rightly, and refusing would lose it), so the bound holds here, for the board, the deadline
    /// engine and the health figures alike. Never lengthened to the minimum: that would only make
    /// an alarm later.
    pub fn interval_in_force(&self, interval: Secs) -> Secs {
        if interval > self.max_interval { self.max_interval } else { interval }
    }

    /// Whether the policy itself is coherent.
    pub fn check(&self) -> Result<(), DomainError> {
        let bad = |m: &str| Err(DomainError::Invalid(format!("policy: {m}")));
        if self.min_interval.get() <= 0 || self.min_interval > self.max_interval {
            return bad("min interval must be positive and not above the max interval");
        }
        if self.default_interval < self.min_interval || self.default_interval > self.max_interval {
            return bad("default interval must lie between min and max");
        }
        if self.grace.get() < 0 || self.reminder_lead.get() < 0 {
            return bad("grace and reminder lead must not be negative");
        }
        if self.escalation.windows(2).any(|w| w[1].after < w[0].after) {
            return bad("escalation steps must be in time order");
        }
        Ok(())
    }

    /// What a lead may set, beyond [`Policy::check`]: values a team can live with. Documents
    /// written before these bounds are still read; only new edits are held to them.
    pub fn check_edit(&self) -> Result<(), DomainError> {
        self.check()?;
        let bad = |m: &str| Err(DomainError::Invalid(format!("policy: {m}")));
        let day = Secs::hours(24);
        if self.max_interval > day {
            return bad("the longest check-in interval is 24 hours");
        }
        if self.min_interval < Secs::minutes(1) {
            return bad("the shortest check-in interval is 1 minute");
        }
        if self.grace > day || self.reminder_lead > day {
            return bad("grace and reminder lead are at most 24 hours each");
        }
        if self.escalation.is_empty() || self.escalation.len() > MAX_ESCALATION_STEPS {
            return bad(&format!("the escalation chain needs 1 to {MAX_ESCALATION_STEPS} steps"));
        }
        if self.escalation.iter().any(|s| s.after.get() < 0) {
            return bad("an escalation step cannot come before the overdue moment");
        }
        if self.escalation.iter().any(|s| s.after > Secs::hours(24 * 7)) {
            return bad("an escalation step fires at most 7 days after the overdue moment");
        }
        if !self.escalation.iter().any(|s| s.notify == Notify::Leads) {
            return bad("the escalation chain must reach the leads: a missed check-in must reach someone who can act");
        }
        Ok(())
    }
}

/// Most steps an escalation chain may have.
pub const MAX_ESCALATION_STEPS: usize = 10;

/// One person on a team's roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    /// This member's standing buddies (a shift may name others).
    pub buddies: Vec<MemberId>,
    /// Where to phone them when they need a human: set by the member or a lead ([`check_phone`]).
    #[serde(default)]
    pub phone: Option<String>,
}

impl Member {
    /// A member with no buddies and no phone number yet.
    pub fn new(id: MemberId, name: impl Into<String>, role: Role) -> Member {
        Member { id, name: name.into(), role, buddies: Vec::new(), phone: None }
    }
}

/// Longest phone number accepted, in characters.
pub const MAX_PHONE_CHARS: usize = 32;

/// Checks a phone number as people write it: digits with spaces, dashes, dots, slashes and
/// brackets, an optional leading `+`, at least 3 digits, at most [`MAX_PHONE_CHARS`]. Anything else
/// could not be dialled from a `tel:` link.
pub fn check_phone(phone: &str) -> Result<(), DomainError> {
    let bad = |why: &str| {
        Err(DomainError::Invalid(format!(
            "'{phone}' is not a phone number ({why}): write it with digits, e.g. +44 20 7946 0000"
        )))
    };
    let len = crate::limits::char_count(phone);
    if len > MAX_PHONE_CHARS {
        return Err(DomainError::TooLong { what: "phone number", len, max: MAX_PHONE_CHARS });
    }
    let body = phone.strip_prefix('+').unwrap_or(phone);
    if let Some(c) = body.chars().find(|c| !(c.is_ascii_digit() || " -.()/".contains(*c))) {
        return bad(&format!("'{c}' is not allowed"));
    }
    if body.chars().filter(char::is_ascii_digit).count() < 3 {
        return bad("it needs at least 3 digits");
    }
    Ok(())
}

/// The `tel:` form of a phone number that passed [`check_phone`]: its digits, with the leading `+`.
pub fn dial_string(phone: &str) -> String {
    let plus = phone.trim_start().starts_with('+');
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if plus { format!("+{digits}") } else { digits }
}

/// A team, as materialised from its team document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub purpose: String,
    /// Who to phone when the app cannot reach anyone.
    pub phone: Option<String>,
    pub policy: Policy,
    /// Sorted by name, then id.
    pub members: Vec<Member>,
}

impl Team {
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    pub fn leads(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.role.is_lead())
    }

    /// What a lead's edit must keep, asked of the team as an edit left it (`self`) against the
    /// team before (`before`): a changed policy is one a team can live with ([`Policy::check_edit`]:
    /// a chain that reaches the leads, bounded intervals), nobody new is an admin, and a team that
    /// had a lead keeps one. The console asks each edit as it makes it; the server asks this of a
    /// lead device's pushed changes, so a buggy or forged client cannot store what the console refuses.
    pub fn check_edit_from(&self, before: &Team) -> Result<(), DomainError> {
        if self.policy != before.policy {
            self.policy.check_edit()?;
        }
        let admin = |t: &Team, id: MemberId| t.member(id).is_some_and(|m| m.role == Role::Admin);
        if self.members.iter().any(|m| m.role == Role::Admin && !admin(before, m.id)) {
            return Err(DomainError::Invalid("admins run the server and are not made from the roster".into()));
        }
        if before.leads().next().is_some() && self.leads().next().is_none() {
            return Err(DomainError::Invalid(
                "a team keeps at least one lead: nobody else could edit it or own its alerts; make another member a lead first"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether `member` may be given `role`: admins run the server and are not made from the
    /// roster, and a team never loses its last lead (nobody could edit it or own its alerts).
    pub fn check_role_change(&self, member: MemberId, role: Role) -> Result<(), DomainError> {
        let Some(m) = self.member(member) else {
            return Err(DomainError::Invalid(format!("there is no member {member} in this team")));
        };
        if role == Role::Admin {
            return Err(DomainError::Invalid("a member can be made a lead or a member; admins run the server".into()));
        }
        if m.role.is_lead() && !role.is_lead() && self.leads().count() == 1 {
            return Err(DomainError::Invalid(format!(
                "{} is the team's only lead: make someone else a lead first",
                m.name
            )));
        }
        Ok(())
    }

    /// Whether `buddies` may be `member`'s standing buddies: teammates, not themself.
    pub fn check_buddies(&self, member: MemberId, buddies: &[MemberId]) -> Result<(), DomainError> {
        if buddies.contains(&member) {
            return Err(DomainError::Invalid("a member cannot be their own buddy".into()));
        }
        if let Some(b) = buddies.iter().find(|b| self.member(**b).is_none()) {
            return Err(DomainError::Invalid(format!("{b} is not a member of this team: pick a teammate")));
        }
        Ok(())
    }
}
