//! A whole shift on one device with no server: init, start, check in with every status, watch the
//! due state move as the clock advances, extend, end, and read the history back.

use crate::common;

use common::Kith;

const T0: &str = "2026-11-27T09:00:00Z";

#[test]
fn a_whole_shift_works_offline_and_says_it_is_not_shared() {
    let k = Kith::new();
    let init = k.ok(T0, &["init", "--name", "Alice", "--team", "Night shift", "--role", "lead"]);
    assert!(init.contains("Alice") && init.contains("Night shift"), "{init}");
    assert!(k.db().exists());

    let start = k.ok(T0, &["shift", "start", "--purpose", "Meter readings", "--until", "17:30", "--every", "30m"]);
    assert!(start.contains("Meter readings"), "{start}");
    assert!(start.contains("09:30"), "first check-in due one interval after the start: {start}");
    assert!(start.contains("17:30"), "{start}");
    assert!(start.contains("Not yet shared"), "{start}");

    // Fine until the reminder lead (5m) before the due time.
    let s = k.json("2026-11-27T09:20:00Z", &["status"]);
    assert_eq!(s["on_shift"], true);
    assert_eq!(s["due"]["state"], "fine");
    assert_eq!(s["due"]["next_due"], "2026-11-27T09:30:00Z");
    assert_eq!(s["due"]["seconds_to_next_due"], 600);
    assert_eq!(s["due"]["planned_end"], "2026-11-27T17:30:00Z");
    assert_eq!(s["shift"]["purpose"], "Meter readings");
    assert_eq!(s["shift"]["interval_s"], 1800);
    assert!(s["last_checkin"].is_null());

    let ok = k.ok(
        "2026-11-27T09:28:00Z",
        &["checkin", "--mood", "4", "--confidence", "3", "--note", "all quiet", "--visibility", "leads"],
    );
    assert!(ok.contains("Saved on this device at 09:28"), "{ok}");
    assert!(ok.contains("Not yet shared with your team"), "{ok}");
    assert!(ok.contains("09:58"), "next due moves to one interval after the check-in: {ok}");

    let support = k.ok(
        "2026-11-27T09:50:00Z",
        &["checkin", "support", "--location", "coarse", "--lat", "51.50722", "--lon", "-0.12750"],
    );
    assert!(support.contains("Support request"), "{support}");
    assert!(support.contains("Nobody knows yet"), "{support}");

    let emergency = k.ok("2026-11-27T10:00:00Z", &["checkin", "emergency", "--note", "fell, ankle"]);
    assert!(emergency.contains("EMERGENCY"), "{emergency}");
    assert!(emergency.contains("Nobody has been reached yet"), "{emergency}");
    assert!(emergency.contains("phone"), "{emergency}");
    assert!(emergency.contains("emergency services"), "{emergency}");

    let s = k.json("2026-11-27T10:01:00Z", &["status"]);
    assert_eq!(s["board_status"], "emergency");
    assert_eq!(s["last_checkin"]["status"], "emergency");
    let human = k.ok("2026-11-27T10:01:00Z", &["status"]);
    assert!(human.contains("has not reached anyone"), "{human}");

    k.ok("2026-11-27T10:05:00Z", &["checkin", "ok", "--note", "false alarm, all fine"]);

    let ext = k.ok("2026-11-27T17:00:00Z", &["extend", "--until", "18:30", "--reason", "traffic on the ring road"]);
    assert!(ext.contains("17:30") && ext.contains("18:30"), "{ext}");
    let s = k.json("2026-11-27T17:00:00Z", &["status"]);
    assert_eq!(s["due"]["planned_end"], "2026-11-27T18:30:00Z");
    assert_eq!(s["shift"]["initial_end"], "2026-11-27T17:30:00Z");

    let end = k.ok("2026-11-27T18:10:00Z", &["end", "--note", "home safe"]);
    assert!(end.contains("ended at 18:10"), "{end}");
    let s = k.json("2026-11-27T18:11:00Z", &["status"]);
    assert_eq!(s["on_shift"], false);
    assert_eq!(s["board_status"], "off_shift");
    assert!(s["due"].is_null());
    assert_eq!(s["shift"]["ended"]["at"], "2026-11-27T18:10:00Z");
    assert_eq!(s["shift"]["ended"]["note"], "home safe");

    // The history, for machines.
    let log = k.json("2026-11-27T18:11:00Z", &["log"]);
    let shifts = log["shifts"].as_array().cloned().unwrap_or_default();
    assert_eq!(shifts.len(), 1);
    let sh = &shifts[0];
    let statuses: Vec<&str> =
        sh["checkins"].as_array().into_iter().flatten().filter_map(|c| c["status"].as_str()).collect();
    assert_eq!(statuses, ["ok", "support", "emergency", "ok"]);
    let first = &sh["checkins"][0];
    assert_eq!(first["at"], "2026-11-27T09:28:00Z");
    assert_eq!(first["mood"], 4);
    assert_eq!(first["confidence"], 3);
    assert_eq!(first["note"], "all quiet");
    assert_eq!(first["note_visibility"], "leads");
    assert!(first["location"].is_null());
    // Coarse location is rounded on this device: the precise point is never stored.
    assert_eq!(sh["checkins"][1]["location"]["precision"], "coarse");
    assert_eq!(sh["checkins"][1]["location"]["lat"], 51.51);
    assert_eq!(sh["checkins"][1]["location"]["lon"], -0.13);
    assert_eq!(sh["extensions"][0]["reason"], "traffic on the ring road");
    assert_eq!(sh["extensions"][0]["new_end"], "2026-11-27T18:30:00Z");
    assert_eq!(sh["ended"]["at"], "2026-11-27T18:10:00Z");

    // The history, for people: in time order, every event.
    let human = k.ok("2026-11-27T18:11:00Z", &["log"]);
    let order = ["started", "all quiet", "support", "EMERGENCY", "false alarm", "extended to 18:30", "ended"];
    let mut at = 0;
    for word in order {
        let found = human[at..].find(word).unwrap_or_else(|| panic!("log lacks {word:?} after byte {at}: {human}"));
        at += found + word.len();
    }
}

