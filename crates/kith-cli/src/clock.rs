//! Reading and writing times the way a person types and reads them: `17:30`, `+2h`, `2h30m`,
//! RFC 3339; "in 25m", "12m ago". Pure functions: the current time is passed in.

use chrono::{DateTime, Local, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc};
use kith_domain::{Secs, Timestamp};

use crate::error::CliError;

/// Furthest ahead a planned end may be set: beyond that it is not a plan. Extend it later instead.
pub const MAX_PLANNED_AHEAD: Secs = Secs::hours(31 * 24);

const UNTIL_HELP: &str = "use a time of day like 17:30, a duration from now like +2h or 2h30m, \
                          or a date and time like 2026-11-27T17:30:00+01:00";

/// The current time from `KITH_NOW` (RFC 3339, or milliseconds since the Unix epoch), if set.
pub fn parse_now(value: &str) -> Result<Timestamp, CliError> {
    let v = value.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return checked(Timestamp(ms)).ok_or_else(|| bad_now(value));
    }
    DateTime::parse_from_rfc3339(v).map(|t| Timestamp(t.timestamp_millis())).map_err(|_| bad_now(value))
}

fn bad_now(value: &str) -> CliError {
    CliError::Usage(format!(
        "KITH_NOW='{value}' is not a time: set it to an RFC 3339 time like 2026-11-27T09:00:00Z or to \
         milliseconds since 1970, or unset it to use the real clock"
    ))
}

/// The real clock.
pub fn system_now() -> Timestamp {
    Timestamp(Utc::now().timestamp_millis())
}

/// `ts` if it can be shown as a date (chrono's range), else `None`.
fn checked(ts: Timestamp) -> Option<Timestamp> {
    DateTime::<Utc>::from_timestamp_millis(ts.millis()).map(|_| ts)
}

/// A planned end as the person typed it, resolved against `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Until {
    pub at: Timestamp,
    /// A time of day that had already passed today, so it was taken as tomorrow.
    pub rolled_to_tomorrow: bool,
}

/// Parses `--until`: `HH:MM` (today in `tz`; tomorrow if already past), `+2h` or `2h30m` from
/// now, `YYYY-MM-DD HH:MM` (in `tz`), or RFC 3339. The result is always after `now` and at
/// most [`MAX_PLANNED_AHEAD`] away.
pub fn parse_until<Tz: TimeZone>(input: &str, now: Timestamp, tz: &Tz) -> Result<Until, CliError>
where
    Tz::Offset: std::fmt::Display,
{
    let s = input.trim();
    let now_dt = to_datetime(now, tz).ok_or_else(|| CliError::Usage("the current time is out of range".to_string()))?;
    let until = if s.is_empty() {
        return Err(CliError::Usage(format!("--until needs a value: {UNTIL_HELP}")));
    } else if let Some(rest) = s.strip_prefix('+') {
        Until { at: add_duration(now, rest, input)?, rolled_to_tomorrow: false }
    } else if let Some((h, m)) = split_hh_mm(s) {
        let time = h
            .parse::<u32>()
            .ok()
            .zip(m.parse::<u32>().ok())
            .and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "'{input}' is not a time of day: hours go from 00 to 23 and minutes from 00 to 59 (e.g. 17:30)"
                ))
            })?;
        let today = now_dt.date_naive();
        let at = local_at(tz, today, time, input)?;
        if at > now {
            Until { at, rolled_to_tomorrow: false }
        } else {
            let tomorrow = today.succ_opt().ok_or_else(|| CliError::Usage("date out of range".into()))?;
            Until { at: local_at(tz, tomorrow, time, input)?, rolled_to_tomorrow: true }
        }
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        Until { at: Timestamp(t.timestamp_millis()), rolled_to_tomorrow: false }
    } else if let Some(naive) = parse_local_datetime(s) {
        Until { at: local_at(tz, naive.date(), naive.time(), input)?, rolled_to_tomorrow: false }
    } else if s.starts_with(|c: char| c.is_ascii_digit()) && humantime::parse_duration(s).is_ok() {
        Until { at: add_duration(now, s, input)?, rolled_to_tomorrow: false }
    } else {
        return Err(CliError::Usage(format!("'{input}' is not a time Kith understands: {UNTIL_HELP}")));
    };
    if until.at <= now {
        return Err(CliError::Usage(format!(
            "'{input}' is not in the future ({}): pick a later time",
            format_clock(until.at, now, tz)
        )));
    }
    if until.at > now + MAX_PLANNED_AHEAD {
        return Err(CliError::Usage(format!(
            "'{input}' is more than {} away: choose a nearer planned end, and extend it later if you need to",
            format_duration(MAX_PLANNED_AHEAD)
        )));
    }
    Ok(until)
}

