//! The deadline engine's copies of the team documents of the active shifts are bounded by bytes
//! (`alerts.teams_max_bytes`): past it, the teams due last are dropped and read again when a
//! shift of theirs is evaluated. Every missed check-in still raises its alert at its moment and
//! climbs its chain step by step, whether its team is held or not, and a policy edited while its
//! team is not held applies. On the manual clock: no sleeps.

use crate::common;
use common::*;
use kith_domain::{Role, Secs};
use kith_server::testing::{MANUAL_START_MS, TestServer};
use serde_json::{Value, json};

const T: i64 = MANUAL_START_MS;
const MIN: i64 = 60_000;
const TEAMS: usize = 6;
/// About two teams of two members.
const BUDGET: usize = 2000;

fn policy(grace_min: i64) -> Value {
    json!({"min_interval_s": 600, "max_interval_s": 7200, "default_interval_s": 1800, "grace_s": grace_min * 60,
        "reminder_lead_s": 300, "escalation": [{"after_s": 0, "notify": "worker"}, {"after_s": 300, "notify": "buddies"},
        {"after_s": 900, "notify": "leads"}]})
}

#[tokio::test]
async fn teams_dropped_from_memory_still_raise_and_climb_every_alert_on_time() {
    let server = TestServer::start_manual_with(|c| c.alerts.teams_max_bytes = BUDGET).await;
    let engine = &server.app().alerts;
    // Team i: a lead and a worker who checks in every 20 + 5i minutes: first deadlines at
    // +20 ... +45 min, each alert (after the 10 min grace) at +30 ... +55 min.
    let mut teams = Vec::new();
    for i in 0..TEAMS {
        let (team, lead_code) = server.create_team(&format!("Team {i}")).await;
        let lead = Dev::join(&server, &lead_code, &format!("L{i}")).await;
        assert_eq!(lead.put_json("/v1/team/policy", policy(10)).await.status(), 200);
        let mut worker = Dev::join(&server, &server.invite(team, Role::Member).await, &format!("W{i}")).await;
        let now = worker.device_now();
        let shift = worker.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(20 + 5 * i as i64), vec![]);
        worker.sync().await;
        teams.push((team, lead, worker, shift));
    }
    engine.settle().await.unwrap();
    let (held, bytes) = engine.held_teams().await;
    assert_eq!(engine.watched().await, TEAMS, "every active shift is watched");
    assert!(bytes <= BUDGET, "the held teams take {bytes} bytes, over the budget of {BUDGET}");
    assert!(held < TEAMS, "past the budget some teams are dropped ({held} of {TEAMS} held)");

    // The last team (due last: dropped first) gets a longer grace at +10 min, while it is not
    // held: its alert opens at +45 + 20 = +65 min.
    let last = TEAMS - 1;
    assert!(!engine.holds_team(teams[last].0).await, "the team due last is not held");
    server.clock().set(T + 10 * MIN);
    assert_eq!(teams[last].1.put_json("/v1/team/policy", policy(20)).await.status(), 200);
    engine.settle().await.unwrap();

    // Minute by minute to +90 min: every alert opens at its moment and fires its steps (worker
    // at once, buddies +5, leads +15) at theirs.
    for m in 11..=90 {
        server.clock().set(T + m * MIN);
        server.run_due().await;
        let (_, bytes) = engine.held_teams().await;
        assert!(bytes <= BUDGET, "at +{m} min the held teams take {bytes} bytes, over {BUDGET}");
    }
    for (i, (_, lead, worker, _)) in teams.iter().enumerate() {
        let name = format!("W{i}");
        let alerts = lead.open_alerts().await;
        assert_eq!(alerts.len(), 1, "one missed check-in alert in team {i}: {alerts:#?}");
        let opened = if i == last { T + 65 * MIN } else { T + (30 + 5 * i as i64) * MIN };
        assert_missed_checkin_climbed(&server, &alerts[0], &name, opened).await;
        assert_eq!(worker.open_alerts().await.len(), 1, "{name} sees their alert");
    }
    assert_eq!(engine.watched().await, TEAMS);
}