#[test]
fn status_moves_from_fine_to_due_soon_to_overdue_as_time_passes() {
    let k = Kith::with_profile(T0);
    k.ok(T0, &["shift", "start", "--purpose", "Site survey", "--until", "+3h", "--every", "1h"]);
    let state = |now: &str| k.json(now, &["status"])["due"]["state"].as_str().unwrap_or_default().to_string();

    // Team default policy: reminder 5m before due, overdue 10m after due.
    assert_eq!(state("2026-11-27T09:54:59Z"), "fine");
    assert_eq!(state("2026-11-27T09:55:00Z"), "due_soon");
    assert_eq!(state("2026-11-27T10:09:59Z"), "due_soon", "within grace it is not yet overdue");
    // Overdue from due plus grace, inclusive: the moment the server's deadline engine alerts.
    assert_eq!(state("2026-11-27T10:10:00Z"), "overdue");

    let human = k.ok("2026-11-27T10:30:00Z", &["status"]);
    assert!(human.contains("OVERDUE"), "{human}");
    assert!(human.contains("30m ago"), "{human}");
    assert!(human.contains("kith checkin"), "{human}");

    // A check-in (even a late one) makes the next check-in due one interval later.
    k.ok("2026-11-27T10:30:00Z", &["checkin"]);
    let s = k.json("2026-11-27T10:31:00Z", &["status"]);
    assert_eq!(s["due"]["state"], "fine");
    assert_eq!(s["due"]["next_due"], "2026-11-27T11:30:00Z");

    // The planned end (12:00) decides once it comes before the next check-in.
    k.ok("2026-11-27T11:20:00Z", &["checkin"]);
    let s = k.json("2026-11-27T11:56:00Z", &["status"]);
    assert_eq!(s["due"]["state"], "due_soon");
    assert_eq!(s["due"]["reason"], "planned_end");
    let s = k.json("2026-11-27T12:11:00Z", &["status"]);
    assert_eq!(s["due"]["state"], "overdue");
    assert_eq!(s["due"]["reason"], "planned_end");
    assert!(s["due"]["seconds_to_planned_end"].as_i64().unwrap_or_default() < 0);
    let human = k.ok("2026-11-27T12:11:00Z", &["status"]);
    assert!(human.contains("past your planned end"), "{human}");
    assert!(human.contains("kith end") && human.contains("kith extend"), "{human}");

    // Extending clears it.
    k.ok("2026-11-27T12:11:00Z", &["extend", "--until", "+1h", "--reason", "job overran"]);
    assert_eq!(state("2026-11-27T12:12:00Z"), "fine");
}

#[test]
fn log_all_lists_every_shift_and_log_shows_the_latest() {
    let k = Kith::with_profile(T0);
    k.ok(T0, &["shift", "start", "--purpose", "Morning round", "--until", "12:00"]);
    k.ok("2026-11-27T10:00:00Z", &["checkin", "--note", "first"]);
    k.ok("2026-11-27T12:00:00Z", &["end"]);
    k.ok("2026-11-27T13:00:00Z", &["shift", "start", "--purpose", "Afternoon round", "--until", "17:00"]);
    k.ok("2026-11-27T13:30:00Z", &["checkin", "--note", "second"]);

    let latest = k.json("2026-11-27T14:00:00Z", &["log"]);
    assert_eq!(latest["shifts"].as_array().map(Vec::len), Some(1));
    assert_eq!(latest["shifts"][0]["purpose"], "Afternoon round");

    let all = k.json("2026-11-27T14:00:00Z", &["log", "--all"]);
    let purposes: Vec<&str> =
        all["shifts"].as_array().into_iter().flatten().filter_map(|s| s["purpose"].as_str()).collect();
    assert_eq!(purposes, ["Morning round", "Afternoon round"]);
    assert_eq!(all["shifts"][0]["active"], false);
    assert_eq!(all["shifts"][1]["active"], true);

    let human = k.ok("2026-11-27T14:00:00Z", &["log", "--all"]);
    assert!(human.contains("Morning round") && human.contains("Afternoon round"), "{human}");
    assert!(human.find("first") < human.find("second"), "{human}");
}
