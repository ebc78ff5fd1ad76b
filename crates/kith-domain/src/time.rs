//! Time as the domain sees it: milliseconds since the Unix epoch, passed in, never read from a clock here.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};

/// A moment in UTC, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Timestamp(#[cfg_attr(feature = "ts", ts(type = "number"))] pub i64);

/// A span of time in whole seconds (intervals, grace periods, delays).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Secs(#[cfg_attr(feature = "ts", ts(type = "number"))] pub i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// Signed seconds from `earlier` to `self` (negative if `self` is before).
    pub fn secs_since(self, earlier: Timestamp) -> Secs {
        Secs((self.0 - earlier.0).div_euclid(1000))
    }
}

impl Secs {
    pub const fn minutes(m: i64) -> Self {
        Self(m * 60)
    }
    pub const fn hours(h: i64) -> Self {
        Self(h * 3600)
    }
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl Add<Secs> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Secs) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs.0.saturating_mul(1000)))
    }
}

impl Sub<Secs> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Secs) -> Timestamp {
        Timestamp(self.0.saturating_sub(rhs.0.saturating_mul(1000)))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}ms", self.0)
    }
}

impl fmt::Debug for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}
