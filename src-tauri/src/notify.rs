//! Desktop notifications: reminders before a check-in or the planned end is due (fired by the
//! app's own timer, so they work offline), live alerts, and waves. The wording is here, apart from
//! the plumbing, so it can be tested without a desktop.

use chrono::{Local, TimeZone};
use kith_api::{AlertEvent, Kudos, ReminderView};
use kith_domain::rules::DueReason;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

/// "14:30" in this device's time zone.
fn clock(ms: i64) -> String {
    match Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.format("%H:%M").to_string(),
        chrono::LocalResult::None => String::new(),
    }
}

/// Title and body of a reminder.
pub fn reminder_text(r: &ReminderView) -> (String, String) {
    let at = clock(r.deadline_ms.0);
    match r.reason {
        DueReason::CheckIn => (
            "Check-in due soon".to_string(),
            format!("Your next check-in is due at {at}. One tap on \"I'm OK\" lets your team know."),
        ),
        DueReason::PlannedEnd => (
            "Your planned end is near".to_string(),
            format!("Your shift is planned to end at {at}. End it when you are done, or extend it."),
        ),
    }
}

/// Title and body for a live alert event (`{action, notify, step, alert}`), or `None` when it
/// needs no notification (claims and resolutions show in the app).
pub fn alert_text(event: &AlertEvent, me: Option<uuid::Uuid>) -> Option<(String, String)> {
    if event.action != "step" {
        return None;
    }
    let alert = &event.alert;
    let name = &alert.worker_name;
    if me == Some(alert.worker) {
        return Some((
            "Your team has not heard from you".to_string(),
            "A check-in or the end of your shift is overdue. Check in now so your team knows you are OK.".to_string(),
        ));
    }
    let title = match alert.kind.as_str() {
        "emergency" => format!("EMERGENCY: {name}"),
        "support" => format!("{name} would like support"),
        "missed_checkin" => format!("{name} missed a check-in"),
        "past_planned_end" => format!("{name} is past their planned end"),
        _ => format!("Alert about {name}"),
    };
    let owner = match &alert.claimed_by_name {
        Some(who) => format!("{who} owns it."),
        None => "Nobody owns it yet: open Kith to claim it.".to_string(),
    };
    Some((title, owner))
}

/// Title and body for a wave.
pub fn kudos_text(k: &Kudos) -> (String, String) {
    (format!("{} waved at you", k.from_name), "A teammate is thinking of you.".to_string())
}

pub fn show<R: Runtime>(app: &AppHandle<R>, (title, body): (String, String)) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("could not show a notification: {e}");
    }
}

pub fn reminder<R: Runtime>(app: &AppHandle<R>, r: &ReminderView) {
    show(app, reminder_text(r));
}

pub fn alert<R: Runtime>(app: &AppHandle<R>, event: &AlertEvent) {
    let me = app.try_state::<crate::desktop::Me>().and_then(|m| m.get());
    if let Some(text) = alert_text(event, me) {
        show(app, text);
    }
}

pub fn kudos<R: Runtime>(app: &AppHandle<R>, k: &Kudos) {
    show(app, kudos_text(k));
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_domain::{MemberId, ShiftId, Timestamp};

    #[test]
    fn reminders_say_what_is_due_and_what_to_do() {
        let r = ReminderView {
            shift: ShiftId::new(),
            reason: DueReason::CheckIn,
            at_ms: Timestamp(1_000),
            deadline_ms: Timestamp(301_000),
        };
        let (title, body) = reminder_text(&r);
        assert_eq!(title, "Check-in due soon");
        assert!(body.contains("I'm OK"), "{body}");
        let end = ReminderView { reason: DueReason::PlannedEnd, ..r };
        assert!(reminder_text(&end).1.contains("extend"));
    }

    #[test]
    fn alert_steps_notify_and_claims_do_not() {
        let me = uuid::Uuid::now_v7();
        let other = uuid::Uuid::now_v7();
        let ev = |action: &str, worker: uuid::Uuid| -> AlertEvent {
            // What the server sends, without the optional fields.
            serde_json::from_value(serde_json::json!({"action": action, "notify": "leads", "step": 1, "alert": {
                "id": worker, "kind": "emergency", "urgent": true, "state": "open", "team": worker, "shift": worker,
                "worker": worker, "worker_name": "Alice Field", "opened_at": 0, "steps_fired": 1,
                "notified": ["leads"], "late_checkin": false}}))
            .unwrap()
        };
        let (title, body) = alert_text(&ev("step", other), Some(me)).unwrap();
        assert_eq!(title, "EMERGENCY: Alice Field");
        assert!(body.contains("claim"));
        assert!(alert_text(&ev("claimed", other), Some(me)).is_none());
        let (mine, _) = alert_text(&ev("step", me), Some(me)).unwrap();
        assert!(mine.contains("not heard from you"));
        let k = Kudos { from: MemberId::new(), from_name: "Lee".into(), to: MemberId::new(), at: Timestamp(0) };
        assert_eq!(kudos_text(&k).0, "Lee waved at you");
    }
}
