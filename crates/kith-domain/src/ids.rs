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
