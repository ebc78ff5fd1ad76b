//! Bad input gets a non-zero exit, a plain message on stderr that says what to do, nothing on
//! stdout, never a panic, and leaves the store exactly as it was.

use crate::common;

use common::Kith;

const T0: &str = "2026-11-27T09:00:00Z";
const LATER: &str = "2026-11-27T09:10:00Z";
const USAGE: i32 = 2;
const STATE: i32 = 3;

/// Runs `args` at `LATER`, expects it refused with `code` and `words`, and the store unchanged.
fn refused(k: &Kith, args: &[&str], code: i32, words: &[&str]) {
    let before = k.snapshot(LATER);
    k.fails(LATER, args, code, words);
    assert_eq!(k.snapshot(LATER), before, "kith {args:?} changed the store although it failed");
}

#[test]
fn bad_times_and_durations_when_starting_a_shift() {
    let k = Kith::with_profile(T0);
    let start = |until: &str, every: &str| -> Vec<String> {
        ["shift", "start", "--purpose", "Survey", "--until", until, "--every", every].map(String::from).to_vec()
    };
    let cases: &[(&str, &str, &[&str])] = &[
        ("25:99", "30m", &["'25:99' is not a time of day", "17:30"]),
        ("24:00", "30m", &["not a time of day"]),
        ("half five", "30m", &["'half five' is not a time", "+2h"]),
        ("+soon", "30m", &["not a duration"]),
        ("2026-11-27T08:00:00Z", "30m", &["not in the future"]),
        ("+90d", "30m", &["more than", "extend it later"]),
        ("17:30", "1s", &["every 1s is outside your team's policy", "15m", "4h"]),
        ("17:30", "9h", &["outside your team's policy"]),
        ("17:30", "often", &["'often' is not a duration", "30m"]),
        ("17:30", "30", &["not a duration"]),
    ];
    for (until, every, words) in cases {
        let args = start(until, every);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&k, &args, USAGE, words);
    }
    refused(&k, &["shift", "start", "--until", "17:30"], USAGE, &["--purpose"]);
    refused(&k, &["shift", "start", "--purpose", "Survey"], USAGE, &["--until"]);
    refused(&k, &["shift", "start", "--purpose", "Survey", "--until", "17:30", "--buddy", "bob"], USAGE, &["bob"]);
    let long = "x".repeat(400);
    refused(&k, &["shift", "start", "--purpose", &long, "--until", "17:30"], USAGE, &["purpose is too long"]);
}

#[test]
fn bad_check_ins() {
    let k = Kith::with_profile(T0);
    k.ok(T0, &["shift", "start", "--purpose", "Survey", "--until", "17:30"]);
    refused(&k, &["checkin", "--mood", "9"], USAGE, &["mood must be a whole number from 1 to 5, got 9"]);
    refused(&k, &["checkin", "--mood", "0"], USAGE, &["mood must be a whole number from 1 to 5"]);
    refused(&k, &["checkin", "--confidence", "-3"], USAGE, &["confidence must be a whole number from 1 to 5"]);
    refused(&k, &["checkin", "--mood", "great"], USAGE, &["mood must be a whole number from 1 to 5"]);
    refused(&k, &["checkin", "fine"], USAGE, &["'fine'", "ok", "support", "emergency"]);
    refused(&k, &["checkin", "--visibility", "leads"], USAGE, &["--note"]);
    refused(&k, &["checkin", "--visibility", "everyone", "--note", "x"], USAGE, &["everyone", "team", "leads"]);
    refused(&k, &["checkin", "--location", "precise"], USAGE, &["--lat", "--lon"]);
    refused(&k, &["checkin", "emergency", "--location", "precise"], USAGE, &["--lat", "YOUR EMERGENCY WAS NOT SAVED"]);
    refused(&k, &["checkin", "--lat", "51.5", "--lon", "0.1"], USAGE, &["--location coarse"]);
    refused(&k, &["checkin", "--location", "precise", "--lat", "123", "--lon", "0"], USAGE, &["not on Earth"]);
    refused(&k, &["checkin", "--location", "precise", "--lat", "NaN", "--lon", "0"], USAGE, &["not on Earth"]);
    let long = "x".repeat(3000);
    refused(&k, &["checkin", "--note", &long], USAGE, &["note is too long", "shorten it"]);
}

#[test]
fn bad_extensions_and_ends() {
    let k = Kith::with_profile(T0);
    refused(&k, &["extend", "--until", "18:00", "--reason", "late"], STATE, &["not on shift", "kith shift start"]);
    refused(&k, &["end"], STATE, &["not on shift"]);
    refused(&k, &["checkin"], STATE, &["not on shift", "kith shift start"]);

    k.ok(T0, &["shift", "start", "--purpose", "Survey", "--until", "17:30"]);
    refused(&k, &["extend", "--until", "99:00", "--reason", "late"], USAGE, &["not a time of day"]);
    refused(&k, &["extend", "--until", "18:00", "--reason", "   "], USAGE, &["--reason"]);
    refused(&k, &["extend", "--until", "18:00"], USAGE, &["--reason"]);
    refused(
        &k,
        &["shift", "start", "--purpose", "Another", "--until", "18:00"],
        STATE,
        &["already on shift", "kith end"],
    );
    let long = "n".repeat(400);
    refused(&k, &["end", "--note", &long], USAGE, &["too long"]);
}

#[test]
fn a_bad_clock_override_is_refused() {
    let k = Kith::with_profile(T0);
    let before = k.snapshot(LATER);
    let r = k.fails("tomorrow-ish", &["status"], USAGE, &["KITH_NOW='tomorrow-ish' is not a time"]);
    assert!(r.stderr.contains("RFC 3339"), "{}", r.stderr);
    k.fails("9223372036854775807", &["checkin", "emergency"], USAGE, &["KITH_NOW"]);
    assert_eq!(k.snapshot(LATER), before);
}

#[test]
fn unknown_commands_and_flags_are_usage_errors() {
    let k = Kith::with_profile(T0);
    k.fails(LATER, &["chekin"], USAGE, &["chekin"]);
    k.fails(LATER, &["status", "--colour"], USAGE, &["--colour"]);
    k.fails(LATER, &["init", "--name", "Bob", "--role", "boss"], USAGE, &["boss", "member", "lead"]);
}
