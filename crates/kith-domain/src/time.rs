//! Time as the domain sees it: milliseconds since the Unix epoch, passed in, never read from a clock here.
//!
//! Every time a device sends (a document's times, a sync request's `client_time`) must lie in
//! [`Timestamp::EARLIEST`, `Timestamp::LATEST`]: a wrong clock is still in range, a nonsense value is
//! refused, and any sum or difference of two times in range fits in an `i64`. Arithmetic on times
//! saturates anyway, so a value that slipped through can never overflow.

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
    /// The earliest time a device may send: 1970-01-01T00:00:00Z (a clock that lost its setting).
    pub const EARLIEST: Timestamp = Timestamp(0);
    /// The latest time a device may send: 9999-12-31T23:59:59.999Z.
    pub const LATEST: Timestamp = Timestamp(253_402_300_799_999);

    /// Whether a device may send this time (see [`Timestamp::EARLIEST`] and [`Timestamp::LATEST`]).
    pub const fn in_range(self) -> bool {
        self.0 >= Self::EARLIEST.0 && self.0 <= Self::LATEST.0
    }

    /// This time moved by `ms` milliseconds (saturating).
    pub const fn plus_ms(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// Signed seconds from `earlier` to `self` (negative if `self` is before).
    pub fn secs_since(self, earlier: Timestamp) -> Secs {
        Secs(self.0.saturating_sub(earlier.0).div_euclid(1000))
    }
}

impl Secs {
    pub const fn minutes(m: i64) -> Self {
        Self(m.saturating_mul(60))
    }
    pub const fn hours(h: i64) -> Self {
        Self(h.saturating_mul(3600))
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

/// Measured offsets within this of zero (ms) are taken as zero: a measurement includes the
/// request's time in transit, and a correction that small moves no deadline that matters.
pub const OFFSET_NOISE_MS: i64 = 1000;

/// A device's clock offset measured on one exchange: server time minus the device's time when it
/// sent the request (ms), zero within [`OFFSET_NOISE_MS`]. None when `client_time` is out of
/// range: such a request is refused, never used to correct a deadline. In range, the offset's
/// size is bounded by the range.
pub fn clock_offset(server_now: i64, client_time: i64) -> Option<i64> {
    if !Timestamp(client_time).in_range() {
        return None;
    }
    let offset = server_now.checked_sub(client_time)?;
    Some(if offset.abs() < OFFSET_NOISE_MS { 0 } else { offset })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_out_of_range_give_no_offset_and_arithmetic_never_overflows() {
        let now = 1_800_000_000_000;
        assert_eq!(clock_offset(now, now - 3_600_000), Some(3_600_000));
        assert_eq!(clock_offset(now, now - 3), Some(0), "transit time is not a clock offset");
        assert_eq!(clock_offset(now, now + 999), Some(0));
        assert_eq!(clock_offset(now, now + 1000), Some(-1000));
        for bad in [i64::MIN, -1, Timestamp::LATEST.0 + 1, i64::MAX] {
            assert_eq!(clock_offset(now, bad), None, "{bad}");
        }
        assert_eq!(clock_offset(now, Timestamp::EARLIEST.0), Some(now));
        assert_eq!(Timestamp(i64::MAX) + Secs(i64::MAX), Timestamp(i64::MAX));
        assert_eq!(Timestamp(i64::MIN) - Secs(i64::MAX), Timestamp(i64::MIN));
        assert_eq!(Timestamp(i64::MAX).secs_since(Timestamp(i64::MIN)), Secs(i64::MAX / 1000));
        assert_eq!(Timestamp(i64::MAX).plus_ms(1), Timestamp(i64::MAX));
        assert_eq!(Secs::hours(i64::MAX), Secs(i64::MAX));
    }
}
