//! Identifiers: UUIDv7 newtypes, so ids sort by creation time and cannot be mixed up.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

use crate::DomainError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id as a plain UUID (documents in the store are keyed by UUID).
            pub fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| DomainError::BadId {
                    what: $what,
                    value: s.to_string(),
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// A team: one team document and its members' shifts.
    TeamId,
    "team id"
);
id_type!(
    /// A person in a team (one person may use several devices).
    MemberId,
    "member id"
);
id_type!(
    /// One device: its own credential and its own Automerge actor id.
    DeviceId,
    "device id"
);
id_type!(
    /// One shift of one worker; also the id of its shift document.
    ShiftId,
    "shift id"
);
id_type!(
    /// One check-in inside a shift document.
    CheckInId,
    "check-in id"
);
id_type!(
    /// One acknowledgement or reply to a check-in.
    AckId,
    "acknowledgement id"
);
id_type!(
    /// One extension of a shift's planned end.
    ExtensionId,
    "extension id"
);

/// Whether `s` is an id written as Kith writes ids (`Uuid`'s `Display`: lower case, hyphenated).
///
/// Readers accept any spelling `Uuid::parse_str` does (upper case, braces, no hyphens), so two
/// spellings of one id would be two keys of one map that read as the same entry: a second
/// check-in with a check-in's id, a member listed twice. Every id a change writes, as a key or as
/// a value, must therefore be in this one spelling ([`crate::doc::fields::check_op`]).
pub fn is_canonical(s: &str) -> bool {
    // 36 bytes is only the hyphenated form; parsing checks the hex digits and hyphens.
    s.len() == 36 && !s.bytes().any(|b| b.is_ascii_uppercase()) && Uuid::try_parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spelling_ids_are_written_in_is_canonical() {
        let id = CheckInId::new().to_string();
        assert!(is_canonical(&id));
        assert!(is_canonical(&Uuid::nil().to_string()));
        // Each reads as the same id, which is the danger: a second key for one entry.
        for other in
            [id.to_uppercase(), format!("{{{id}}}"), id.replace('-', ""), format!("urn:uuid:{id}"), format!(" {id}")]
        {
            assert_eq!(other.parse::<CheckInId>().ok().map(|c| c.to_string()), Some(id.clone()), "{other:?}");
            assert!(!is_canonical(&other), "{other:?} is not how ids are written");
        }
        for junk in [&id[..35], "not an id", "", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"] {
            assert!(!is_canonical(junk), "{junk:?}");
        }
    }
}
