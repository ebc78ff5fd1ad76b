//! The Kith domain: teams, shifts, check-ins and policy, their Automerge documents, and the pure
//! rules (next due, overdue, board order, connection health, alerts and escalation on the server
//! clock). No IO and no clock: time is passed in.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod alerts;
pub mod authz;
pub mod change;
pub mod doc;
pub mod health;
pub mod ids;
pub mod limits;
pub mod model;
pub mod rules;
pub mod time;

pub use ids::{AckId, CheckInId, DeviceId, ExtensionId, MemberId, ShiftId, TeamId};
pub use model::*;
pub use time::{Secs, Timestamp};

/// Why a domain operation or a document was refused. Messages say what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("'{value}' is not a valid {what}: expected a UUID like 0190c8f2-...")]
    BadId { what: &'static str, value: String },
    #[error("{what} must be a whole number from 1 to 5, got {value}")]
    BadRating { what: &'static str, value: i64 },
    #[error("location {lat},{lon} is not on Earth: latitude must be -90..90 and longitude -180..180")]
    BadLocation { lat: f64, lon: f64 },
    #[error(
        "a check-in every {} is outside the team's policy: choose between {} and {}",
        human(*interval), human(*min), human(*max)
    )]
    IntervalOutOfPolicy { interval: Secs, min: Secs, max: Secs },
    #[error("{what} is too long ({len} characters, at most {max}): shorten it")]
    TooLong { what: &'static str, len: usize, max: usize },
    #[error("the planned end must be later than {}: pick a later time", if *now { "now" } else { "the start of the shift" })]
    EndNotAfter { after: Timestamp, now: bool },
    #[error("this shift has already ended: start a new shift")]
    ShiftEnded,
    #[error("there is no check-in {0} in this shift")]
    UnknownCheckIn(CheckInId),
    #[error("document is not well-formed: {0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
    #[error("document edit failed: {0}")]
    Automerge(String),
}

impl From<automerge::AutomergeError> for DomainError {
    fn from(e: automerge::AutomergeError) -> Self {
        DomainError::Automerge(e.to_string())
    }
}

/// A duration in the largest whole unit that fits: "90s", "15m", "4h", "1h30m".
pub fn human(d: Secs) -> String {
    let s = d.get();
    if s % 3600 == 0 && s != 0 {
        format!("{}h", s / 3600)
    } else if s >= 3600 && s % 60 == 0 {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    } else if s % 60 == 0 && s != 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Checks a one-line text field against the size limit of one line ([`MAX_LINE_CHARS`]); the
/// fields of documents have their own limits in [`limits`].
pub fn check_line(what: &'static str, s: &str) -> Result<(), DomainError> {
    let len = limits::char_count(s);
    if len > model::MAX_LINE_CHARS {
        return Err(DomainError::TooLong { what, len, max: model::MAX_LINE_CHARS });
    }
    Ok(())
}
