//! The app's write commands, from their `kith-api` inputs to the documents: the settings they
//! read (location precision, note visibility) and remember (last purpose, interval, ratings), and
//! the rules of [`crate::ops`]. The desktop app and the browser run exactly this.

use kith_api::Settings;
use kith_api::input::{CheckInInput, EndInput, ExtendInput, SaveSettingsInput, StartShiftInput};
use kith_domain::{AckId, CheckInId, CheckInStatus, Location, LocationPrecision, Secs, Shift, ShiftId, Timestamp};

use crate::error::OpError;
use crate::ops::{self, Warn};
use crate::profile::{self, Link, Profile};
use crate::repo::Repo;

/// Starts a shift; what is left out comes from the last shift, then the policy. The choices are
/// remembered for the next start-shift form (a failure there never undoes the shift).
pub fn start_shift<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    input: StartShiftInput,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<Shift, OpError<R::Error>> {
    let req = ops::StartShift {
        purpose: input.purpose.filter(|p| !p.trim().is_empty()),
        planned_end: input.planned_end,
        interval: input.interval_s.map(Secs),
        buddies: match input.buddies {
            None => ops::Buddies::FromLastShift,
            Some(b) if b.is_empty() => ops::Buddies::None,
            Some(b) => ops::Buddies::These(b),
        },
    };
    let started = ops::start_shift(repo, prof, req, now, warn)?;
    let old = profile::read_settings(repo).unwrap_or_default();
    let set = Settings {
        last_purpose: Some(started.shift.purpose.clone()),
        last_interval_s: Some(started.shift.interval.get()),
        buddies: started.shift.buddies.clone(),
        ..old.clone()
    };
    if set != old
        && let Err(e) = profile::write_settings(repo, &set)
    {
        warn(format!("could not remember this shift's choices: {e}"));
    }
    Ok(started.shift)
}

/// Checks in to the running shift ("I'm OK", "I'd like support", emergency). A call for help
/// without a shift starts one for it. The position is kept only at the precision the worker chose.
pub fn check_in<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    input: CheckInInput,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<(CheckInId, Shift), OpError<R::Error>> {
    let active = ops::find_active(repo, prof.member_id, warn)?;
    check_in_to(repo, prof, input, active, now, warn)
}

/// [`check_in`] to `active`, my running shift as the caller knows it ([`ops::check_in_to`]).
pub fn check_in_to<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    input: CheckInInput,
    active: Option<Shift>,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<(CheckInId, Shift), OpError<R::Error>> {
    let settings = profile::read_settings(repo).unwrap_or_default();
    let location = match (input.lat, input.lon) {
        (None, None) => None,
        (Some(lat), Some(lon)) => match settings.location_precision {
            // The worker chose to share no location: the position stays on the device.
            LocationPrecision::None => None,
            p => Location::shared(p, lat, lon).map_err(OpError::Domain)?,
        },
        _ => return Err(OpError::Invalid("a position needs both lat and lon".into())),
    };
    let visibility = input.note_visibility.unwrap_or(settings.note_visibility);
    let req = ops::NewCheckIn {
        status: input.status,
        mood: ops::rating(input.mood, "mood")?,
        confidence: ops::rating(input.confidence, "confidence")?,
        note: ops::note(input.note.as_deref(), visibility)?,
        location,
    };
    let checked = ops::check_in_to(repo, prof, active, req, now, warn)?;
    // Only when they changed: a check-in costs one write, not two.
    let set = Settings {
        last_mood: input.mood.or(settings.last_mood),
        last_confidence: input.confidence.or(settings.last_confidence),
        ..settings.clone()
    };
    if set != settings
        && let Err(e) = profile::write_settings(repo, &set)
    {
        warn(format!("could not remember the check-in's ratings: {e}"));
    }
    Ok((checked.checkin.id, checked.shift))
}

/// Moves the running shift's planned end, with a reason. Returns the shift as it is now.
pub fn extend_shift<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    input: ExtendInput,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<Shift, OpError<R::Error>> {
    let (before, _) = ops::extend(repo, prof, input.new_end, &input.reason, now, warn)?;
    ops::shift(repo, before.id)
}

/// Ends the running shift ("I'm done, all fine"). Returns the shift as it is now.
pub fn end_shift<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    input: EndInput,
    now: Timestamp,
    warn: Warn<'_>,
) -> Result<Shift, OpError<R::Error>> {
    let (before, _) = ops::end(repo, prof, input.note.as_deref(), now, warn)?;
    ops::shift(repo, before.id)
}

/// A lead's "seen", with an optional reply, on check-in `checkin` of shift `shift` held here.
pub fn ack<R: Repo>(
    repo: &mut R,
    prof: &Profile,
    link: Option<&Link>,
    shift: ShiftId,
    checkin: CheckInId,
    reply: Option<&str>,
    now: Timestamp,
) -> Result<(AckId, Shift), OpError<R::Error>> {
    ops::check_may_ack(repo, prof, link)?;
    let sh = ops::shift(repo, shift)
        .ok()
        .filter(|sh| sh.checkin(checkin).is_some())
        .ok_or(OpError::CheckInNotFound(checkin))?;
    let a = ops::ack(repo, prof, sh.id, checkin, reply, now)?;
    Ok((a.id, ops::shift(repo, sh.id)?))
}

/// Checks new settings: my own id is no buddy, ratings are 1 to 5.
pub fn check_settings<E>(prof: Option<&Profile>, input: &SaveSettingsInput) -> Result<(), OpError<E>> {
    let settings = &input.settings;
    if let Some(p) = prof
        && settings.buddies.contains(&p.member_id)
    {
        return Err(OpError::OwnBuddy(p.member_id));
    }
    if settings.last_mood.is_some_and(|m| !(1..=5).contains(&m))
        || settings.last_confidence.is_some_and(|m| !(1..=5).contains(&m))
    {
        return Err(OpError::Invalid("ratings are whole numbers from 1 to 5".into()));
    }
    Ok(())
}

/// Whether a failed check-in was an emergency: the front ends say that loudly.
pub fn is_emergency(input: &CheckInInput) -> bool {
    input.status == CheckInStatus::Emergency
}
