//! The live channel has a channel per team: an event of one team wakes that team's streams only
//! (one broadcast for the whole server woke every open stream of every team for each event), and
//! a revocation, whose team is not at hand, reaches every team's streams.

use kith_domain::{DeviceId, MemberId, TeamId, Timestamp};
use kith_server::live::{Kudos, LiveEvent, LiveHub};
use tokio::sync::broadcast::error::TryRecvError;

#[test]
fn an_event_reaches_only_its_own_teams_receivers() {
    let hub = LiveHub::new();
    let (a, b) = (TeamId::new(), TeamId::new());
    let mut in_a = hub.subscribe(a);
    let mut in_b = hub.subscribe(b);
    let kudos = Kudos { from: MemberId::new(), from_name: "Sam".into(), to: MemberId::new(), at: Timestamp(0) };
    hub.kudos(a, kudos);
    assert!(matches!(&*in_a.try_recv().unwrap(), LiveEvent::Kudos { team, .. } if *team == a));
    assert!(matches!(in_b.try_recv(), Err(TryRecvError::Empty)), "team b's streams are not woken");

    let device = DeviceId::new();
    hub.publish(LiveEvent::Revoked { device });
    for rx in [&mut in_a, &mut in_b] {
        assert!(matches!(&*rx.try_recv().unwrap(), LiveEvent::Revoked { device: d } if *d == device));
    }
}