/// Parses an interval like `30m`, `1h`, `1h30m` into whole seconds.
pub fn parse_interval(input: &str) -> Result<Secs, CliError> {
    let d = humantime::parse_duration(input.trim())
        .map_err(|_| CliError::Usage(format!("'{input}' is not a duration: write it like 30m, 1h or 1h30m")))?;
    let secs = i64::try_from(d.as_secs())
        .map_err(|_| CliError::Usage(format!("'{input}' is far too long for a check-in interval")))?;
    Ok(Secs(secs))
}

fn add_duration(now: Timestamp, text: &str, input: &str) -> Result<Timestamp, CliError> {
    let d = humantime::parse_duration(text.trim()).map_err(|_| {
        CliError::Usage(format!("'{input}' is not a duration from now: write it like +2h, +45m or 2h30m"))
    })?;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let at = now + Secs(secs);
    // Saturated or out of chrono's range: certainly too far ahead; the caller says so.
    Ok(checked(at).unwrap_or(now + MAX_PLANNED_AHEAD + Secs(1)))
}

/// `H:MM` or `HH:MM` (digits only), split into its parts.
fn split_hh_mm(s: &str) -> Option<(&str, &str)> {
    let (h, m) = s.split_once(':')?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    (digits(h) && digits(m) && h.len() <= 2 && m.len() == 2).then_some((h, m))
}

fn parse_local_datetime(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

fn local_at<Tz: TimeZone>(tz: &Tz, date: NaiveDate, time: NaiveTime, input: &str) -> Result<Timestamp, CliError> {
    match tz.from_local_datetime(&date.and_time(time)) {
        LocalResult::Single(t) => Ok(Timestamp(t.timestamp_millis())),
        // Clocks went back: the first of the two moments with that name.
        LocalResult::Ambiguous(first, _) => Ok(Timestamp(first.timestamp_millis())),
        LocalResult::None => Err(CliError::Usage(format!(
            "'{input}' does not exist on {date} here (the clocks change): pick another time"
        ))),
    }
}

/// `ts` in time zone `tz`, or `None` if out of chrono's range.
pub fn to_datetime<Tz: TimeZone>(ts: Timestamp, tz: &Tz) -> Option<DateTime<Tz>> {
    DateTime::<Utc>::from_timestamp_millis(ts.millis()).map(|t| t.with_timezone(tz))
}

/// `ts` for a person: `17:30` if on the same day as `now`, else `Sat 28 Nov 17:30`.
pub fn format_clock<Tz: TimeZone>(ts: Timestamp, now: Timestamp, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    match (to_datetime(ts, tz), to_datetime(now, tz)) {
        (Some(t), Some(n)) if t.date_naive() == n.date_naive() => t.format("%H:%M").to_string(),
        (Some(t), _) => t.format("%a %d %b %H:%M").to_string(),
        (None, _) => format!("{} ms since 1970", ts.millis()),
    }
}

/// [`format_clock`] in the local time zone.
pub fn clock(ts: Timestamp, now: Timestamp) -> String {
    format_clock(ts, now, &Local)
}

/// `ts` for machines: RFC 3339 in UTC (`2026-11-27T09:00:00Z`, milliseconds only if non-zero).
pub fn rfc3339(ts: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(ts.millis())
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ts.millis().to_string())
}

