//! `--json` prints one JSON document per command with the field names scripts rely on.

use crate::common;

use common::Kith;
use serde_json::Value;

const T0: &str = "2026-11-27T09:00:00Z";

fn has(v: &Value, fields: &[&str]) {
    for f in fields {
        assert!(v.get(f).is_some(), "missing field {f:?} in {v:#}");
    }
}

#[test]
fn every_command_prints_the_documented_fields() {
    let k = Kith::new();
    let init = k.json(T0, &["init", "--name", "Alice", "--role", "lead"]);
    has(&init, &["member_id", "device_id", "team_id", "name", "team_name", "role", "data_dir"]);
    assert_eq!(init["role"], "lead");

    let start = k.json(T0, &["shift", "start", "--purpose", "Survey", "--until", "17:30", "--every", "30m"]);
    has(&start, &["shift", "next_due", "planned_end_is_tomorrow", "defaults_from_last_shift", "saved_at", "shared"]);
    has(
        &start["shift"],
        &[
            "id",
            "team_id",
            "purpose",
            "started_at",
            "planned_end",
            "initial_end",
            "interval_s",
            "buddies",
            "active",
            "ended",
        ],
    );
    assert_eq!(start["shift"]["started_at"], T0);

    let ci = k.json("2026-11-27T09:15:00Z", &["checkin", "--mood", "5"]);
    has(&ci, &["checkin", "shift_id", "next_due", "saved_at", "shared", "advice", "started_shift_for_this"]);
    has(&ci["checkin"], &["id", "at", "status", "mood", "confidence", "note", "note_visibility", "location"]);

    let st = k.json("2026-11-27T09:16:00Z", &["status"]);
    has(
        &st,
        &[
            "member_id",
            "name",
            "team_id",
            "team_name",
            "now",
            "on_shift",
            "board_status",
            "shift",
            "due",
            "last_checkin",
            "unsynced_changes",
            "server",
        ],
    );
    has(
        &st["due"],
        &["state", "reason", "next_due", "seconds_to_next_due", "overdue_at", "planned_end", "seconds_to_planned_end"],
    );
    assert!(st["unsynced_changes"].as_u64().unwrap_or_default() >= 3, "team, shift, check-in: {st}");

    let ext = k.json("2026-11-27T09:20:00Z", &["extend", "--until", "18:00", "--reason", "more meters"]);
    has(&ext, &["shift_id", "extension", "previous_end", "planned_end", "saved_at", "shared"]);
    has(&ext["extension"], &["id", "at", "new_end", "reason"]);

    let end = k.json("2026-11-27T17:50:00Z", &["end"]);
    has(&end, &["shift_id", "ended_at", "note", "planned_end", "seconds_after_planned_end", "saved_at", "shared"]);
    assert_eq!(end["seconds_after_planned_end"], -600);

    let log = k.json("2026-11-27T17:50:00Z", &["log", "--all"]);
    has(&log["shifts"][0], &["id", "purpose", "checkins", "extensions", "acks", "ended", "active"]);
}

#[test]
fn errors_are_json_on_stderr_with_json() {
    let k = Kith::new();
    let r = k.run(T0, &["--json", "status"]);
    assert_eq!(r.code, 3);
    assert!(r.stdout.is_empty());
    let v: Value = serde_json::from_str(r.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    assert_eq!(v["error"]["kind"], "no_profile");
    assert_eq!(v["error"]["exit_code"], 3);
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("kith init --name"));
}
