//! A check-in writes its one new entry and never reads the shift document back (its cost must
//! not grow with the shift): the shift it returns is the one a read of the document gives, check-in
//! order included (device time, then id), also for check-ins made in the same millisecond.

use kith_core::ops::{self, NewCheckIn};
use kith_core::{MemRepo, Profile, Repo, RepoError};
use kith_domain::doc::{shift, team};
use kith_domain::{CheckInStatus, DeviceId, Member, MemberId, Policy, Role, Shift, Team, TeamId, Timestamp};

const T0: i64 = 1_772_438_400_000;

fn device() -> (MemRepo, Profile) {
    let profile = Profile {
        version: 1,
        member_id: MemberId::new(),
        device_id: DeviceId::new(),
        team_id: TeamId::new(),
        name: "Alice Field".into(),
        created_at: Timestamp(T0),
    };
    let mut repo = MemRepo::new();
    let t = Team {
        id: profile.team_id,
        name: "North estate".into(),
        purpose: String::new(),
        phone: None,
        policy: Policy::default(),
        members: vec![Member::new(profile.member_id, "Alice Field", Role::Member)],
    };
    repo.create_doc(profile.team_id.uuid(), "team", |tx| {
        team::init(tx, &t).map_err(|e| RepoError::Damaged(e.to_string()))
    })
    .unwrap();
    (repo, profile)
}

fn ok() -> NewCheckIn {
    NewCheckIn { status: CheckInStatus::Ok, mood: None, confidence: None, note: None, location: None }
}

#[test]
fn a_checkin_is_written_without_reading_the_shift_back() {
    let (mut repo, alice) = device();
    let s = Shift::begin(
        alice.team_id,
        alice.member_id,
        "Visits",
        Timestamp(T0),
        Timestamp(T0 + 8 * 3_600_000),
        kith_domain::Secs(3600),
    );
    repo.create_doc(s.id.uuid(), "shift", |tx| shift::init(tx, &s).map_err(|e| RepoError::Damaged(e.to_string())))
        .unwrap();
    let mut current = s;
    // Three in the same millisecond, then one earlier on a device clock that went back.
    for now in [T0 + 60_000, T0 + 60_000, T0 + 60_000, T0 + 30_000] {
        let checked = ops::check_in_to(&mut repo, &alice, Some(current), ok(), Timestamp(now), &mut |_| {}).unwrap();
        let read = shift::read(repo.doc(checked.shift.id.uuid()).unwrap()).unwrap();
        assert_eq!(checked.shift, read, "the returned shift is what a read gives");
        current = checked.shift;
    }
    assert_eq!(current.checkins.len(), 4);

    // Without a running shift, a call for help starts one, and that shift comes back too.
    let (mut repo, alice) = device();
    let mut help = ok();
    help.status = CheckInStatus::Emergency;
    let checked = ops::check_in_to(&mut repo, &alice, None, help, Timestamp(T0), &mut |_| {}).unwrap();
    assert!(checked.auto_started);
    assert_eq!(checked.shift, shift::read(repo.doc(checked.shift.id.uuid()).unwrap()).unwrap());
}