/// A span for a person: `45s`, `25m`, `2h`, `2h 05m`, `3d 4h`.
pub fn format_duration(span: Secs) -> String {
    let s = span.get().unsigned_abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        if h > 0 { format!("{d}d {h}h") } else { format!("{d}d") }
    } else if h > 0 {
        if m > 0 { format!("{h}h {m:02}m") } else { format!("{h}h") }
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// `in 25m`, `12m ago` or `now`.
pub fn relative(target: Timestamp, now: Timestamp) -> String {
    let span = target.secs_since(now);
    match span.get() {
        0 => "now".to_string(),
        x if x > 0 => format!("in {}", format_duration(span)),
        _ => format!("{} ago", format_duration(span)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(s: &str) -> Timestamp {
        Timestamp(DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).unwrap_or_default())
    }

    #[test]
    fn time_of_day_is_today_or_tomorrow() {
        let tz = FixedOffset::east_opt(3600).unwrap_or_else(|| unreachable!());
        let now = at("2026-11-27T09:00:00+01:00");
        let u = parse_until("17:30", now, &tz).ok();
        assert_eq!(u, Some(Until { at: at("2026-11-27T17:30:00+01:00"), rolled_to_tomorrow: false }));
        let u = parse_until("8:15", now, &tz).ok();
        assert_eq!(u, Some(Until { at: at("2026-11-28T08:15:00+01:00"), rolled_to_tomorrow: true }));
        // Exactly now is not in the future: tomorrow.
        let u = parse_until("09:00", now, &tz).ok();
        assert_eq!(u.map(|u| u.rolled_to_tomorrow), Some(true));
    }

    #[test]
    fn relative_and_absolute_forms() {
        let now = at("2026-11-27T09:00:00Z");
        let ok = |s: &str| parse_until(s, now, &Utc).map(|u| u.at).ok();
        assert_eq!(ok("+2h"), Some(at("2026-11-27T11:00:00Z")));
        assert_eq!(ok("2h30m"), Some(at("2026-11-27T11:30:00Z")));
        assert_eq!(ok("+45m"), Some(at("2026-11-27T09:45:00Z")));
        assert_eq!(ok("2026-11-27T18:00:00+01:00"), Some(at("2026-11-27T17:00:00Z")));
        assert_eq!(ok("2026-11-28 07:00"), Some(at("2026-11-28T07:00:00Z")));
    }

    #[test]
    fn nonsense_is_refused_with_a_hint() {
        let now = at("2026-11-27T09:00:00Z");
        for bad in [
            "25:99",
            "24:00",
            "12:60",
            "",
            "soon",
            "+",
            "+later",
            "17h30",
            "2026-11-27T08:00:00Z",
            "+0s",
            "+400d",
            "+99999999999999y",
        ] {
            match parse_until(bad, now, &Utc) {
                Err(CliError::Usage(msg)) => assert!(!msg.is_empty(), "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30m").ok(), Some(Secs(1800)));
        assert_eq!(parse_interval("1h30m").ok(), Some(Secs(5400)));
        assert!(parse_interval("30").is_err());
        assert!(parse_interval("often").is_err());
    }

    #[test]
    fn now_from_env() {
        assert_eq!(parse_now("1764234000000").ok(), Some(Timestamp(1_764_234_000_000)));
        assert_eq!(parse_now("2026-11-27T09:00:00Z").ok(), Some(at("2026-11-27T09:00:00Z")));
        assert!(parse_now("yesterday").is_err());
        assert!(parse_now("9223372036854775807").is_err());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Secs(45)), "45s");
        assert_eq!(format_duration(Secs(25 * 60)), "25m");
        assert_eq!(format_duration(Secs(7200)), "2h");
        assert_eq!(format_duration(Secs(7500)), "2h 05m");
        assert_eq!(format_duration(Secs(-7500)), "2h 05m");
        assert_eq!(format_duration(Secs(3 * 86_400 + 4 * 3600)), "3d 4h");
        let now = at("2026-11-27T09:00:00Z");
        assert_eq!(relative(now + Secs(600), now), "in 10m");
        assert_eq!(relative(now - Secs(600), now), "10m ago");
        assert_eq!(format_clock(now + Secs(600), now, &Utc), "09:10");
        assert_eq!(format_clock(now + Secs(86_400), now, &Utc), "Sat 28 Nov 09:00");
        assert_eq!(rfc3339(now), "2026-11-27T09:00:00Z");
    }
}
