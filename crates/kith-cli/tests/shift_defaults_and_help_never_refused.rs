//! Starting a shift takes sensible defaults from the last one; a time of day already past means
//! tomorrow (and says so); a call for help is never refused for want of a shift.

use crate::common;

use common::Kith;

const T0: &str = "2026-11-27T09:00:00Z";

#[test]
fn the_first_shift_takes_the_team_default_interval() {
    let k = Kith::with_profile(T0);
    let out = k.json(T0, &["shift", "start", "--purpose", "Survey", "--until", "17:00"]);
    assert_eq!(out["shift"]["interval_s"], 3600, "team policy default is 1h");
    assert_eq!(out["next_due"], "2026-11-27T10:00:00Z");
    assert_eq!(out["shared"], false);
    assert_eq!(out["defaults_from_last_shift"], serde_json::json!([]));
}

#[test]
fn the_next_shift_defaults_to_the_last_ones_purpose_interval_and_buddies() {
    let k = Kith::with_profile(T0);
    let buddy = "01900000-0000-7000-8000-000000000001";
    k.ok(T0, &["shift", "start", "--purpose", "Night patrol", "--until", "17:00", "--every", "45m", "--buddy", buddy]);
    k.ok("2026-11-27T17:00:00Z", &["end"]);

    let next = k.json("2026-11-28T09:00:00Z", &["shift", "start", "--until", "+4h"]);
    assert_eq!(next["shift"]["purpose"], "Night patrol");
    assert_eq!(next["shift"]["interval_s"], 2700);
    assert_eq!(next["shift"]["buddies"], serde_json::json!([buddy]));
    assert_eq!(next["buddies_not_on_roster"], serde_json::json!([buddy]));
    assert_eq!(next["defaults_from_last_shift"], serde_json::json!(["purpose", "check-in interval", "buddies"]));
    k.ok("2026-11-28T10:00:00Z", &["end"]);

    let human = k.ok("2026-11-28T11:00:00Z", &["shift", "start", "--until", "+1h", "--no-buddies"]);
    assert!(human.contains("From your last shift: purpose, check-in interval."), "{human}");
    assert_eq!(k.json("2026-11-28T11:00:00Z", &["status"])["shift"]["buddies"], serde_json::json!([]));
}

#[test]
fn a_time_of_day_already_past_means_tomorrow_and_says_so() {
    let k = Kith::with_profile(T0);
    let out = k.ok("2026-11-27T22:00:00Z", &["shift", "start", "--purpose", "Night shift", "--until", "06:00"]);
    assert!(out.contains("tomorrow"), "{out}");
    assert!(out.contains("Sat 28 Nov 06:00"), "{out}");
    let s = k.json("2026-11-27T22:00:00Z", &["status"]);
    assert_eq!(s["shift"]["planned_end"], "2026-11-28T06:00:00Z");
}

#[test]
fn the_local_time_zone_decides_what_17_30_means() {
    let k = Kith::with_profile(T0);
    let out = k
        .command(T0)
        .env("TZ", "UTC-2") // POSIX: two hours east of UTC
        .args(["--json", "shift", "start", "--purpose", "Survey", "--until", "17:30"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["shift"]["planned_end"], "2026-11-27T15:30:00Z");
}

#[test]
fn an_emergency_off_shift_is_saved_in_a_new_shift() {
    let k = Kith::with_profile(T0);
    let out = k.ok(T0, &["checkin", "emergency"]);
    assert!(out.contains("Nobody has been reached yet"), "{out}");
    assert!(out.contains("0800 123 456"), "the team's phone number is given: {out}");
    assert!(out.contains("Kith started one"), "{out}");
    let s = k.json(T0, &["status"]);
    assert_eq!(s["on_shift"], true);
    assert_eq!(s["board_status"], "emergency");
    assert_eq!(s["last_checkin"]["status"], "emergency");
}

#[test]
fn a_support_request_off_shift_is_saved_too_but_ok_is_not() {
    let k = Kith::with_profile(T0);
    k.fails(T0, &["checkin", "ok"], 3, &["not on shift"]);
    let v = k.json(T0, &["checkin", "support", "--note", "rough visit"]);
    assert_eq!(v["started_shift_for_this"], true);
    assert_eq!(v["checkin"]["status"], "support");
    assert_eq!(v["shared"], false);
    assert!(v["advice"].as_str().unwrap_or_default().contains("Nobody knows yet"));
}

#[test]
fn a_buddy_cannot_be_yourself() {
    let k = Kith::with_profile(T0);
    let me = k.json(T0, &["status"])["member_id"].as_str().unwrap_or_default().to_string();
    k.fails(T0, &["shift", "start", "--purpose", "x", "--until", "17:00", "--buddy", &me], 2, &["your own buddy"]);
}
